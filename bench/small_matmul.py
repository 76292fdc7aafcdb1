"""The cost of one-token matrix products on CPU, one at a time and as a whole decoding step.

First table: ``F.linear`` of one token (batch 1) for the shapes of a decoding step of the benchmark models (hidden
256, q|k|v 384, SwiGLU 768, vocab 4,096 and 50,257), in float32 and in bfloat16, the same weight again and again
(it stays in cache): microseconds per call and the bfloat16 / float32 ratio. Small products cost a fixed few tens
of microseconds in bfloat16 (oneDNN's per-call work) against ~10 µs in float32, which is what
``compile="max-autotune"`` removes by packing the weights for inductor's own C++ kernels.

Second table: every product of one float32 decoding step of bench/generate.py's models S and L (21 and 41
weights), each weight once per pass as in decoding, so they stream from memory: ``F.linear`` against TinyLM's
``ThreadedLinear`` product (hf_tinylm/modeling/linear.py, weight rows split over the threads), interleaved pass by
pass; the speed-up of the threaded product, best and median.

    python bench/small_matmul.py [--threads 2] [--calls 2000] [--passes 40] [--batch 1]
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# Run as a script, Python puts bench/ first on the path, where bench/tokenizers.py shadows `tokenizers`: look up the
# repository root instead.
_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [path for path in sys.path if os.path.abspath(path or ".") != _BENCH_DIR]
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

from bench.generate import MODELS, build_tinylm  # noqa: E402
from hf_tinylm.modeling.linear import threaded_linear  # noqa: E402

# (in features, out features) of the products in one decoding step of bench/generate.py's models.
SHAPES = [(256, 384), (256, 256), (256, 768), (768, 256), (256, 4096), (256, 50257)]


def microseconds_per_call(weight: torch.Tensor, token: torch.Tensor, calls: int, rounds: int = 3) -> float:
    for _ in range(50):
        F.linear(token, weight)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            F.linear(token, weight)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def step_weights(model_name: str) -> list:
    """The weight of every product in one decoding step of bench/generate.py's model (the projections of each
    layer, then the head), taken from the model itself."""
    model = build_tinylm(**MODELS[model_name])
    return [module.weight.detach() for module in model.modules() if isinstance(module, torch.nn.Linear)]


def step_passes(weights: list, batch: int, passes: int) -> dict:
    """Seconds per pass over every weight of a step, plain product against the threaded one, interleaved."""
    generator = torch.Generator().manual_seed(0)
    tokens = {size: torch.randn(batch, size, generator=generator) for size in {weight.shape[1] for weight in weights}}
    methods = {
        "F.linear": lambda token, weight: F.linear(token, weight),
        "threaded": lambda token, weight: threaded_linear(token, weight),
    }
    seconds = {name: [] for name in methods}
    with torch.inference_mode():
        for _ in range(passes + 3):  # the first three passes warm up
            for name, method in methods.items():
                start = time.perf_counter()
                for weight in weights:
                    method(tokens[weight.shape[1]], weight)
                seconds[name].append(time.perf_counter() - start)
    return {name: values[3:] for name, values in seconds.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing round (best of 3 rounds)")
    parser.add_argument("--passes", type=int, default=40, help="timed passes over a decoding step's weights")
    parser.add_argument("--batch", type=int, default=1, help="tokens per product in the step table (sequences)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| in → out | float32 µs | bfloat16 µs | bfloat16 / float32 |")
    print("|---|---|---|---|")
    generator = torch.Generator().manual_seed(0)
    for in_features, out_features in SHAPES:
        weight = torch.randn(out_features, in_features, generator=generator)
        token = torch.randn(1, in_features, generator=generator)
        calls = max(20, args.calls * 256 * 384 // (in_features * out_features))
        float32 = microseconds_per_call(weight, token, calls)
        bfloat16 = microseconds_per_call(weight.bfloat16(), token.bfloat16(), calls)
        print(f"| {in_features} → {out_features} | {float32:.1f} | {bfloat16:.1f} | {bfloat16 / float32:.2f} |")
    print(f"\nOne float32 decoding step's products, batch {args.batch}, each weight once per pass:")
    print("| model | F.linear µs (best / median) | threaded µs (best / median) | speed-up (best / median) |")
    print("|---|---|---|---|")
    for model in ("S", "L"):
        seconds = step_passes(step_weights(model), args.batch, args.passes)
        plain, threaded = seconds["F.linear"], seconds["threaded"]
        best = (min(plain) * 1e6, min(threaded) * 1e6)
        median = (statistics.median(plain) * 1e6, statistics.median(threaded) * 1e6)
        print(
            f"| {model} | {best[0]:.0f} / {median[0]:.0f} | {best[1]:.0f} / {median[1]:.0f} | "
            f"{best[0] / best[1]:.2f} / {median[0] / median[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
