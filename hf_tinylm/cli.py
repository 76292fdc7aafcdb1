"""The ``tinylm`` command line."""

import argparse
import sys


def _demo(args) -> int:
    """Build the original baseline model, save it, reload it through AutoModelForCausalLM, and generate."""
    import time

    import torch
    from transformers import AutoModelForCausalLM

    from . import model_from_stlm
    from .model_card import count_parameters
    from .presets import STLM_BASELINE

    torch.manual_seed(args.seed)
    model = model_from_stlm(STLM_BASELINE)  # with GPT-2's tokenizer attached
    config = model.config
    n_params = count_parameters(model)["total"]
    print(f"built the STLM baseline: {n_params / 1e6:.1f}M parameters "
          f"({config.num_hidden_layers} layers, hidden {config.hidden_size}, "
          f"{config.num_attention_heads} heads / {config.num_key_value_heads} key-value heads, "
          f"{config.positional_encoding_type}, {config.core['ffn']['ffn_type']})")
    tokenizer = model.tokenizer
    model.save_pretrained(args.out)  # the tokenizer too, beside the weights
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinylm", description="Composable super-tiny language models.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="build the STLM baseline, save, reload with AutoModelForCausalLM, generate")
    demo.add_argument("--out", default="out/stlm-baseline", help="folder to save the model in")
    demo.add_argument("--prompt", default="Once upon a time")
    demo.add_argument("--max-new-tokens", type=int, default=32)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_demo)

    from .compare.cli import add_compare_subparser
    from .generation.cli import add_generate_subparser
    from .training.cli import add_train_subparser

    add_generate_subparser(commands)
    add_train_subparser(commands)
    add_compare_subparser(commands)

    try:
        from tokenizers_ext.cli import add_tokenizer_subparser
    except ImportError:
        pass
    else:
        add_tokenizer_subparser(commands)
    try:
        from conversion.cli import add_convert_subparser
    except ImportError:
        pass
    else:
        add_convert_subparser(commands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"tinylm {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
