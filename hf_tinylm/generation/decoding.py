"""Decoders: turn a causal LM into "prefill the prompt, then one token per step", returning last-position logits.

A generator never calls the model itself; it opens a *session* on a decoder and alternates
``logits = session.prefill()`` / ``logits = session.step(next_ids)``. Three decoders share that shape:

- ``StaticCacheDecoder`` (TinyLM): our own loop. Keys and values go into a cache preallocated for the whole
  generation; each step runs the model's own modules (embedder, norms, projections, FFN, head) and does the
  attention itself against the cache, skipping transformers' per-call machinery (mask construction, cache
  objects, output dataclasses). With ``compile`` the one-token step is compiled by ``torch.compile``
  (``COMPILE_MODES``).
- ``TransformersDecoder``: any transformers causal LM through ``model(input_ids, attention_mask=, cache=)`` and a
  ``DynamicCache``. It is the path for models the static decoder does not know (Llama, adapters, byte-level
  models) and the reference the static decoder is tested against.
- ``UncachedDecoder``: re-runs the whole sequence every step; the baseline of the cache study and of tests.

Every decoder takes left-padded batches (``attention_mask`` with 0 on padding). Positions skip padding, so a
padded row gets the positions it would have alone, exactly as ``TinyLMModel.forward`` assigns them.
"""

import contextlib
import inspect
import sys
import types
import warnings

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache

from ..modeling_tinylm import default_position_ids

# Cache lengths are rounded up to a multiple of this when compiling, so one compiled step serves many lengths.
COMPILE_LENGTH_BUCKET = 128

# How the static decoder's one-token step may be compiled (``compile=True`` means "default"):
# - "default": torch.compile as is; weights stay inputs of the compiled step. Compiles in seconds.
# - "max-autotune": inductor freezes the weights into the compiled step, packed for its own C++ matrix kernels
#   (kept where timing shows them faster than oneDNN/MKL) — up to twice as fast again for small models on CPU,
#   markedly in bfloat16, for a longer first compile (~1 min). Frozen weights are copies: the decoder notices
#   in-place weight updates (an optimizer step, load_state_dict) when a session opens and compiles again.
COMPILE_MODES = ("default", "max-autotune")


def normalize_compile_mode(compile):
    """``compile`` option → None (eager) or one of ``COMPILE_MODES``."""
    if compile is False or compile is None:
        return None
    if compile is True:
        return "default"
    if isinstance(compile, str) and compile in COMPILE_MODES:
        return compile
    raise ValueError(f"compile={compile!r} is invalid; allowed: False, True, {', '.join(map(repr, COMPILE_MODES))}")


def weights_signature(model) -> tuple:
    """Identity and in-place version of every parameter and buffer: changes whenever a weight does."""
    tensors = list(model.parameters()) + list(model.buffers())
    # Inference tensors keep no version counter (and cannot be changed in place outside inference mode).
    return tuple((tensor.data_ptr(), 0 if tensor.is_inference() else tensor._version) for tensor in tensors)


def prompt_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each prompt token counting real tokens only (padding gets 0), as the model assigns them."""
    return default_position_ids(attention_mask, 0, attention_mask.shape[1], attention_mask.device)


def check_prompt(input_ids: torch.Tensor, attention_mask) -> tuple:
    if input_ids.ndim == 1:
        input_ids = input_ids[None]
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must be a non-empty [batch, length] tensor, got shape {tuple(input_ids.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    elif attention_mask.ndim == 1:
        attention_mask = attention_mask[None]
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} does not match input_ids {tuple(input_ids.shape)}"
        )
    if not bool((attention_mask != 0).any(-1).all()):
        raise ValueError("every sequence needs at least one real token (a row of attention_mask is all zeros)")
    return input_ids.long(), attention_mask.to(device=input_ids.device, dtype=torch.long)


@contextlib.contextmanager
def _frozen_tracing(inductor_config):
    with inductor_config.patch(freezing=True), warnings.catch_warnings():
        # Inductor's kernel timing touches a deprecated storage API; the warning is torch's, not the user's.
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        yield


class Decoder:
    """Builds sessions; holds whatever outlives one generation (a compiled step, for instance)."""

    def session(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int):
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------------------------
# Our own loop for TinyLM: a preallocated cache and a short hot path through the model's modules.
# ---------------------------------------------------------------------------------------------------------------

_BLOCK_CLASSES = {"TransformerBlock"}
_CORE_CLASSES = {"GenericTransformerCore", "FFNSharingTransformerCore"}


def static_cache_unsupported_reason(model):
    """None when ``StaticCacheDecoder`` can run ``model``, else why not.

    Classes are recognised by name, so the copies transformers loads from a saved folder (trust_remote_code)
    qualify as well as ``hf_tinylm``'s own; a component registered later under a new name falls back to the
    generic decoder instead of being run with the wrong arithmetic.
    """
    if getattr(getattr(model, "config", None), "model_type", None) != "tinylm":
        return "not a TinyLM model"
    inner = getattr(model, "model", None)
    embedder, core = getattr(inner, "embedder", None), getattr(inner, "core", None)
    head = getattr(model, "lm_head", None)
    if type(embedder).__name__ != "GenericEmbedder":
        return f"embedder {type(embedder).__name__}"
    if type(core).__name__ not in _CORE_CLASSES:
        return f"core {type(core).__name__}"
    if type(head).__name__ != "GenericLMHead":
        return f"head {type(head).__name__}"
    for block in core.h:
        if type(block).__name__ not in _BLOCK_CLASSES:
            return f"block {type(block).__name__}"
        if type(block.attn).__name__ != "SelfAttention":
            return f"attention {type(block.attn).__name__}"
        if not block.attn.is_causal:
            return "bidirectional attention"
    return None


class StaticCacheDecoder(Decoder):
    """Our KV-cached decoding loop for TinyLM (see the module docstring).

    Exactness: every sub-module is the model's own, called the way ``TransformerBlock`` calls it; what differs is
    where keys and values live (one preallocated tensor per layer instead of a growing ``DynamicCache``) and the
    mask (built here from a table of which cache slots hold real tokens). Greedy tokens are therefore the ones
    ``model.generate()`` picks; the tests check it for every positional scheme.

    With ``compile`` (True, "default" or "max-autotune"; see ``COMPILE_MODES``) the one-token step goes through
    ``torch.compile`` (fixed shapes: the whole cache, whose length is rounded up to a multiple of
    ``COMPILE_LENGTH_BUCKET`` so one compilation serves many lengths). The compiled step writes one-token
    attention out for inductor to fuse and may sum in another order: its tokens are checked against eager
    decoding in slow tests and in ``bench/generate.py``, not guaranteed bit for bit.
    """

    def __init__(self, model, compile=False):
        reason = static_cache_unsupported_reason(model)
        if reason is not None:
            raise ValueError(f"StaticCacheDecoder cannot run this model ({reason}); use TransformersDecoder")
        self.model = model
        self.embedder = model.model.embedder
        self.positions = self.embedder.positional_encoding
        self.blocks = list(model.model.core.h)
        self.head = model.lm_head
        attention = self.blocks[0].attn
        # The attention helpers of the model's own module (hf_tinylm's, or the copy saved with the weights).
        attention_module = sys.modules[type(attention).__module__]
        self._shaw_attention = attention_module.shaw_relative_attention
        self.num_heads = attention.num_heads
        self.num_kv_heads = attention.num_key_value_heads
        self.head_dim = attention.head_dim
        self.groups = attention.num_key_value_groups
        self.q_size = self.num_heads * self.head_dim
        self.uses_score_bias = self.positions.uses_score_bias
        self.uses_relative_buckets = self.positions.uses_relative_buckets
        self.compile_mode = normalize_compile_mode(compile)
        self._compiled_step = None
        self._frozen_signature = None

    @property
    def compile(self) -> bool:
        return self.compile_mode is not None

    def session(self, input_ids, attention_mask, max_new_tokens):
        return StaticCacheSession(self, input_ids, attention_mask, max_new_tokens)

    def compiled_step(self):
        """The compiled one-token step (compiled again, in "max-autotune" mode, once the frozen weights changed)."""
        if self.compile_mode == "max-autotune" and self._compiled_step is not None:
            if weights_signature(self.model) != self._frozen_signature:
                self._compiled_step = None
        if self._compiled_step is None:
            # Every (decoder, batch size, cache length bucket) compiles this one method once more; dynamo's default
            # of 8 graphs per function would silently fall back to eager after the eighth.
            dynamo_config = torch._dynamo.config
            limit = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
            setattr(dynamo_config, limit, max(getattr(dynamo_config, limit), 64))
            import torch._inductor.config as inductor_config

            options = {}
            # Round intermediate results where eager rounds them: bfloat16 tokens then match eager decoding.
            if hasattr(inductor_config, "emulate_precision_casts"):
                options["emulate_precision_casts"] = True
            step = self.forward
            if self.compile_mode == "max-autotune":
                options["max_autotune"] = True
                # Timing the candidate kernels is an implementation detail: do not print its report.
                quiet = {"max_autotune_report_choices_stats": False, "autotune_num_choices_displayed": 0}
                options.update({name: value for name, value in quiet.items() if hasattr(inductor_config, name)})
                # torch.compile keeps compiled graphs with the code object they came from; frozen ones must not be
                # found again after the weights change, so each compilation gets a code object of its own.
                function = type(self).forward
                fresh = types.FunctionType(
                    function.__code__.replace(), function.__globals__, function.__name__, function.__defaults__,
                    function.__closure__,
                )
                step = types.MethodType(fresh, self)
                self._frozen_signature = weights_signature(self.model)
            self._compiled_step = torch.compile(step, fullgraph=True, dynamic=False, options=options)
        return self._compiled_step

    def compiling_context(self):
        """The context a compiled step is traced in: freezing is read by dynamo while tracing (it decides that
        parameters become constants), so it must be set globally then, not only in torch.compile's options."""
        if self.compile_mode != "max-autotune":
            return contextlib.nullcontext()
        import torch._inductor.config as inductor_config

        return _frozen_tracing(inductor_config)


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
        hidden = self.embedder(tokens, positions)
        rotation = self._rotation(hidden, positions)
        mask, buckets = self._attention_mask(slots, valid, kv_length, hidden.dtype)
        for block, (key_cache, value_cache) in zip(self.blocks, cache):
            attention = block.attn
            projection = attention.c_attn
            qkv = F.linear(block.attn_norm(hidden), projection.weight, projection.bias)
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
            hidden = hidden + block.ffn(block.ffn_norm(hidden))
        return self.head(hidden[:, -1])

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

    def __init__(self, decoder: StaticCacheDecoder, input_ids, attention_mask, max_new_tokens: int):
        input_ids, attention_mask = check_prompt(input_ids, attention_mask)
        self.decoder = decoder
        self.input_ids, self.attention_mask = input_ids, attention_mask
        batch, prompt_length = input_ids.shape
        length = prompt_length + max_new_tokens
        table_size = getattr(decoder.positions, "max_positions", None)  # absolute schemes: learned, sincos
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
        self._step = decoder.compiled_step() if decoder.compile else decoder.forward
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
            with self.decoder.compiling_context():
                logits = self._step(*arguments)
        else:
            logits = self._step(*arguments)
        self.next_slot += 1
        self.slot.add_(1)
        self.next_positions.add_(1)
        return logits


# ---------------------------------------------------------------------------------------------------------------
# Any transformers causal LM, through its forward.
# ---------------------------------------------------------------------------------------------------------------


def _forward_parameters(model) -> set:
    return set(inspect.signature(model.forward).parameters)


class TransformersDecoder(Decoder):
    """Any transformers causal LM: ``model(ids, attention_mask=, position_ids=, cache=DynamicCache)``.

    The cache goes under whichever name the model's forward takes (``cache`` from transformers 5.24 on,
    ``past_key_values`` before); position ids and ``logits_to_keep`` only when the forward accepts them.
    """

    def __init__(self, model):
        self.model = model
        parameters = _forward_parameters(model)
        self.cache_name = "cache" if "cache" in parameters else "past_key_values"
        self.pass_positions = "position_ids" in parameters
        self.pass_logits_to_keep = "logits_to_keep" in parameters

    def session(self, input_ids, attention_mask, max_new_tokens):
        return TransformersSession(self, input_ids, attention_mask)

    def call(self, input_ids, attention_mask, positions, cache):
        kwargs = {"attention_mask": attention_mask, "use_cache": cache is not None}
        if cache is not None:
            kwargs[self.cache_name] = cache
        if self.pass_positions:
            kwargs["position_ids"] = positions
        if self.pass_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        return self.model(input_ids, **kwargs).logits[:, -1]


class TransformersSession:
    def __init__(self, decoder: TransformersDecoder, input_ids, attention_mask):
        self.decoder = decoder
        self.input_ids, self.attention_mask = check_prompt(input_ids, attention_mask)
        self.cache = DynamicCache(config=decoder.model.config)
        self.next_positions = self.attention_mask.sum(-1, keepdim=True)

    @torch.inference_mode()
    def prefill(self) -> torch.Tensor:
        positions = prompt_positions(self.attention_mask)
        return self.decoder.call(self.input_ids, self.attention_mask, positions, self.cache)

    @torch.inference_mode()
    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(self.attention_mask[:, :1])
        self.attention_mask = torch.cat([self.attention_mask, ones], dim=1)
        logits = self.decoder.call(next_ids.view(-1, 1), self.attention_mask, self.next_positions, self.cache)
        self.next_positions = self.next_positions + 1
        return logits


class UncachedDecoder(TransformersDecoder):
    """No cache at all: every step runs the model on the whole sequence so far."""

    def session(self, input_ids, attention_mask, max_new_tokens):
        return UncachedSession(self, input_ids, attention_mask)


class UncachedSession:
    def __init__(self, decoder: UncachedDecoder, input_ids, attention_mask):
        self.decoder = decoder
        self.input_ids, self.attention_mask = check_prompt(input_ids, attention_mask)

    @torch.inference_mode()
    def prefill(self) -> torch.Tensor:
        return self.decoder.call(self.input_ids, self.attention_mask, prompt_positions(self.attention_mask), None)

    @torch.inference_mode()
    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        self.input_ids = torch.cat([self.input_ids, next_ids.view(-1, 1)], dim=1)
        self.attention_mask = torch.cat([self.attention_mask, torch.ones_like(self.attention_mask[:, :1])], dim=1)
        return self.prefill()


DECODERS = ("auto", "static", "transformers", "uncached")


def build_decoder(model, decoder: str = "auto", compile=False) -> Decoder:
    """``"auto"``: our static-cache loop where the model is a TinyLM it knows, else the transformers path.

    ``compile``: False, True (= "default") or "max-autotune" (see ``COMPILE_MODES``); static decoder only.
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder={decoder!r} is invalid; allowed: {', '.join(DECODERS)}")
    compile_mode = normalize_compile_mode(compile)
    if decoder == "auto":
        decoder = "static" if static_cache_unsupported_reason(model) is None else "transformers"
    if compile_mode is not None and decoder != "static":
        raise ValueError(f"compile={compile!r} needs the static-cache decoder; this model uses decoder={decoder!r}")
    if decoder == "static":
        return StaticCacheDecoder(model, compile=compile)
    if decoder == "transformers":
        return TransformersDecoder(model)
    return UncachedDecoder(model)
