"""Causal or bidirectional self-attention: multi-head, grouped-query, rotary, ALiBi and Shaw relative positions.

Scores go through transformers' attention interface (eager, sdpa, flash, flex, ...) whenever the positional
scheme allows; Shaw relative positions add learned vectors to keys *and values*, which no fused kernel offers,
so they use the eager path below.
"""

from typing import Callable

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .component_registry import ComponentRegistry
from .positional_encoding import ShawRelativeEmbeddings, apply_rotary

ATTENTIONS = ComponentRegistry("attention")


def repeat_kv(states: torch.Tensor, groups: int) -> torch.Tensor:
    """[b, kv_heads, s, d] → [b, kv_heads * groups, s, d]: query head j reads key/value head j // groups."""
    if groups == 1:
        return states
    batch, kv_heads, length, dim = states.shape
    return states[:, :, None].expand(batch, kv_heads, groups, length, dim).reshape(batch, kv_heads * groups, length, dim)


def _mask_scores(scores: torch.Tensor, attention_mask) -> torch.Tensor:
    if attention_mask is None:
        return scores
    if attention_mask.dtype == torch.bool:
        return scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    return scores + attention_mask


def eager_attention_forward(module, query, key, value, attention_mask, scaling: float, dropout: float = 0.0, **kwargs):
    """Plain softmax attention with the signature of transformers' attention interface."""
    key = repeat_kv(key, module.num_key_value_groups)
    value = repeat_kv(value, module.num_key_value_groups)
    scores = _mask_scores(torch.matmul(query, key.transpose(2, 3)) * scaling, attention_mask)
    if attention_mask is None and module.is_causal and query.shape[2] > 1:
        q_len, kv_len = query.shape[2], key.shape[2]
        allowed = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


def shaw_relative_attention(module, query, key, value, attention_mask, relative_buckets, scaling: float, dropout: float):
    """e_ij = q_i·(k_j + a^K_ij) / √d ; z_i = Σ_j α_ij (v_j + a^V_ij), with a^· indexed by the clipped distance j − i.

    Instead of materialising a [q, kv, d] tensor of relative vectors, queries are scored against the 2k+1 key
    vectors once and gathered per pair, and attention weights are summed per distance before meeting a^V.
    """
    key = repeat_kv(key, module.num_key_value_groups)
    value = repeat_kv(value, module.num_key_value_groups)
    batch, heads, q_len, _ = query.shape
    buckets = relative_buckets.expand(batch, heads, q_len, relative_buckets.shape[-1])
    relative = module.relative_positions
    scores = torch.matmul(query, key.transpose(2, 3))
    scores = scores + torch.gather(torch.matmul(query, relative.keys.to(query.dtype).t()), -1, buckets)
    scores = _mask_scores(scores * scaling, attention_mask)
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value)
    per_distance = torch.zeros(
        batch, heads, q_len, relative.values.shape[0], dtype=weights.dtype, device=weights.device
    ).scatter_add_(-1, buckets, weights)
    output = output + torch.matmul(per_distance, relative.values.to(weights.dtype))
    return output.transpose(1, 2).contiguous(), weights


@ATTENTIONS.register("generic")
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
        self.split_sizes = (self.num_heads * self.head_dim, kv_size, kv_size)
        self.c_attn = nn.Linear(config.hidden_size, sum(self.split_sizes), bias=spec["bias"])
        self.c_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=spec["bias"])
        self.c_proj.is_residual_projection = True  # GPT-2 init scales these down with depth
        self.relative_positions = (
            ShawRelativeEmbeddings(config.max_relative_position, self.head_dim)
            if config.positional_encoding_type == "shaw_relative"
            else None
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask=None,
        position_embeddings=None,
        relative_buckets=None,
        cache=None,
        **kwargs,
    ):
        batch, length, _ = hidden_states.shape
        query, key, value = self.c_attn(hidden_states).split(self.split_sizes, dim=-1)
        query = query.view(batch, length, -1, self.head_dim).transpose(1, 2)
        key = key.view(batch, length, -1, self.head_dim).transpose(1, 2)
        value = value.view(batch, length, -1, self.head_dim).transpose(1, 2)

        if position_embeddings is not None:
            query, key = apply_rotary(query, key, *position_embeddings)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)

        dropout = self.attention_dropout if self.training else 0.0
        if self.relative_positions is not None:
            output, weights = shaw_relative_attention(
                self, query, key, value, attention_mask, relative_buckets, scaling=self.scaling, dropout=dropout
            )
        else:
            attention_function: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
            output, weights = attention_function(
                self, query, key, value, attention_mask, scaling=self.scaling, dropout=dropout, **kwargs
            )
        output = output.reshape(batch, length, -1).contiguous()
        return self.c_proj(output), weights
