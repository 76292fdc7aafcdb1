"""LM heads: the final normalization followed by the projection to vocabulary logits."""

import torch
from torch import nn

from .chunked_cross_entropy import linear_cross_entropy_loss
from .linear import ThreadedLinear
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
        self.linear = ThreadedLinear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(hidden_states))

    @property
    def computes_loss_in_slices(self) -> bool:
        """Whether ``causal_lm_loss`` is exactly the loss of ``forward``'s logits: not when the projection was swapped
        for another module (a LoRA adapter, a quantized layer), whose output is more than ``h @ weight.T``.
        A plain ``nn.Linear`` qualifies: ``resize_token_embeddings`` puts one in place of an untied projection."""
        return type(self.linear) in (ThreadedLinear, nn.Linear)

    def causal_lm_loss(self, hidden_states: torch.Tensor, labels: torch.Tensor, **loss_kwargs) -> torch.Tensor:
        """transformers' causal-LM loss of ``forward(hidden_states)`` and ``labels``, computed a slice of tokens at a
        time without the [tokens, vocab] logits (chunked_cross_entropy.py); ``loss_kwargs`` as for ForCausalLMLoss."""
        return linear_cross_entropy_loss(self.norm(hidden_states), self.linear.weight, labels, **loss_kwargs)
