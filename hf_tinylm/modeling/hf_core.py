"""``HFCore``: the body of a transformers causal LM as a transformer core (shared by the Hugging Face adapter in
``hf_tinylm/hf_adapter.py`` and the ``tinylm_hf_core`` model family).

Kept free of other project imports: transformers copies this file flat next to saved weights.
"""

import inspect

import torch
from torch import nn


class HFCore(nn.Module):
    """A transformers body (``model.base_model``) fed ``inputs_embeds``; returns the body's output
    (``.last_hidden_state``, after the body's final norm, and the KV cache when asked)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        # transformers 5.24 renamed the body's cache argument from past_key_values to cache.
        self.cache_keyword = "cache" if "cache" in inspect.signature(body.forward).parameters else "past_key_values"

    def forward(self, inputs_embeds: torch.Tensor, attention_mask=None, position_ids=None, cache=None,
                use_cache: bool = False, **kwargs):
        # Only what was given: some bodies take no position_ids.
        optional = {name: value for name, value in (("attention_mask", attention_mask), ("position_ids", position_ids),
                                                    (self.cache_keyword, cache)) if value is not None}
        return self.body(inputs_embeds=inputs_embeds, use_cache=use_cache, **optional, **kwargs)
