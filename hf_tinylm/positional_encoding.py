"""Positional schemes: absolute (learned, sinusoidal), rotary, relative (Shaw et al. 2018, ALiBi) and none.

Each scheme is one model-level module with three hooks, so the rest of the model never branches on its name:
- ``add_to_embeddings``: absolute schemes add a position vector to each token embedding;
- ``rotary_embeddings``: RoPE returns (cos, sin) that attention applies to queries and keys;
- ``score_bias``: ALiBi returns an additive bias on the attention scores per head.
Shaw relative positions need learned vectors inside every attention layer (added to keys and values), so the
model-level module only hands out the clipped relative distances (``relative_buckets``) and each attention layer
owns a ``ShawRelativeEmbeddings``.

Relative schemes work in sequence-index space: the distance between two real tokens is the same whether or not
the batch is left-padded, so they need no position ids and are padding- and cache-invariant by construction.
"""

import math

import torch
from torch import nn

from .component_registry import ComponentRegistry

POSITIONAL_ENCODINGS = ComponentRegistry("positional encoding")


class PositionalEncoding(nn.Module):
    """Base class: every hook is a no-op."""

    # Whether attention must see Shaw relative buckets (and so cannot use a fused kernel).
    uses_relative_buckets = False
    # Whether the scheme biases attention scores (the mask must then be materialized as floats).
    uses_score_bias = False

    def __init__(self, config):
        super().__init__()

    def add_to_embeddings(self, embeddings: torch.Tensor, position_ids: torch.LongTensor) -> torch.Tensor:
        return embeddings

    def rotary_embeddings(self, reference: torch.Tensor, position_ids: torch.LongTensor):
        return None

    def score_bias(self, query_index: torch.Tensor, key_index: torch.Tensor):
        return None

    def relative_buckets(self, query_index: torch.Tensor, key_index: torch.Tensor):
        return None

    def reset_parameters(self):
        """Recompute non-persistent buffers (models are built on the meta device when loaded)."""


def _check_position_range(position_ids: torch.LongTensor, limit: int, scheme: str):
    if position_ids.numel() and int(position_ids.max()) >= limit:
        raise ValueError(
            f"position {int(position_ids.max())} is outside the {scheme} positional table of "
            f"max_position_embeddings={limit}; inputs must fit in the context window"
        )


@POSITIONAL_ENCODINGS.register("none")
class NoPositionalEncoding(PositionalEncoding):
    """No positional information at all (causal attention alone can still infer some)."""


@POSITIONAL_ENCODINGS.register("learned")
class LearnedPositionalEncoding(PositionalEncoding):
    """A learned vector per absolute position, added to the token embedding (GPT-2's ``wpe``)."""

    def __init__(self, config):
        super().__init__(config)
        self.max_positions = config.max_position_embeddings
        self.pe = nn.Embedding(config.max_position_embeddings, config.hidden_size)

    def add_to_embeddings(self, embeddings, position_ids):
        if not torch.compiler.is_compiling():
            _check_position_range(position_ids, self.max_positions, "learned")
        return embeddings + self.pe(position_ids).to(embeddings.dtype)


def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """The Transformer's table: even dims sin, odd dims cos, frequencies exp(-ln(10000) * 2i / dim)."""
    position = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(num_positions, dim)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)[:, : dim // 2]
    return table


@POSITIONAL_ENCODINGS.register("sincos")
class SinusoidalPositionalEncoding(PositionalEncoding):
    """Fixed sinusoidal table added to the token embedding; a buffer, so it is never saved or trained."""

    def __init__(self, config):
        super().__init__(config)
        self.max_positions = config.max_position_embeddings
        self.register_buffer(
            "table", sinusoidal_table(config.max_position_embeddings, config.hidden_size), persistent=False
        )

    def reset_parameters(self):
        with torch.no_grad():
            self.table.copy_(sinusoidal_table(self.max_positions, self.table.shape[-1]))

    def add_to_embeddings(self, embeddings, position_ids):
        if not torch.compiler.is_compiling():
            _check_position_range(position_ids, self.max_positions, "sincos")
        return embeddings + self.table[position_ids].to(embeddings.dtype)


def rotary_inverse_frequencies(head_dim: int, theta: float) -> torch.Tensor:
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))


@POSITIONAL_ENCODINGS.register("rope")
class RotaryPositionalEncoding(PositionalEncoding):
    """Rotary embeddings (Su et al. 2021) in the half-split convention of Hugging Face's Llama.

    The original code rotates interleaved pairs (0,1), (2,3), ...; the two conventions compute the same function
    once q and k rows are permuted, which is what ``conversion/`` does when reading original checkpoints.
    """

    def __init__(self, config):
        super().__init__(config)
        self.head_dim = config.head_dim
        self.theta = config.rope_theta
        self.register_buffer("inv_freq", rotary_inverse_frequencies(self.head_dim, self.theta), persistent=False)

    def reset_parameters(self):
        with torch.no_grad():
            self.inv_freq.copy_(rotary_inverse_frequencies(self.head_dim, self.theta))

    def rotary_embeddings(self, reference, position_ids):
        # Angles in float32 whatever the model dtype: bf16 angles lose whole radians at long positions.
        angles = position_ids[..., None].to(torch.float32) * self.inv_freq.to(reference.device)
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos().to(reference.dtype), angles.sin().to(reference.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(query: torch.Tensor, key: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    """Rotate ``[batch, heads, seq, head_dim]`` queries and keys by per-position angles ``[batch, seq, head_dim]``."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return query * cos + rotate_half(query) * sin, key * cos + rotate_half(key) * sin


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Press et al. (2022): geometric slopes 2^(-8/n), and for non-powers of two the interleaved extra slopes."""

    def power_of_two_slopes(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** math.floor(math.log2(num_heads))
    slopes = power_of_two_slopes(closest)
    if closest < num_heads:
        slopes += power_of_two_slopes(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


@POSITIONAL_ENCODINGS.register("alibi")
class ALiBiPositionalEncoding(PositionalEncoding):
    """Attention with linear biases: each head penalises a key by slope × distance; no parameters."""

    uses_score_bias = True

    def __init__(self, config):
        super().__init__(config)
        self.num_heads = config.num_attention_heads
        self.register_buffer("slopes", alibi_slopes(self.num_heads), persistent=False)

    def reset_parameters(self):
        with torch.no_grad():
            self.slopes.copy_(alibi_slopes(self.num_heads))

    def score_bias(self, query_index, key_index):
        distance = (query_index[:, None] - key_index[None, :]).abs().to(torch.float32)
        return -self.slopes.to(distance.device)[:, None, None] * distance  # [heads, q, kv]


@POSITIONAL_ENCODINGS.register("shaw_relative")
class ShawRelativePositionalEncoding(PositionalEncoding):
    """Shaw et al. (2018): distances clipped to ±max_relative_position index learned vectors in each attention layer."""

    uses_relative_buckets = True

    def __init__(self, config):
        super().__init__(config)
        self.max_distance = config.max_relative_position

    def relative_buckets(self, query_index, key_index):
        distance = key_index[None, :] - query_index[:, None]
        return distance.clamp(-self.max_distance, self.max_distance) + self.max_distance  # [q, kv] in [0, 2k]


class ShawRelativeEmbeddings(nn.Module):
    """Per-layer learned vectors a^K and a^V for each clipped distance, shared by all heads as in the paper."""

    def __init__(self, max_distance: int, head_dim: int):
        super().__init__()
        self.keys = nn.Parameter(torch.zeros(2 * max_distance + 1, head_dim))
        self.values = nn.Parameter(torch.zeros(2 * max_distance + 1, head_dim))
