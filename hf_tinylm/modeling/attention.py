"""Causal or bidirectional self-attention: multi-head, grouped-query, with whatever the positional scheme hands in.

Scores go through transformers' attention interface (eager, sdpa, flash, flex, ...). The positional scheme's
``AttentionInputs`` brings the mask and rotary tables; a scheme that needs parameters inside every layer (Shaw's
relative vectors, added to keys *and values*, which no fused kernel offers) gives the layer a module with its own
``attend``.
"""

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .component_registry import POSITIONAL_ENCODINGS
from .linear import ThreadedLinear


@dataclass
class AttentionInputs:
    """What every attention layer of one forward call needs from the positional scheme (``positional_encoding.py``)."""

    # None (plain causal), a boolean or additive [b, 1 or heads, q, kv] tensor, or a backend's own mask object.
    mask: object = None
    # Rotary factors (cos, signed sin), each [b, 1, q, head_dim] (see ``rotation_factors``), or None.
    rotary: tuple = None
    # Shaw's clipped distances [q, kv] in [0, 2k], or None.
    relative_buckets: torch.Tensor = None
    # The config's attention backend, read once per call: a config attribute costs ~10 µs through transformers'
    # accessors, which a one-token step would pay in every layer. None: each layer reads the config itself.
    implementation: str = None


NO_POSITIONS = AttentionInputs()


def repeat_kv(states: torch.Tensor, groups: int) -> torch.Tensor:
    """[b, kv_heads, s, d] → [b, kv_heads * groups, s, d]: query head j reads key/value head j // groups."""
    if groups == 1:
        return states
    batch, kv_heads, length, dim = states.shape
    return states[:, :, None].expand(batch, kv_heads, groups, length, dim).reshape(batch, kv_heads * groups, length, dim)


def rotation_factors(cos: torch.Tensor, sin: torch.Tensor) -> tuple:
    """Llama's (cos, sin) [b, q, d] → (cos, signed sin) [b, 1, q, d] for ``rotate_with``, once per forward call.

    Llama's ``rotate_half(x) * sin`` equals ``x.roll(d / 2, -1) * [-sin_first_half, sin_second_half]`` element for
    element (the sign moves from x to sin, which IEEE multiplication does not notice), so every layer rotates
    with one roll and two multiplications.
    """
    half = sin.shape[-1] // 2
    signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
    return cos.unsqueeze(1), signed_sin.unsqueeze(1)


def rotate_with(states: torch.Tensor, factors: tuple) -> torch.Tensor:
    """Rotate ``[batch, heads, seq, head_dim]`` states by ``rotation_factors``: Llama's arithmetic, fewer calls."""
    cos, signed_sin = factors
    return states * cos + states.roll(states.shape[-1] // 2, -1) * signed_sin


def masked_scores(scores: torch.Tensor, attention_mask) -> torch.Tensor:
    if attention_mask is None:
        return scores
    if attention_mask.dtype == torch.bool:
        return scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    return scores + attention_mask


def eager_attention_forward(module, query, key, value, attention_mask, scaling: float, dropout: float = 0.0, **kwargs):
    """Plain softmax attention with the signature of transformers' attention interface."""
    key = repeat_kv(key, module.num_key_value_groups)
    value = repeat_kv(value, module.num_key_value_groups)
    scores = masked_scores(torch.matmul(query, key.transpose(2, 3)) * scaling, attention_mask)
    if attention_mask is None and module.is_causal and query.shape[2] > 1:
        q_len, kv_len = query.shape[2], key.shape[2]
        allowed = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


def sdpa_attention(module, query, key, value, attention_mask, scaling: float, dropout: float = 0.0, **kwargs):
    """torch's ``scaled_dot_product_attention`` with grouped-query heads (``enable_gqa``), called directly.

    transformers' own sdpa function does the same plus checks for older torch versions and other devices; on a
    one-token decoding step of 2 CPU cores it costs 33 µs against 14 µs here (a 4-layer model: ~80 µs a token;
    docs/benchmarks.md), so TinyLM calls torch itself where that function is not needed.
    """
    causal = attention_mask is None and module.is_causal and query.shape[2] > 1
    output = nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, dropout_p=dropout, is_causal=causal, scale=scaling,
        enable_gqa=module.num_key_value_groups > 1,
    )
    return output.transpose(1, 2), None


# torch 2.5 added enable_gqa; before it, transformers' sdpa function (which repeats keys and values) does the job.
_DIRECT_SDPA = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 5)


class SelfAttention(nn.Module):
    """Fused q/k/v projection (``c_attn``, rows q | k | v as in the original) and output projection ``c_proj``."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        spec = config.core["attention"]
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = spec["num_heads"]
        self.num_key_value_groups = spec["group_size"]
        self.num_key_value_heads = self.num_heads // self.num_key_value_groups
        self.head_dim = config.head_dim
        self.scaling = self.head_dim**-0.5
        self.is_causal = spec["is_causal"]
        self.attention_dropout = config.attention_dropout
        kv_size = self.num_key_value_heads * self.head_dim
        qkv_size = self.num_heads * self.head_dim + 2 * kv_size
        self.c_attn = ThreadedLinear(config.hidden_size, qkv_size, bias=spec["bias"])
        self.c_proj = ThreadedLinear(self.num_heads * self.head_dim, config.hidden_size, bias=spec["bias"])
        self.c_proj.is_residual_projection = True  # GPT-2 init scales these down with depth
        scheme = POSITIONAL_ENCODINGS.get(config.positional_encoding_type, "positional_encoding_type")
        self.relative_positions = scheme.per_layer_module(config, self.head_dim)

    def forward(self, hidden_states: torch.Tensor, inputs: AttentionInputs = NO_POSITIONS, cache=None, **kwargs):
        """``inputs``: the positional scheme's ``AttentionInputs`` (mask, rotary tables, relative buckets)."""
        batch, length, _ = hidden_states.shape
        heads, kv_heads = self.num_heads, self.num_key_value_heads
        # [b, q, heads + 2 kv_heads, d] → [b, heads + 2 kv_heads, q, d]: queries, keys and values side by side.
        qkv = self.c_attn(hidden_states).view(batch, length, heads + 2 * kv_heads, self.head_dim).transpose(1, 2)
        query_key, value = qkv[:, : heads + kv_heads], qkv[:, heads + kv_heads :]
        if inputs.rotary is not None:
            query_key = rotate_with(query_key, inputs.rotary)  # queries and keys in one go
        query, key = query_key[:, :heads], query_key[:, heads:]
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)

        dropout = self.attention_dropout if self.training else 0.0
        if self.relative_positions is not None:
            output, weights = self.relative_positions.attend(
                self, query, key, value, inputs, scaling=self.scaling, dropout=dropout
            )
        else:
            implementation = inputs.implementation or self.config._attn_implementation
            if implementation == "sdpa" and _DIRECT_SDPA and not kwargs:
                # Compiled one-token steps run written out: inductor fuses them, where sdpa stays an opaque kernel
                # (model S, max-autotune: 0.93 against 1.11 ms a step).
                one_token_compiled = length == 1 and torch.compiler.is_compiling()
                attention_function = eager_attention_forward if one_token_compiled else sdpa_attention
            else:
                attention_function: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
                    implementation, eager_attention_forward
                )
            output, weights = attention_function(
                self, query, key, value, inputs.mask, scaling=self.scaling, dropout=dropout, **kwargs
            )
        output = output.reshape(batch, length, -1).contiguous()
        return self.c_proj(output), weights
