"""``StaticKVCache``: keys and values preallocated for a whole generation and written in place, as gpt-fast's.

A transformers ``Cache`` (so ``generate``, the model's forward and any code written for transformers' caches take
it), with one ``StaticKVLayer`` per attention layer. Two ways to read it:

- growing (default): ``update`` returns the filled part only, so attention reads no empty slot;
- ``fixed_length=True`` (for ``torch.compile``): ``update`` returns the whole buffer and the write position is a
  tensor, so every decoding step has the same shapes and one compiled graph serves them all.

The cache also builds the attention mask of a forward call (``attention_mask_for``): it knows which slots the new
queries sit at, so the mask is a few element-wise operations instead of transformers' general mask machinery.
Slot i holds token i of the sequence, padding included, so a 2-D ``attention_mask`` over the whole sequence (what
``generate`` passes) says which slots hold real tokens.
"""

import torch
from transformers.cache_utils import Cache, CacheLayerMixin


class StaticKVLayer(CacheLayerMixin):
    # generate() builds 4-D masks itself for compileable caches; ours builds its own (see attention_mask_for).
    is_compileable = False
    is_croppable = True
    is_sliding = False

    def __init__(self, max_length: int, fixed_length: bool = False):
        super().__init__()
        self.max_length = max_length
        self.fixed_length = fixed_length
        self.length = 0  # tokens stored (growing mode)
        self.write_position = torch.zeros((), dtype=torch.long)  # the same, as a tensor (fixed mode)

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        batch, heads, _, key_dim = key_states.shape
        self.device = key_states.device
        self.keys = key_states.new_zeros((batch, heads, self.max_length, key_dim))
        self.values = value_states.new_zeros((batch, heads, self.max_length, value_states.shape[-1]))
        self.write_position = self.write_position.to(self.device)
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        if self.fixed_length:
            slots = self.write_position + torch.arange(new, device=self.device)
            self.keys.index_copy_(2, slots, key_states)
            self.values.index_copy_(2, slots, value_states)
            self.write_position.add_(new)
            return self.keys, self.values
        end = self.length + new
        if end > self.max_length:
            raise ValueError(f"the cache holds {self.max_length} tokens; {end} do not fit (max_length)")
        self.keys[:, :, self.length : end] = key_states
        self.values[:, :, self.length : end] = value_states
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def get_seq_length(self) -> int:
        return int(self.write_position) if self.fixed_length else self.length

    def get_max_length(self) -> int:
        return self.max_length

    def get_mask_sizes(self, query_length: int) -> tuple:
        return (self.max_length if self.fixed_length else self.length + query_length), 0

    def reset(self) -> None:
        super().reset()
        self.length = 0
        self.write_position.zero_()

    def crop(self, tokens_to_remove: int) -> None:
        # transformers' convention: a negative count removes that many tokens from the end.
        if tokens_to_remove > 0:
            raise ValueError(f"tokens_to_remove={tokens_to_remove} is invalid; allowed: a negative count or 0")
        self.length = max(0, self.length + tokens_to_remove)
        self.write_position.fill_(self.length)

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            self.keys = self.keys.repeat_interleave(repeats, dim=0)
            self.values = self.values.repeat_interleave(repeats, dim=0)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self.keys, self.values = self.keys[indices, ...], self.values[indices, ...]


class StaticKVCache(Cache):
    """One ``StaticKVLayer`` per layer, each allocated at its first ``update`` (shape, dtype and device from it)."""

    def __init__(self, num_layers: int, max_length: int, fixed_length: bool = False):
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"max_length={max_length!r} is invalid; allowed: a positive integer")
        super().__init__(layers=[StaticKVLayer(max_length, fixed_length) for _ in range(num_layers)])
        self.max_length = max_length
        self.fixed_length = fixed_length

    def attention_mask_for(self, attention_mask, query_length: int, dtype, materialize: bool = False):
        """The mask for ``query_length`` new tokens about to be written: None when plain causal attention does,
        else boolean [b, 1, q, kv] (``materialize``) or additive (0 / most negative) in ``dtype``.

        ``attention_mask`` [b, ≥ kv] (1 on real tokens) or None. A padding query attends to itself as well, so its
        row is never empty (an empty softmax row would turn into NaN and spread through the values).
        """
        layer = self.layers[0]
        if self.fixed_length:
            past, kv_length = layer.write_position.to(layer.device if layer.is_initialized else "cpu"), self.max_length
        else:
            past, kv_length = layer.length, layer.length + query_length
            if attention_mask is None and not materialize and (query_length == 1 or past == 0):
                return None
        device = attention_mask.device if attention_mask is not None else (
            layer.device if layer.is_initialized else torch.device("cpu")
        )
        key_slots = torch.arange(kv_length, device=device)
        query_slots = past + torch.arange(query_length, device=device)
        allowed = key_slots[None, :] <= query_slots[:, None]  # [q, kv]
        if attention_mask is not None:
            if attention_mask.shape[-1] < kv_length and not self.fixed_length:
                raise ValueError(
                    f"attention_mask covers {attention_mask.shape[-1]} tokens; the cache holds {kv_length} after this "
                    f"call (allowed: a mask over the whole sequence, cached tokens included)"
                )
            valid = attention_mask[:, :kv_length].bool()
            if valid.shape[-1] < kv_length:  # fixed mode: slots past the mask are not written yet
                valid = torch.nn.functional.pad(valid, (0, kv_length - valid.shape[-1]))
            itself = key_slots[None, :] == query_slots[:, None]
            allowed = (allowed[None] & valid[:, None, :]) | itself[None]  # [b, q, kv]
            allowed = allowed[:, None]
        else:
            allowed = allowed[None, None]
        if materialize:
            return allowed
        # sdpa turns a boolean mask into an additive one in every layer; do it once per forward call instead.
        return torch.zeros((), dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)
