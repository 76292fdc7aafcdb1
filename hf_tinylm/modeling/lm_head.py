"""LM heads: the final normalization followed by the projection to vocabulary logits."""

import torch
from torch import nn

from .normalization import build_normalization


class GenericLMHead(nn.Module):
    """``linear(norm(h))``; the norm is the model's final norm (the core has none of its own, as in the original)."""

    def __init__(self, config):
        super().__init__()
        spec = config.head
        self.norm = build_normalization(
            spec["normalization"], config.hidden_size, spec["bias"], config.rms_norm_eps, config.layer_norm_eps
        )
        # The projection has no bias: a tied projection reuses the embedding matrix, which has none.
        self.linear = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(hidden_states))
