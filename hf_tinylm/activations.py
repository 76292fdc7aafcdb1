"""Element-wise activations for the generic feed-forward, including the seed's small learned one."""

import torch
from torch import nn

from .component_registry import ComponentRegistry

ACTIVATIONS = ComponentRegistry("activation")


@ACTIVATIONS.register("gelu")
class GELU(nn.GELU):
    """Exact (erf) GELU; GPT-2's tanh approximation is ``gelu_tanh``."""


@ACTIVATIONS.register("gelu_tanh")
class GELUTanh(nn.GELU):
    def __init__(self):
        super().__init__(approximate="tanh")


ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("leakyrelu")(nn.LeakyReLU)
ACTIVATIONS.register("tanh")(nn.Tanh)
ACTIVATIONS.register("sigmoid")(nn.Sigmoid)
ACTIVATIONS.register("silu")(nn.SiLU)
ACTIVATIONS.register("none")(nn.Identity)


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
