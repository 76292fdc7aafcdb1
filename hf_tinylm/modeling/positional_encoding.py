"""Positional schemes: absolute (learned, sinusoidal), rotary, relative (Shaw et al. 2018, ALiBi) and none.

The model owns one scheme, beside its embedder and core, and asks it two things per forward call:
- ``add_to_embeddings(embeddings, position_ids)``: absolute schemes add a position vector to each token embedding;
- ``attention_inputs(...)``: an ``AttentionInputs`` for every attention layer — the mask, rotary factors
  and Shaw's clipped relative distances. ALiBi folds its per-head bias into the mask.
Shaw relative positions also need learned vectors inside each attention layer (added to keys and values):
``per_layer_module`` builds them, and they bring their own attention function. Attention never asks which
scheme it runs.

Relative schemes work in sequence-index space: the distance between two real tokens is the same whether or not
the batch is left-padded, so they need no position ids and are padding- and cache-invariant by construction.
"""

import math
import torch
from torch import nn
from transformers.masking_utils import create_causal_mask
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS, dynamic_rope_update

from .attention import AttentionInputs, masked_scores, repeat_kv, rotation_factors
from .component_registry import POSITIONAL_ENCODINGS

# Attention backends that accept an arbitrary boolean or additive [b, h, q, kv] mask.
MASK_BACKENDS = ("eager", "sdpa")


def causal_mask(config, hidden_states, attention_mask, cache, position_ids, materialize: bool):
    """The causal (and padding) mask of one forward call.

    A cache that knows its own slots (``StaticKVCache``) builds it from them, which costs a few element-wise ops;
    any other goes through transformers' ``create_causal_mask``, which serves every attention backend.
    ``materialize`` asks for a boolean [b, 1, q, kv] tensor (eager/sdpa only) instead of None or a backend object.
    """
    build = getattr(cache, "attention_mask_for", None)
    if build is not None:
        return build(attention_mask, hidden_states.shape[1], hidden_states.dtype, materialize)
    # The cache goes by position: its keyword is `past_key_values` before transformers 5.24 and `cache` after.
    mask = create_causal_mask(
        config, hidden_states, attention_mask, cache, position_ids=position_ids, allow_is_causal_skip=not materialize
    )
    if materialize and mask is not None and mask.dtype != torch.bool:
        mask = mask == 0  # additive with 0 where allowed
    return mask


class PositionalEncoding(nn.Module):
    """Base class: no absolute vectors, no rotation, a plain causal mask."""

    # Whether the scheme changes attention scores per (query, key) pair, so the mask must be a tensor.
    materializes_mask = False

    def __init__(self, config):
        super().__init__()

    def add_to_embeddings(self, embeddings: torch.Tensor, position_ids: torch.LongTensor) -> torch.Tensor:
        return embeddings

    def rotary_embeddings(self, reference: torch.Tensor, position_ids: torch.LongTensor):
        """Llama's (cos, sin) tables [b, q, head_dim] for rotary schemes, else None."""
        return None

    def rotation_factors(self, reference: torch.Tensor, position_ids: torch.LongTensor):
        """What ``AttentionInputs.rotary`` carries: ``rotation_factors`` of the rotary tables, or None."""
        tables = self.rotary_embeddings(reference, position_ids)
        return None if tables is None else rotation_factors(*tables)

    @staticmethod
    def per_layer_module(config, head_dim: int):
        """Parameters the scheme needs inside each attention layer (an ``nn.Module`` with ``attend``), or None."""
        return None

    def attention_inputs(self, config, hidden_states, attention_mask, cache, position_ids) -> AttentionInputs:
        implementation = config._attn_implementation
        if self.materializes_mask and implementation not in MASK_BACKENDS:
            raise ValueError(
                f"attn_implementation={implementation!r} cannot carry positional_encoding_type="
                f"{config.positional_encoding_type!r}; allowed: {', '.join(MASK_BACKENDS)}"
            )
        mask = causal_mask(config, hidden_states, attention_mask, cache, position_ids, self.materializes_mask)
        inputs = AttentionInputs(
            mask=mask, rotary=self.rotation_factors(hidden_states, position_ids), implementation=implementation
        )
        if self.materializes_mask:
            past_length = mask.shape[-1] - hidden_states.shape[1]
            query_index = torch.arange(past_length, mask.shape[-1], device=hidden_states.device)
            key_index = torch.arange(mask.shape[-1], device=hidden_states.device)
            self.score_inputs(inputs, hidden_states.dtype, query_index, key_index)
        return inputs

    def score_inputs(self, inputs: AttentionInputs, dtype, query_index, key_index):
        """Schemes with ``materializes_mask``: turn the boolean mask into what their attention needs."""

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
    """Unscaled RoPE frequencies theta^(-2i/d); transformers keeps this one per model class, not in ROPE_INIT_FUNCTIONS."""
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))


@POSITIONAL_ENCODINGS.register("rope")
class RotaryPositionalEncoding(PositionalEncoding):
    """Rotary embeddings (Su et al. 2021) in the half-split convention of Hugging Face's Llama.

    Frequencies come from transformers' ``ROPE_INIT_FUNCTIONS`` for a scaled ``rope_parameters["rope_type"]``
    (linear, dynamic, yarn, llama3, ...), so a TinyLM scales exactly as the Llama it exports to; dynamic types are
    updated per call by transformers' ``dynamic_rope_update``. The original code rotates interleaved pairs (0,1),
    (2,3), ...; the two conventions compute the same function once q and k rows are permuted, which is what
    ``conversion/`` does when reading original checkpoints.
    """

    def __init__(self, config):
        super().__init__(config)
        self.config = config
        self.rope_type = config.rope_parameters["rope_type"]
        # What dynamic_rope_update reads: the pretraining length and the longest length seen so far.
        self.max_seq_len_cached = self.original_max_seq_len = config.max_position_embeddings
        inv_freq, self.attention_scaling = self.frequencies()
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)

    def frequencies(self, device=None):
        if self.rope_type == "default":
            return rotary_inverse_frequencies(self.config.head_dim, self.config.rope_theta).to(device), 1.0
        return ROPE_INIT_FUNCTIONS[self.rope_type](self.config, device)

    def reset_parameters(self):
        inv_freq, self.attention_scaling = self.frequencies(self.inv_freq.device)
        with torch.no_grad():
            self.inv_freq.copy_(inv_freq)
            self.original_inv_freq.copy_(inv_freq)
        self.max_seq_len_cached = self.original_max_seq_len

    @dynamic_rope_update
    def forward(self, reference, position_ids):
        # No autograd to switch off: integer positions times a buffer.
        # Angles in float32 whatever the model dtype: bf16 angles lose whole radians at long positions.
        angles = position_ids[..., None].to(torch.float32) * self.inv_freq.to(reference.device)
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        if self.attention_scaling != 1.0:
            cos, sin = cos * self.attention_scaling, sin * self.attention_scaling
        return cos.to(reference.dtype), sin.to(reference.dtype)

    def rotary_embeddings(self, reference, position_ids):
        return self(reference, position_ids)


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

    materializes_mask = True

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

    def score_inputs(self, inputs, dtype, query_index, key_index):
        bias = self.score_bias(query_index, key_index).to(dtype)[None]
        inputs.mask = torch.where(inputs.mask, bias, torch.finfo(dtype).min)


@POSITIONAL_ENCODINGS.register("shaw_relative")
class ShawRelativePositionalEncoding(PositionalEncoding):
    """Shaw et al. (2018): distances clipped to ±max_relative_position index learned vectors in each attention layer."""

    materializes_mask = True

    def __init__(self, config):
        super().__init__(config)
        self.max_distance = config.max_relative_position

    @staticmethod
    def per_layer_module(config, head_dim: int):
        return ShawRelativeEmbeddings(config.max_relative_position, head_dim)

    def relative_buckets(self, query_index, key_index):
        distance = key_index[None, :] - query_index[:, None]
        return distance.clamp(-self.max_distance, self.max_distance) + self.max_distance  # [q, kv] in [0, 2k]

    def score_inputs(self, inputs, dtype, query_index, key_index):
        inputs.relative_buckets = self.relative_buckets(query_index, key_index)


class ShawRelativeEmbeddings(nn.Module):
    """Per-layer learned vectors a^K and a^V for each clipped distance, shared by all heads as in the paper."""

    def __init__(self, max_distance: int, head_dim: int):
        super().__init__()
        self.keys = nn.Parameter(torch.zeros(2 * max_distance + 1, head_dim))
        self.values = nn.Parameter(torch.zeros(2 * max_distance + 1, head_dim))

    def attend(self, module, query, key, value, inputs: AttentionInputs, scaling: float, dropout: float):
        """e_ij = q_i·(k_j + a^K_ij) / √d ; z_i = Σ_j α_ij (v_j + a^V_ij), a^· indexed by the clipped distance j − i.

        Instead of materialising a [q, kv, d] tensor of relative vectors, queries are scored against the 2k+1 key
        vectors once and gathered per pair, and attention weights are summed per distance before meeting a^V.
        """
        key = repeat_kv(key, module.num_key_value_groups)
        value = repeat_kv(value, module.num_key_value_groups)
        batch, heads, q_len, _ = query.shape
        buckets = inputs.relative_buckets.expand(batch, heads, q_len, inputs.relative_buckets.shape[-1])
        scores = torch.matmul(query, key.transpose(2, 3))
        scores = scores + torch.gather(torch.matmul(query, self.keys.to(query.dtype).t()), -1, buckets)
        scores = masked_scores(scores * scaling, inputs.mask)
        weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        weights = nn.functional.dropout(weights, p=dropout, training=module.training)
        output = torch.matmul(weights, value)
        per_distance = torch.zeros(
            batch, heads, q_len, self.values.shape[0], dtype=weights.dtype, device=weights.device
        ).scatter_add_(-1, buckets, weights)
        output = output + torch.matmul(per_distance, self.values.to(weights.dtype))
        return output.transpose(1, 2).contiguous(), weights
