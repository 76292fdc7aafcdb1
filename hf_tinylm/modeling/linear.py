"""``ThreadedLinear``: ``nn.Linear`` whose few-row products on CPU run on every thread.

A decoding step multiplies one row per sequence by each weight matrix. For such products torch's CPU backend runs on
one thread (on the 2-core machine, 2 threads time the same as 1): one core streams the weights from memory, which is
most of a small model's step, while the other idles. Viewing the weight's rows as ``parts`` blocks makes the product
a batched one, which torch spreads over the threads, one block each. Every output is still one dot product in the
layout of ``x @ w.T``; the batched kernel may sum it in another order, so the numbers match ``F.linear`` to float32
rounding (tests/hf_tinylm/test_linear.py). Speed: docs/benchmarks.md, runs G to J and the step table of
bench/small_matmul.py.

Training, autocast, bfloat16, GPUs, compiled graphs and larger products keep ``F.linear``: there torch's kernels
already use every thread (or the device), bfloat16's batched kernel is slower than its plain one on this CPU, and a
compiled graph does better with the plain product.
"""

import torch
from torch import nn

# At most this many rows (tokens × sequences) take the split path: a decoding step of up to 16 sequences.
MAX_SPLIT_ROWS = 16
# Each thread's block keeps at least this many weight rows, so a thread's work outweighs handing it out.
MIN_ROWS_PER_THREAD = 64
# Smaller weights (under 256 KB in float32) stay in the core's cache: streaming them is not what a step waits for.
MIN_SPLIT_WEIGHT_ELEMENTS = 1 << 16


def split_parts(input: torch.Tensor, weight: torch.Tensor) -> int:
    """How many row blocks ``input @ weight.T`` is split into; 1 when the plain product is the better call."""
    # Cheapest tests first: a decoding step asks this of every projection.
    if (
        input.numel() > MAX_SPLIT_ROWS * weight.shape[1]
        or weight.numel() < MIN_SPLIT_WEIGHT_ELEMENTS
        or input.numel() == 0
        or not input.is_cpu
        or input.dtype != torch.float32
        or weight.dtype != torch.float32
        or input.shape[-1] != weight.shape[1]  # F.linear says what is wrong
        or not weight.is_contiguous()  # the row blocks are a view of the weight
        or torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad)
        or torch.is_autocast_enabled("cpu")
        or torch.compiler.is_compiling()
    ):
        return 1
    return max(1, min(torch.get_num_threads(), weight.shape[0] // MIN_ROWS_PER_THREAD))


def split_linear(input: torch.Tensor, weight: torch.Tensor, bias, parts: int) -> torch.Tensor:
    """``F.linear(input, weight, bias)`` as one batched product over ``parts`` blocks of weight rows.

    The operands are built as strided views (one call each rather than two or three view calls): in a one-token
    decoding step every torch call costs microseconds, and a step makes this product for every projection."""
    if not weight.is_contiguous():  # split_parts never asks for it; the strided view below would misread one
        raise ValueError(f"split_linear needs a contiguous weight, got strides {weight.stride()}")
    out_features, in_features = weight.shape
    rows = input.numel() // in_features
    block = out_features // parts
    even = block * parts  # rows beyond a whole number of blocks (an odd vocabulary) get a product of their own
    # Block p, read as [in, block]: weight rows p * block to (p + 1) * block - 1, transposed (the weight is contiguous).
    blocks = weight.as_strided((parts, in_features, block), (block * in_features, 1, in_features))
    if input.is_contiguous():
        shared = input.as_strided((parts, rows, in_features), (0, in_features, 1))  # every block reads the same rows
    else:
        shared = input.reshape(rows, in_features).expand(parts, rows, in_features)
    output = torch.bmm(shared, blocks)  # [parts, rows, block]
    if rows > 1:  # one row's blocks already lie side by side
        output = output.transpose(0, 1)
    if even != out_features:
        output = torch.cat((output.reshape(rows, even), shared[0] @ weight[even:].T), dim=-1)
    if bias is not None:
        output = output.reshape(rows, out_features) + bias
    return output.reshape(*input.shape[:-1], out_features)


def threaded_linear(input: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    """``F.linear``, with ``split_linear`` where ``split_parts`` finds more than one block."""
    parts = split_parts(input, weight)
    if parts > 1:
        return split_linear(input, weight, bias, parts)
    return nn.functional.linear(input, weight, bias)


class ThreadedLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same saved names) computed by ``threaded_linear``."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return threaded_linear(input, self.weight, self.bias)
