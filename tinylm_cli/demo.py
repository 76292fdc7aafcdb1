"""``tinylm demo``: build the original STLM baseline, save it, reload it through AutoModelForCausalLM, generate."""

from .arguments import bounded, non_negative_int, utf8_text


def add_demo_subparser(commands):
    parser = commands.add_parser(
        "demo", help="build the STLM baseline, save, reload with AutoModelForCausalLM, generate"
    )
    parser.add_argument("--out", default="out/stlm-baseline",
                        help="folder to save the model in (must not exist, unless --force); written into a hidden "
                             "staging folder beside it and renamed into place only when complete")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT if it exists (the old folder stays until the new one is complete)")
    parser.add_argument("--prompt", default="Once upon a time", type=utf8_text)
    parser.add_argument("--max-new-tokens", type=non_negative_int, default=32)
    parser.add_argument("--seed", type=bounded(int), default=0)
    parser.set_defaults(handler=run_demo)
    return parser


def run_demo(args) -> int:
    import time

    from tokenizers_ext.atomic_files import atomic_output_dir, check_output_dir

    check_output_dir(args.out, args.force)  # refuse an existing OUT (or a file) before the slow part
    import torch
    from transformers import AutoModelForCausalLM

    from hf_tinylm import model_from_stlm
    from hf_tinylm.presets import STLM_BASELINE

    torch.manual_seed(args.seed)
    model = model_from_stlm(STLM_BASELINE)  # with GPT-2's tokenizer attached
    config = model.config
    n_params = model.num_parameters()  # shared and tied tensors once
    print(f"built the STLM baseline: {n_params / 1e6:.1f}M parameters "
          f"({config.num_hidden_layers} layers, hidden {config.hidden_size}, "
          f"{config.num_attention_heads} heads / {config.num_key_value_heads} key-value heads, "
          f"{config.positional_encoding_type}, {config.core['ffn']['ffn_type']})")
    tokenizer = model.tokenizer
    with atomic_output_dir(args.out, args.force) as staging:
        model.save_pretrained(staging)  # the tokenizer too, beside the weights
    print(f"saved to {args.out}")

    reloaded = AutoModelForCausalLM.from_pretrained(args.out).eval()
    ids = torch.randint(0, config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        same = torch.equal(model.eval()(ids).logits, reloaded(ids).logits)
    print(f"reloaded with AutoModelForCausalLM ({type(reloaded).__name__}); logits identical: {same}")
    if not same:
        return 1

    prompt_ids = tokenizer(args.prompt, return_tensors="pt").input_ids if tokenizer is not None else ids[:, :4]
    start = time.perf_counter()
    with torch.no_grad():
        output = reloaded.generate(
            prompt_ids, max_new_tokens=args.max_new_tokens, do_sample=True, top_k=50, pad_token_id=config.eos_token_id
        )
    elapsed = time.perf_counter() - start
    new_tokens = output.shape[1] - prompt_ids.shape[1]
    text = tokenizer.decode(output[0]) if tokenizer is not None else str(output[0].tolist())
    print(f"generated {new_tokens} tokens in {elapsed:.2f}s ({new_tokens / elapsed:.1f} tokens/s, untrained weights):")
    print(text)
    return 0
