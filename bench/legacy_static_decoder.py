"""Yesterday's decoding loop (commit 054b6e6's ``StaticCacheDecoder``, eager only), kept here while issue 13's
one-forward-path decoder is measured against it in the same run; rope models only (the benchmark's L and S).

It re-implements the block, attention and rotary arithmetic by hand — what issue 13 removed from the package.
Delete once the comparison is recorded in docs/benchmarks.md.
"""

import sys

import torch
import torch.nn.functional as F

from hf_tinylm.generation.decoding import check_prompt, prompt_positions


def rms_norm(module, hidden_states):
    """RMSNorm as 054b6e6 computed it (written out; the package now calls torch's fused kernel)."""
    input_dtype = hidden_states.dtype
    hidden_states = hidden_states.to(torch.float32)
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + module.eps)
    return module.weight * hidden_states.to(input_dtype)


class LegacyStaticCacheDecoder:
    def __init__(self, model):
        self.model = model
        self.embedder = model.model.embedder
        self.positions = model.model.positions
        self.blocks = list(model.model.core.h)
        self.head = model.lm_head
        attention = self.blocks[0].attn
        self.num_heads = attention.num_heads
        self.num_kv_heads = attention.num_key_value_heads
        self.head_dim = attention.head_dim
        self.groups = attention.num_key_value_groups
        self.q_size = self.num_heads * self.head_dim
        self.uses_score_bias = False
        self.uses_relative_buckets = False
        self.compile = False

    def session(self, input_ids, attention_mask, max_new_tokens):
        return StaticCacheSession(self, input_ids, attention_mask, max_new_tokens)

    def new_cache(self, batch: int, length: int):
        weight = self.blocks[0].attn.c_attn.weight
        shape = (batch, self.num_kv_heads, length, self.head_dim)
        return [
            (torch.zeros(shape, dtype=weight.dtype, device=weight.device),
             torch.zeros(shape, dtype=weight.dtype, device=weight.device))
            for _ in self.blocks
        ]

    def forward(self, tokens, positions, slots, valid, cache, kv_length: int):
        """Run ``tokens`` [b, q] at cache ``slots`` [q]; returns the last position's logits [b, vocab].

        ``valid`` [b, cache length] says which slots hold real tokens (the new ones included); attention reads
        the first ``kv_length`` slots. Padding queries attend to themselves only, so they stay finite.
        """
        batch, length = tokens.shape
        heads, kv_heads, head_dim = self.num_heads, self.num_kv_heads, self.head_dim
        hidden = self.embedder(tokens)
        rotation = self._rotation(hidden, positions)
        mask, buckets = self._attention_mask(slots, valid, kv_length, hidden.dtype)
        for block, (key_cache, value_cache) in zip(self.blocks, cache):
            attention = block.attn
            projection = attention.c_attn
            qkv = F.linear(rms_norm(block.attn_norm, hidden), projection.weight, projection.bias)
            # [b, q, heads + 2 kv_heads, d] → [b, heads + 2 kv_heads, q, d]: queries, keys, values side by side.
            qkv = qkv.view(batch, length, heads + 2 * kv_heads, head_dim).transpose(1, 2)
            query_key, value = qkv[:, : heads + kv_heads], qkv[:, heads + kv_heads :]
            if rotation is not None:
                cos, signed_sin = rotation
                # rotate_half(x) * sin == roll(x, d/2) * [-sin, sin], element for element: the model's arithmetic.
                query_key = query_key * cos + query_key.roll(head_dim // 2, -1) * signed_sin
            query, key = query_key[:, :heads], query_key[:, heads:]
            key_cache.index_copy_(2, slots, key)
            value_cache.index_copy_(2, slots, value)
            keys, values = key_cache.narrow(2, 0, kv_length), value_cache.narrow(2, 0, kv_length)
            if buckets is not None:
                output, _ = self._shaw_attention(attention, query, keys, values, mask, buckets, attention.scaling, 0.0)
            elif length == 1 and torch.compiler.is_compiling():
                output = self._attend_one_token(query, keys, values, mask, attention.scaling)
            else:
                output = F.scaled_dot_product_attention(
                    query, keys, values, attn_mask=mask, scale=attention.scaling, enable_gqa=self.groups > 1
                ).transpose(1, 2)
            output = output.reshape(batch, length, self.q_size)
            hidden = hidden + F.linear(output, attention.c_proj.weight, attention.c_proj.bias)
            hidden = hidden + block.ffn(rms_norm(block.ffn_norm, hidden))
        return self.head.linear(rms_norm(self.head.norm, hidden[:, -1]))

    def _attend_one_token(self, query, keys, values, mask, scaling: float):
        """Softmax attention of one query per head, written out so that ``torch.compile`` fuses it (sdpa stays an
        opaque kernel call); the query heads sharing a key/value head go side by side, with no repeat_kv copy."""
        batch, kv_heads, groups = query.shape[0], self.num_kv_heads, self.groups
        grouped = query.reshape(batch, kv_heads, groups, self.head_dim)
        if mask.shape[1] != 1:  # a bias per query head (ALiBi)
            mask = mask.reshape(batch, kv_heads, groups, mask.shape[-1])
        scores = torch.matmul(grouped, keys.transpose(2, 3)) * scaling + mask
        weights = scores.softmax(dim=-1, dtype=torch.float32).to(values.dtype)
        return torch.matmul(weights, values).reshape(batch, 1, self.num_heads, self.head_dim)

    def _rotation(self, hidden, positions):
        """The model's rotary (cos, sin) as [b, 1, q, d] factors for ``x * cos + roll(x) * signed_sin``, or None."""
        rotary = self.positions.rotary_embeddings(hidden, positions)
        if rotary is None:
            return None
        cos, sin = rotary
        half = self.head_dim // 2
        signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
        return cos.unsqueeze(1), signed_sin.unsqueeze(1)

    def _attention_mask(self, slots, valid, kv_length: int, dtype):
        """The attention mask and Shaw's relative buckets (or None).

        The mask is additive ([b, 1, q, kv], 0 or -inf; [b, heads, q, kv] with ALiBi's bias), except with Shaw
        positions, whose attention takes the boolean [b, 1, q, kv] table itself.
        """
        key_slots = torch.arange(kv_length, device=valid.device)
        keys_valid = valid[:, None, None, :kv_length]
        if slots.shape[0] == 1:
            # One new token: it sees every valid slot (later slots are not valid yet).
            allowed = keys_valid
        else:
            causal = key_slots[None, :] <= slots[:, None]
            allowed = (causal[None, None] & keys_valid) | (key_slots[None, :] == slots[:, None])[None, None]
        buckets = None
        if self.uses_relative_buckets:
            buckets = self.positions.relative_buckets(slots, key_slots)
        if self.uses_score_bias:
            bias = self.positions.score_bias(slots, key_slots)
            return torch.where(allowed, bias.to(dtype)[None], torch.finfo(dtype).min), buckets
        if buckets is not None:
            return allowed, buckets
        # sdpa turns a boolean mask into this additive one in every layer; do it once per step instead.
        return torch.zeros((), dtype=dtype, device=valid.device).masked_fill(~allowed, float("-inf")), None


class StaticCacheSession:
    """One generation on a ``StaticCacheDecoder``: the cache, the valid-slot table and the next positions."""

    def __init__(self, decoder: LegacyStaticCacheDecoder, input_ids, attention_mask, max_new_tokens: int):
        input_ids, attention_mask = check_prompt(input_ids, attention_mask)
        self.decoder = decoder
        self.input_ids, self.attention_mask = input_ids, attention_mask
        batch, prompt_length = input_ids.shape
        length = prompt_length + max_new_tokens
        table_size = None  # absolute schemes: learned, sincos
        last_position = int(attention_mask.sum(-1).max()) + max_new_tokens - 1
        if table_size is not None and last_position >= table_size:
            raise ValueError(
                f"prompt + max_new_tokens reach position {last_position}, outside the positional table of "
                f"max_position_embeddings={table_size}; shorten the prompt or ask for fewer tokens"
            )
        if decoder.compile:
            length = -(-length // COMPILE_LENGTH_BUCKET) * COMPILE_LENGTH_BUCKET
        self.cache = decoder.new_cache(batch, length)
        self.valid = torch.zeros(batch, length, dtype=torch.bool, device=input_ids.device)
        self.valid[:, :prompt_length] = attention_mask.bool()
        self.next_slot = prompt_length
        self.capacity = prompt_length + max_new_tokens
        self.slot = torch.tensor([prompt_length], device=input_ids.device)
        self.next_positions = attention_mask.sum(-1, keepdim=True)
        self._step = decoder.forward
        # A compiled step is traced (or found again) at the session's first step: shapes stay fixed after it.
        self._first_step = True
        self._full_length = length

    @torch.inference_mode()
    def prefill(self) -> torch.Tensor:
        slots = torch.arange(self.input_ids.shape[1], device=self.input_ids.device)
        positions = prompt_positions(self.attention_mask)
        return self.decoder.forward(self.input_ids, positions, slots, self.valid, self.cache, self.input_ids.shape[1])

    @torch.inference_mode()
    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        if self.next_slot >= self.capacity:
            raise RuntimeError(f"the session's cache holds {self.capacity} tokens; no room for another step")
        slot = self.next_slot
        self.valid[:, slot] = True
        # The compiled step always reads the whole cache (fixed shapes); eager reads only the filled part.
        kv_length = self._full_length if self.decoder.compile else slot + 1
        arguments = (next_ids.view(-1, 1), self.next_positions, self.slot, self.valid, self.cache, kv_length)
        if self._first_step:
            self._first_step = False
            logits = self._step(*arguments)
        else:
            logits = self._step(*arguments)
        self.next_slot += 1
        self.slot.add_(1)
        self.next_positions.add_(1)
        return logits


