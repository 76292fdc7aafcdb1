"""Is a KV cache worth it for tiny models? Decoding speed with and without one, at context lengths 64 to 1,024.

The seed removed its KV cache, believing tiny models do not need one. For a ~10M and a ~20M TinyLM (float32,
batch 1, greedy) this measures the per-token decoding speed once the context holds C tokens: a prompt of
C - 32 tokens is read (not timed), then 32 tokens are generated and timed, with

- ``static cache``: our decoding loop (keys and values preallocated for the whole generation);
- ``dynamic cache``: the model's forward with transformers' ``DynamicCache`` (what ``model.generate`` gives models
  without a cache of their own; TinyLM's gets the static one);
- ``no cache``: the model's forward over the whole sequence at every step.

    python bench/cache_study.py                # table on stdout, plot in docs/generation_cache_study.png
    python bench/cache_study.py --quick        # smoke run
"""

import argparse
import json
import os
import sys
import time

import torch
from tqdm import tqdm

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_BENCH_DIR)
# bench/ first on the path would let a module there shadow a package (bench/tokenizers.py shadows `tokenizers`).
sys.path[:] = [path for path in sys.path if os.path.abspath(path or ".") != _BENCH_DIR]
sys.path.insert(0, _ROOT)

from bench.generate import build_tinylm  # noqa: E402
from hf_tinylm.generation import build_decoder  # noqa: E402

MODELS = {
    "10M": dict(num_layers=8, vocab_size=16384),  # 10.2M parameters
    "20M": dict(num_layers=8, vocab_size=50257),  # 18.9M parameters (the benchmark's model L)
}
MODES = {"static cache": "static", "dynamic cache": "transformers", "no cache": "uncached"}
CONTEXTS = (64, 128, 256, 512, 1024)
TIMED_TOKENS = 32


def decoding_speed(decoder, ids: torch.Tensor, timed_tokens: int) -> float:
    """Tokens/s of ``timed_tokens`` greedy steps after the prompt ``ids`` has been read."""
    session = decoder.session(ids, None, timed_tokens)
    logits = session.prefill()
    start = time.perf_counter()
    for _ in range(timed_tokens):
        logits = session.step(logits.argmax(-1))
    return timed_tokens / (time.perf_counter() - start)


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    results = {}
    jobs = [(m, c) for m in args.models for c in args.contexts]
    progress = tqdm(total=len(jobs) * len(MODES) * args.rounds, desc="cache study", unit="run")
    for model_name in args.models:
        model = build_tinylm(**MODELS[model_name], max_positions=max(args.contexts) + args.timed_tokens)
        parameters = sum(p.numel() for p in model.parameters()) / 1e6
        decoders = {mode: build_decoder(model, name) for mode, name in MODES.items()}
        warm_up = torch.randint(0, model.config.vocab_size, (1, min(args.contexts)))
        for decoder in decoders.values():  # first calls allocate and pick kernels: keep them out of the figures
            decoding_speed(decoder, warm_up, args.timed_tokens)
        for context in args.contexts:
            ids = torch.randint(0, model.config.vocab_size, (1, context - args.timed_tokens),
                                generator=torch.Generator().manual_seed(context))
            for mode, decoder in decoders.items():
                progress.set_postfix_str(f"{model_name} context {context} {mode}")
                best = 0.0
                for _ in range(args.rounds):
                    best = max(best, decoding_speed(decoder, ids, args.timed_tokens))
                    progress.update(1)
                results[(model_name, parameters, context, mode)] = best
    progress.close()
    return results


def markdown(results: dict) -> str:
    models = sorted({(name, params) for name, params, _, _ in results}, key=lambda item: item[1])
    contexts = sorted({context for _, _, context, _ in results})
    lines = ["| model | context | " + " | ".join(f"{mode} (tokens/s)" for mode in MODES) + " | static ÷ no cache |",
             "|---|---|" + "---|" * (len(MODES) + 1)]
    for name, params in models:
        for context in contexts:
            speeds = [results[(name, params, context, mode)] for mode in MODES]
            lines.append(f"| {params:.1f}M | {context} | " + " | ".join(f"{speed:.0f}" for speed in speeds)
                         + f" | {speeds[0] / speeds[-1]:.1f}× |")
    return "\n".join(lines)


def plot(results: dict, path: str, threads: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    styles = {"static cache": "-o", "dynamic cache": "--s", "no cache": ":^"}
    models = sorted({(name, params) for name, params, _, _ in results}, key=lambda item: item[1])
    colors = dict(zip(models, ("tab:blue", "tab:orange", "tab:green")))
    for model in models:
        for mode in MODES:
            points = sorted(
                (context, speed) for (n, p, context, m), speed in results.items() if (n, p) == model and m == mode
            )
            axis.plot([c for c, _ in points], [s for _, s in points], styles[mode], color=colors[model],
                      label=f"{model[1]:.1f}M, {mode}")
    contexts = sorted({context for _, _, context, _ in results})
    axis.set_xscale("log", base=2)
    axis.set_xticks(contexts, [str(context) for context in contexts])
    axis.minorticks_off()
    axis.set_yscale("log")
    axis.set_xlabel("context length (tokens)")
    axis.set_ylabel("decoding speed (tokens/s)")
    axis.set_title(f"TinyLM decoding with and without a KV cache (float32, batch 1, {threads} threads)",
                   fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: contexts 64 and 128, 4 timed tokens")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["10M", "20M"])
    parser.add_argument("--contexts", nargs="+", type=int, default=list(CONTEXTS))
    parser.add_argument("--timed-tokens", type=int, default=TIMED_TOKENS)
    parser.add_argument("--rounds", type=int, default=3, help="runs per point (the best is reported)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--plot", default=os.path.join(_ROOT, "docs", "generation_cache_study.png"))
    parser.add_argument("--output", help="also write the markdown table to this file")
    parser.add_argument("--save-json", help="write the measurements to this JSON file")
    parser.add_argument("--from-json", nargs="+", help="table and plot from saved JSON files instead of measuring "
                        "(several files: the best of each point)")
    args = parser.parse_args(argv)
    if args.quick:
        args.contexts, args.timed_tokens, args.rounds = [64, 128], 4, 1
    threads = args.threads
    if args.from_json:
        results = {}
        for path in args.from_json:
            with open(path) as handle:
                saved = json.load(handle)
            threads = saved["threads"]
            for key, speed in saved["results"]:
                results[tuple(key)] = max(speed, results.get(tuple(key), 0.0))
    else:
        results = run(args)
    if args.save_json:
        with open(args.save_json, "w") as handle:
            json.dump({"threads": threads, "torch": torch.__version__,
                       "results": [[list(key), speed] for key, speed in results.items()]}, handle, indent=1)
    table = markdown(results)
    print(table)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(table + "\n")
    if args.plot:  # --plot "" skips it (matplotlib is only in the `all` extra)
        plot(results, args.plot, threads)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
