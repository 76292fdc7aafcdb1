"""Why bfloat16 decoding gains little from eager PyTorch on CPU: the cost of one-token matrix products.

Times ``F.linear`` of one token (batch 1) for the shapes of a decoding step of the benchmark models (hidden 256,
q|k|v 384, SwiGLU 768, vocab 4,096 and 50,257), in float32 and in bfloat16, and reports microseconds per call and
the bfloat16 / float32 ratio. Small products cost a fixed few tens of microseconds in bfloat16 (oneDNN's
per-call work) against ~10 µs in float32, which is what ``compile="max-autotune"`` removes by packing the
weights for inductor's own C++ kernels.

    python bench/small_matmul.py [--threads 2] [--calls 2000]
"""

import argparse
import time

import torch
import torch.nn.functional as F

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing round (best of 3 rounds)")
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


if __name__ == "__main__":
    main()
