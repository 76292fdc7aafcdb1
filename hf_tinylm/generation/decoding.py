"""Decoders: turn a causal LM into "prefill the prompt, then one token per step", returning last-position logits.

A generator never calls the model itself; it opens a *session* on a decoder and alternates
``logits = session.prefill()`` / ``logits = session.step(next_ids)``. Every session runs the model's own forward,
``model(ids, attention_mask=, position_ids=, cache=, logits_to_keep=1)``; decoders differ only in the cache:

- ``CachedDecoder(model, cache="static")``: a ``StaticKVCache`` (preallocated for the whole generation, written in
  place, gpt-fast style) for models that declare ``supports_static_kv_cache`` (TinyLM); with ``compile`` the
  one-token step is compiled by ``torch.compile`` over a fixed-length cache (``COMPILE_MODES``).
  ``model.generate()`` uses the same cache (``TinyLMForCausalLM._prepare_cache_for_generation``).
- ``CachedDecoder(model, cache="dynamic")``: transformers' ``DynamicCache``, for any other causal LM.
- ``UncachedDecoder``: re-runs the whole sequence every step; the baseline of the cache study and of tests.

Every decoder takes left-padded batches (``attention_mask`` with 0 on padding). Positions skip padding, so a
padded row gets the positions it would have alone, exactly as ``TinyLMModel.forward`` assigns them.
"""

import contextlib
import inspect
import types
import warnings

import torch
from transformers.cache_utils import DynamicCache
from transformers.utils import logging

from ..modeling.modeling_tinylm import default_position_ids
from ..modeling.static_cache import StaticKVCache

logger = logging.get_logger(__name__)

# Cache lengths are rounded up to a multiple of this when compiling, so one compiled step serves many lengths.
COMPILE_LENGTH_BUCKET = 128

# How the one-token step may be compiled (``compile=True`` means "default"):
# - "default": torch.compile as is; weights stay inputs of the compiled step. Compiles in seconds.
# - "max-autotune": inductor freezes the weights into the compiled step, packed for its own C++ matrix kernels
#   (kept where timing shows them faster than oneDNN/MKL) — up to twice as fast again for small models on CPU,
#   markedly in bfloat16, for a longer first compile (~1 min). Frozen weights are copies: the decoder notices
#   in-place weight updates (an optimizer step, load_state_dict) when a session opens and compiles again.
#   Autotune results are cached per machine (inductor's cache folder): a cache first filled while the machine was
#   busy keeps the kernels timed then (docs/benchmarks.md).
COMPILE_MODES = ("default", "max-autotune")
CACHE_KINDS = ("static", "dynamic")


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


def supports_static_cache(model) -> bool:
    """Whether the model declares that its forward takes a ``StaticKVCache`` (TinyLM does)."""
    return bool(getattr(model, "supports_static_kv_cache", False))


@contextlib.contextmanager
def _frozen_tracing(inductor_config):
    with inductor_config.patch(freezing=True), warnings.catch_warnings():
        # Inductor's kernel timing touches a deprecated storage API; the warning is torch's, not the user's.
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        yield


class Decoder:
    """Builds sessions; holds whatever outlives one generation (a compiled step, for instance)."""

    def __init__(self, model):
        self.model = model
        parameters = set(inspect.signature(model.forward).parameters)
        # The cache's keyword: `cache` from transformers 5.24 on, `past_key_values` before.
        self.cache_name = "cache" if "cache" in parameters else "past_key_values"
        self.pass_positions = "position_ids" in parameters
        self.pass_logits_to_keep = "logits_to_keep" in parameters
        # A forward that takes return_dict itself (TinyLM's) builds a plain tuple, logits first, without the
        # ModelOutput; others (transformers' decorator) would build it anyway, so they keep the default.
        self.ask_for_tuple = "return_dict" in parameters

    def session(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int):
        raise NotImplementedError

    def call(self, input_ids, attention_mask, positions, cache):
        """The model's forward on ``input_ids``; the last position's logits [batch, vocab]."""
        kwargs = {"attention_mask": attention_mask, "use_cache": cache is not None, "output_hidden_states": False}
        if cache is not None:
            kwargs[self.cache_name] = cache
        if self.pass_positions:
            kwargs["position_ids"] = positions
        if self.pass_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        if self.ask_for_tuple:
            return self.model(input_ids, return_dict=False, **kwargs)[0][:, -1]
        return self.model(input_ids, **kwargs).logits[:, -1]


class CachedDecoder(Decoder):
    """The model's forward with a cache kept across steps (see the module docstring).

    ``cache``: "static" (``StaticKVCache``; the model must declare ``supports_static_kv_cache``) or "dynamic".
    ``compile`` (static only): False, True / "default", or "max-autotune" (``COMPILE_MODES``). The compiled step
    reads a fixed-length cache whose length is rounded up to a multiple of ``COMPILE_LENGTH_BUCKET``; it may sum in
    another order than eager, so its tokens are checked against eager decoding in slow tests and in
    ``bench/generate.py``, not guaranteed bit for bit.
    """

    def __init__(self, model, cache: str = "static", compile=False):
        super().__init__(model)
        if cache not in CACHE_KINDS:
            raise ValueError(f"cache={cache!r} is invalid; allowed: {', '.join(CACHE_KINDS)}")
        if cache == "static" and not supports_static_cache(model):
            raise ValueError(
                f"{type(model).__name__} does not declare supports_static_kv_cache; use cache='dynamic'"
            )
        self.cache_kind = cache
        self.compile_mode = normalize_compile_mode(compile)
        if self.compile_mode is not None and cache != "static":
            raise ValueError(f"compile={compile!r} needs cache='static'; this decoder uses cache={cache!r}")
        self._compiled_step = None
        self._frozen_signature = None

    @property
    def compile(self) -> bool:
        return self.compile_mode is not None

    def session(self, input_ids, attention_mask, max_new_tokens):
        return CachedSession(self, input_ids, attention_mask, max_new_tokens)

    def new_cache(self, length: int):
        if self.cache_kind == "dynamic":
            return DynamicCache(config=self.model.config)
        return StaticKVCache(self.model.config.num_hidden_layers, length, fixed_length=self.compile)

    def compiled_step(self):
        """The compiled one-token ``call`` (compiled again, in "max-autotune" mode, once the frozen weights changed)."""
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
            step = self.call
            if self.compile_mode == "max-autotune":
                options["max_autotune"] = True
                # Timing the candidate kernels is an implementation detail: do not print its report.
                quiet = {"max_autotune_report_choices_stats": False, "autotune_num_choices_displayed": 0}
                options.update({name: value for name, value in quiet.items() if hasattr(inductor_config, name)})
                # torch.compile keeps compiled graphs with the code object they came from; frozen ones must not be
                # found again after the weights change, so each compilation gets a code object of its own.
                function = Decoder.call
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


class CachedSession:
    """One generation on a ``CachedDecoder``: the cache, the table of real tokens and the next positions."""

    def __init__(self, decoder: CachedDecoder, input_ids, attention_mask, max_new_tokens: int):
        input_ids, attention_mask = check_prompt(input_ids, attention_mask)
        self.decoder = decoder
        self.input_ids, self.attention_mask = input_ids, attention_mask
        batch, prompt_length = input_ids.shape
        limit = getattr(decoder.model, "position_limit", None)  # absolute schemes: learned, sincos
        last_position = int(attention_mask.sum(-1).max()) + max_new_tokens - 1
        if limit is not None and last_position >= limit:
            raise ValueError(
                f"prompt + max_new_tokens reach position {last_position}, outside the positional table of "
                f"max_position_embeddings={limit}; shorten the prompt or ask for fewer tokens"
            )
        self.capacity = prompt_length + max_new_tokens
        context = getattr(decoder.model.config, "max_position_embeddings", None)
        if limit is None and isinstance(context, int) and last_position >= context:
            logger.warning_once(
                f"prompt + max_new_tokens reach position {last_position}, past max_position_embeddings={context}; "
                "this model's positions run on there, untrained"
            )
        length = self.capacity
        if decoder.compile:
            length = -(-length // COMPILE_LENGTH_BUCKET) * COMPILE_LENGTH_BUCKET
        self.cache = decoder.new_cache(length)
        # Which slots hold real tokens: the 2-D attention mask over the whole sequence, grown one slot per step.
        self.valid = torch.zeros(batch, length, dtype=torch.long, device=input_ids.device)
        self.valid[:, :prompt_length] = attention_mask
        self.length = prompt_length
        # Without padding an eager step needs no mask at all (one query attends to every filled slot).
        self.padded = not bool(attention_mask.bool().all())
        self.next_positions = attention_mask.sum(-1, keepdim=True)
        self._step = decoder.compiled_step() if decoder.compile else decoder.call
        # A compiled step is traced (or found again) at the session's first step: shapes stay fixed after it.
        self._first_step = True

    def _mask(self, length: int):
        # The compiled step reads the whole fixed-length cache; eager steps only the filled part.
        if self.decoder.compile:
            return self.valid
        return self.valid[:, :length] if self.padded else None

    @torch.inference_mode()
    def prefill(self) -> torch.Tensor:
        positions = prompt_positions(self.attention_mask)
        return self.decoder.call(self.input_ids, self._mask(self.length), positions, self.cache)

    @torch.inference_mode()
    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        if self.length >= self.capacity:
            raise RuntimeError(f"the session's cache holds {self.capacity} tokens; no room for another step")
        self.valid[:, self.length] = 1
        arguments = (next_ids.view(-1, 1), self._mask(self.length + 1), self.next_positions, self.cache)
        if self._first_step and self.decoder.compile:
            with self.decoder.compiling_context():
                logits = self._step(*arguments)
        else:
            logits = self._step(*arguments)
        self._first_step = False
        self.length += 1
        # In place: a new tensor made under inference_mode would differ from the traced one and recompile the step.
        self.next_positions.add_(1)
        return logits


class StaticCacheDecoder(CachedDecoder):
    """``CachedDecoder`` with our ``StaticKVCache`` (the default for TinyLM)."""

    def __init__(self, model, compile=False):
        super().__init__(model, cache="static", compile=compile)


class TransformersDecoder(CachedDecoder):
    """``CachedDecoder`` with transformers' ``DynamicCache`` (any transformers causal LM)."""

    def __init__(self, model):
        super().__init__(model, cache="dynamic")


class UncachedDecoder(Decoder):
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
    """``"auto"``: the static cache where the model supports it, else transformers' dynamic cache.

    ``compile``: False, True (= "default") or "max-autotune" (see ``COMPILE_MODES``); static cache only.
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder={decoder!r} is invalid; allowed: {', '.join(DECODERS)}")
    compile_mode = normalize_compile_mode(compile)
    if decoder == "auto":
        decoder = "static" if supports_static_cache(model) else "transformers"
    if compile_mode is not None and decoder != "static":
        raise ValueError(f"compile={compile!r} needs the static-cache decoder; this model uses decoder={decoder!r}")
    if decoder == "static":
        return StaticCacheDecoder(model, compile=compile)
    if decoder == "transformers":
        return TransformersDecoder(model)
    return UncachedDecoder(model)
