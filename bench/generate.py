"""Greedy generation speed: TinyLM on our decoding loop vs ``LlamaForCausalLM.generate`` holding the same weights.

For each model (L: 18.9M, S: 4.1M), dtype and batch size, one run times, interleaved and repeated:

- ``ours``: ``GreedyGenerator(tinylm).generate_ids`` (static KV cache, eager);
- ``ours, F.linear products``: the same with ``ThreadedLinear``'s split products off (hf_tinylm/modeling/linear.py);
- ``ours compiled`` (``--compile``): the same with the one-token step compiled by ``torch.compile``;
- ``ours max-autotune`` (``--compile``): compiled with ``compile="max-autotune"`` (weights frozen into the step,
  inductor's CPU matrix kernels chosen by timing);
- ``Llama.generate``: transformers' Llama with TinyLM's weights copied in, ``generate(do_sample=False)``;
- ``TinyLM.generate``: our model under transformers' ``generate`` (which gives it our ``StaticKVCache``).

The token ids of the eager methods are asserted identical (same weights, same arithmetic); the compiled
loops' ids are compared and reported. Each figure is also
given as a fraction of the weight-streaming limit: a decoding step reads every weight once, so at most
``batch × bandwidth / weight bytes`` tokens/s, with the bandwidth of a large tensor copy measured in the same run.

    python bench/generate.py             # the full table (a few minutes on 2 cores)
    python bench/generate.py --compile   # plus the compiled loops (both compile modes)
    python bench/generate.py --compile --compile-modes max-autotune   # only one of them
    python bench/generate.py --quick     # smoke run
"""

import argparse
import os
import platform
import statistics
import sys
import time

import torch
from tqdm import tqdm

# Run as a script, Python puts bench/ first on the path, where a module may shadow a package (bench/tokenizers.py
# shadows `tokenizers`): look up the repository root instead.
_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [path for path in sys.path if os.path.abspath(path or ".") != _BENCH_DIR]
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import transformers  # noqa: E402

from conversion.llama import to_llama  # noqa: E402
from hf_tinylm import TinyLMConfig, TinyLMForCausalLM  # noqa: E402
from hf_tinylm.generation import GreedyGenerator  # noqa: E402
from hf_tinylm.generation.decoding import COMPILE_MODES  # noqa: E402
from hf_tinylm.modeling import linear  # noqa: E402

try:  # the decoding loop before issue 13, kept while the two are compared
    from bench.legacy_static_decoder import LegacyStaticCacheDecoder  # noqa: E402
except ImportError:
    LegacyStaticCacheDecoder = None

# The two shapes: Llama-like TinyLMs (rope, RMSNorm, SwiGLU, grouped-query attention, tied embeddings).
MODELS = {
    "L": dict(num_layers=8, vocab_size=50257),  # 18.9M parameters
    "S": dict(num_layers=4, vocab_size=4096),  # 4.1M parameters
}
PROMPT_LENGTH = 16


def tinylm_config(num_layers: int, vocab_size: int, hidden_size: int = 256, max_positions: int = 2048) -> TinyLMConfig:
    return TinyLMConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        max_position_embeddings=max_positions,
        positional_encoding_type="rope",
        core={
            "core_type": "generic",
            "num_layers": num_layers,
            "attention": {"num_heads": 8, "group_size": 4, "normalization": "rms_norm", "bias": False},
            "ffn": {"ffn_type": "swiglu", "ffn_dim": 3 * hidden_size, "normalization": "rms_norm", "bias": False},
        },
        head={"normalization": "rms_norm", "bias": False},
        tie_word_embeddings=True,
        rms_norm_eps=1e-6,
    )


def build_tinylm(num_layers: int, vocab_size: int, seed: int = 0, **config) -> TinyLMForCausalLM:
    torch.manual_seed(seed)
    model = TinyLMForCausalLM(tinylm_config(num_layers, vocab_size, **config)).eval()
    model.generation_config.eos_token_id = None  # always generate the full count
    return model


def weight_bytes(model) -> int:
    """Bytes of distinct parameters (a tied matrix counts once): what one decoding step reads."""
    seen, total = set(), 0
    for parameter in model.parameters():
        if parameter.data_ptr() not in seen:
            seen.add(parameter.data_ptr())
            total += parameter.numel() * parameter.element_size()
    return total


def copy_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Bytes per second of copying a tensor far larger than the caches (best of ``repeats``; bytes counted once)."""
    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.empty_like(source)
    target.copy_(source)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return source.numel() * 4 / best


def hf_generate(model, ids, new_tokens):
    with torch.inference_mode():
        return model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False,
                              pad_token_id=0)


COMPILED_METHOD_NAMES = {"default": "ours compiled", "max-autotune": "ours max-autotune"}


def first_difference(ids: torch.Tensor, reference: torch.Tensor) -> str:
    """Where generated ids first part from the reference's ("" when identical), counting new tokens from 1."""
    differing = (ids != reference).any(0).nonzero()
    if len(differing) == 0:
        return ""
    return f"ids differ from new token {int(differing[0]) - PROMPT_LENGTH + 1}"


PLAIN_PRODUCTS = "ours, F.linear products"


def with_plain_products(method):
    """``method`` with TinyLM's projections as plain ``F.linear`` (``ThreadedLinear``'s split off)."""

    def call(ids, new_tokens):
        saved = linear.MIN_SPLIT_WEIGHT_ELEMENTS
        linear.MIN_SPLIT_WEIGHT_ELEMENTS = float("inf")
        try:
            return method(ids, new_tokens)
        finally:
            linear.MIN_SPLIT_WEIGHT_ELEMENTS = saved

    return call


def methods_for(tinylm, llama, compile_modes) -> dict:
    greedy = GreedyGenerator(tinylm, ignore_eos=True)
    methods = {"ours": lambda ids, n: greedy.generate_ids(ids, n)}
    methods[PLAIN_PRODUCTS] = with_plain_products(greedy.generate_ids)
    if LegacyStaticCacheDecoder is not None:
        legacy = GreedyGenerator(tinylm, ignore_eos=True)
        legacy.decoder = LegacyStaticCacheDecoder(tinylm)
        methods["ours before (054b6e6)"] = legacy.generate_ids
    for mode in compile_modes:
        compiled = GreedyGenerator(tinylm, ignore_eos=True, compile=mode)
        methods[COMPILED_METHOD_NAMES[mode]] = compiled.generate_ids
    methods["Llama.generate"] = lambda ids, n: hf_generate(llama, ids, n)
    methods["TinyLM.generate"] = lambda ids, n: hf_generate(tinylm, ids, n)
    return methods


def run(args, on_row=None) -> list:
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    bandwidth = copy_bandwidth(64 if args.quick else 512)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
          f"copy bandwidth {bandwidth / 1e9:.1f} GB/s")
    configs = [(m, d, b) for m in args.models for d in args.dtypes for b in args.batches]
    rows = []
    progress = tqdm(total=len(configs) * (args.rounds + 1), desc="generation benchmark", unit="run")
    for model_name, dtype_name, batch in configs:
        dtype = getattr(torch, dtype_name)
        tinylm = build_tinylm(**MODELS[model_name]).to(dtype)
        llama = to_llama(tinylm).to(dtype)
        prompt_generator = torch.Generator().manual_seed(1)
        ids = torch.randint(0, tinylm.config.vocab_size, (batch, PROMPT_LENGTH), generator=prompt_generator)
        methods = methods_for(tinylm, llama, args.compile_modes if args.compile else ())
        limit = batch * bandwidth / weight_bytes(tinylm)
        # Warm-up (and compilation), then check every method produces the same ids.
        progress.set_postfix_str(f"{model_name} {dtype_name} batch {batch}: warm-up")
        outputs, compile_seconds = {}, {}
        compiled_names = set(COMPILED_METHOD_NAMES.values())
        for name, method in list(methods.items()):
            start = time.perf_counter()
            try:
                outputs[name] = method(ids, args.new_tokens)
            except Exception as error:  # torch.compile needs a working C++ toolchain; report rather than stop
                if name not in compiled_names:
                    raise
                print(f"\n{model_name} {dtype_name} batch {batch}: {name} failed, skipped: {error!r}"[:500])
                del methods[name]
                continue
            if name in compiled_names:
                compile_seconds[name] = time.perf_counter() - start
        reference = outputs["Llama.generate"]
        assert reference.shape == (batch, PROMPT_LENGTH + args.new_tokens), reference.shape
        for name in ("ours", PLAIN_PRODUCTS, "TinyLM.generate", "ours before (054b6e6)"):
            if name not in outputs:
                continue
            assert torch.equal(outputs[name], reference), f"{name} ≠ Llama.generate ({model_name} {dtype_name})"
        progress.update(1)
        times = {name: [] for name in methods}
        for round_index in range(args.rounds):
            progress.set_postfix_str(f"{model_name} {dtype_name} batch {batch}: round {round_index + 1}")
            for name, method in methods.items():
                start = time.perf_counter()
                method(ids, args.new_tokens)
                times[name].append(time.perf_counter() - start)
            progress.update(1)
        tokens = batch * args.new_tokens
        llama_best = tokens / min(times["Llama.generate"])
        for name, seconds in times.items():
            best, median = tokens / min(seconds), tokens / statistics.median(seconds)
            rows.append(dict(
                model=model_name, dtype=dtype_name, batch=batch, method=name, best=best, median=median,
                vs_llama=best / llama_best, of_limit=best / limit, limit=limit,
                identical=torch.equal(outputs[name], reference),
                note="; ".join(filter(None, [
                    f"compile {compile_seconds[name]:.0f} s" if name in compile_seconds else "",
                    first_difference(outputs[name], reference),
                ])),
            ))
        if on_row is not None:
            on_row(rows)
    progress.close()
    return rows


def markdown(rows: list) -> str:
    lines = [
        "| model | dtype | batch | method | tokens/s (best) | median | × Llama.generate "
        "| of weight-streaming limit | same ids | |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['batch']} | {r['method']} | {r['best']:.0f} | {r['median']:.0f} | "
            f"{r['vs_llama']:.2f} | {100 * r['of_limit']:.0f}% of {r['limit']:.0f} | "
            f"{'yes' if r['identical'] else 'NO'} | {r['note']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 16 new tokens, one round")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["L", "S"])
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "bfloat16"), default=["float32", "bfloat16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per method (the best is reported)")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile'd loops")
    parser.add_argument("--compile-modes", nargs="+", choices=COMPILE_MODES, default=list(COMPILE_MODES),
                        help="which compile modes --compile times (default: all)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--output", help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.new_tokens, args.rounds = 16, 1
    def write(rows):
        if args.output:
            with open(args.output, "w") as handle:
                handle.write(markdown(rows) + "\n")

    # The table is rewritten after every configuration, so an interrupted run keeps what it measured.
    print(markdown(run(args, on_row=write)))


if __name__ == "__main__":
    main()
