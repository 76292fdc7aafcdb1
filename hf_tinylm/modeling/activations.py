"""Element-wise activations for the generic feed-forward: transformers' ``ACT2FN`` for the standard ones, plus the
seed's small learned one."""

import torch
from torch import nn
from transformers.activations import ACT2FN

from .component_registry import ACTIVATIONS

# Our config names → transformers' names. "gelu" is the exact (erf) GELU; GPT-2's tanh approximation is "gelu_tanh".
STANDARD_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_tanh": "gelu_pytorch_tanh",
    "relu": "relu",
    "leakyrelu": "leaky_relu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "silu": "silu",
    "none": "linear",
}


@ACTIVATIONS.register("learned")
class LearnedActivation(nn.Module):
    """A tiny learned element-wise function: a mixture of fixed basis activations with learned weights.

    The seed only says "learned"; we give each basis function (identity, relu, tanh, sigmoid-gated) a
    learned scalar weight, starting as plain silu so training begins from a sane non-linearity.
    """

    def __init__(self):
        super().__init__()
        self.mix = nn.Parameter(self.initial_mix())

    @staticmethod
    def initial_mix() -> torch.Tensor:
        return torch.tensor([0.0, 0.0, 0.0, 1.0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mix = self.mix.to(x.dtype)
        return mix[0] * x + mix[1] * torch.relu(x) + mix[2] * torch.tanh(x) + mix[3] * x * torch.sigmoid(x)


def build_activation(name: str, field: str = "activation") -> nn.Module:
    """A fresh activation module for a config name: ``ACT2FN``'s for the standard ones, else a registered class."""
    ACTIVATIONS.check(name, field)
    if name in STANDARD_ACTIVATIONS:
        return ACT2FN[STANDARD_ACTIVATIONS[name]]
    return ACTIVATIONS.get(name, field)()
