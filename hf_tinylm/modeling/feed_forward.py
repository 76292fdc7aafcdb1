"""Feed-forward sub-blocks: a two-layer MLP with a chosen activation, and SwiGLU."""

import torch
from torch import nn

from .activations import build_activation
from .component_registry import FEED_FORWARDS
from .linear import ThreadedLinear


@FEED_FORWARDS.register("generic")
class GenericFeedForward(nn.Module):
    """``linear_2(act(linear_1(x)))`` — names match the original's state-dict keys."""

    def __init__(self, hidden_size: int, ffn_dim: int, bias: bool, activation: str):
        super().__init__()
        self.linear_1 = ThreadedLinear(hidden_size, ffn_dim, bias=bias)
        self.activation = build_activation(activation, "core.ffn.activation")
        self.linear_2 = ThreadedLinear(ffn_dim, hidden_size, bias=bias)
        self.linear_2.is_residual_projection = True  # GPT-2 init scales these down with depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.activation(self.linear_1(x)))


@FEED_FORWARDS.register("swiglu")
class SwiGLUFeedForward(nn.Module):
    """``linear_2(silu(linear_1(x)) * linear_3(x))`` (Shazeer 2020); linear_1 is the gate, linear_3 the up projection."""

    def __init__(self, hidden_size: int, ffn_dim: int, bias: bool, activation: str = "silu"):
        super().__init__()
        self.linear_1 = ThreadedLinear(hidden_size, ffn_dim, bias=bias)
        self.linear_3 = ThreadedLinear(hidden_size, ffn_dim, bias=bias)
        self.linear_2 = ThreadedLinear(ffn_dim, hidden_size, bias=bias)
        self.linear_2.is_residual_projection = True  # GPT-2 init scales these down with depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(nn.functional.silu(self.linear_1(x)) * self.linear_3(x))
