"""TinyLM as transformers models: ``TinyLMModel`` (embedder + core) and ``TinyLMForCausalLM`` (+ LM head).

This file and the flat files it imports are copied next to saved weights, so a saved folder loads with
``trust_remote_code=True`` where ``hf_tinylm`` is not installed. Only flat relative imports (``from .x import``)
survive that copy.
"""

import inspect
import math

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.loss.loss_utils import ForCausalLMLoss
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.utils import logging

from .activations import LearnedActivation
from .configuration_tinylm import TinyLMConfig
from .embedder import GenericEmbedder
from .lm_head import GenericLMHead
from .normalization import LayerNorm, RMSNorm
from .positional_encoding import POSITIONAL_ENCODINGS, PositionalEncoding, ShawRelativeEmbeddings
from .saving import SavingMixin
from .static_cache import StaticKVCache
from .transformer_core import CORES, GenericTransformerCore

logger = logging.get_logger(__name__)

# transformers 5.24 renamed the cache from `past_key_values` to `cache` (forward argument and output field).
CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"

# Folders saved before the model owned its positional scheme kept it in the embedder.
LEGACY_KEY_MAPPING = {r"embedder\.positional_encoding\.": "positions."}


def _pick_cache(cache, past_key_values):
    if cache is not None and past_key_values is not None and cache is not past_key_values:
        raise ValueError("pass the KV cache as either `cache` or `past_key_values`, not both")
    return cache if cache is not None else past_key_values


_INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_input_ids(input_ids, vocab_size: int):
    """A clear ValueError for ids the embedding would fail on (or silently read past) further down.

    The range is checked where it costs no host-device synchronisation: on CPU tensors directly, on accelerators
    with an asynchronous device assertion; compiled code skips it (the compiled step's inputs come from our loop).
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in _INTEGER_DTYPES:
        found = input_ids.dtype if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise ValueError(f"input_ids must be an integer tensor (torch.long), got {found}")
    if input_ids.ndim != 2 or input_ids.numel() == 0:
        raise ValueError(
            f"input_ids must be a non-empty 2-D [batch, length] tensor, got shape {tuple(input_ids.shape)}"
        )
    if torch.compiler.is_compiling():
        return
    if input_ids.device.type == "cpu":
        low, high = (int(value) for value in torch.aminmax(input_ids))
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"input_ids holds {bad}, outside [0, vocab_size={vocab_size})")
    else:
        torch._assert_async(((input_ids >= 0) & (input_ids < vocab_size)).all(), "input_ids outside [0, vocab_size)")


def default_position_ids(attention_mask, past_length: int, length: int, device) -> torch.LongTensor:
    """Positions that skip padding: a left-padded sequence gets the positions it would have alone."""
    if attention_mask is not None and attention_mask.ndim == 2:
        positions = attention_mask.long().cumsum(-1) - 1
        positions = positions.masked_fill(attention_mask == 0, 0)
        return positions[:, -length:]
    return torch.arange(past_length, past_length + length, device=device).unsqueeze(0)


class TinyLMPreTrainedModel(SavingMixin, PreTrainedModel):
    config_class = TinyLMConfig
    # The three Auto classes a saved folder maps (SavingMixin); other families name their own classes.
    AUTO_MAP = {
        "AutoConfig": "configuration_tinylm.TinyLMConfig",
        "AutoModel": "modeling_tinylm.TinyLMModel",
        "AutoModelForCausalLM": "modeling_tinylm.TinyLMForCausalLM",
    }
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerBlock"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def _init_weights(self, module):
        config = self.config
        std = config.initializer_range
        if isinstance(module, nn.Linear):
            scaled = config.initializer == "gpt2" and getattr(module, "is_residual_projection", False)
            # GPT-2: residual projections shrink with depth so the residual stream's variance stays put.
            init.normal_(module.weight, mean=0.0, std=std / math.sqrt(2 * config.num_hidden_layers) if scaled else std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, (RMSNorm, LayerNorm)):
            if module.weight is not None:
                init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, ShawRelativeEmbeddings):
            init.normal_(module.keys, mean=0.0, std=std)
            init.normal_(module.values, mean=0.0, std=std)
        elif isinstance(module, LearnedActivation):
            init.copy_(module.mix, module.initial_mix())
        elif isinstance(module, PositionalEncoding):
            module.reset_parameters()

    @classmethod
    def from_pretrained(cls, *args, key_mapping: dict = None, **kwargs):
        """transformers' from_pretrained; folders saved before positions moved out of the embedder load too."""
        model = super().from_pretrained(*args, key_mapping={**LEGACY_KEY_MAPPING, **(key_mapping or {})}, **kwargs)
        # transformers reverts the load-time renamings on save; ours must not come back (the new names are the format).
        conversions = getattr(model, "_weight_conversions", None)
        if conversions:
            legacy = set(LEGACY_KEY_MAPPING)
            kept = [c for c in conversions if not set(getattr(c, "source_patterns", None) or ()) <= legacy]
            model._weight_conversions = kept or None
        return model

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        # transformers only ties weights when tie_word_embeddings is set; FFN sharing is tied regardless.
        tied = super().get_expanded_tied_weights_keys(all_submodels=all_submodels)
        if not all_submodels:
            for name, module in self.named_modules():
                if isinstance(module, GenericTransformerCore):
                    for target, source in module.shared_weight_keys().items():
                        tied[f"{name}.{target}"] = f"{name}.{source}"
        return tied


class TinyLMModel(TinyLMPreTrainedModel):
    """Embedder, positional scheme and transformer core; returns the core's last hidden state (the head owns the
    final norm)."""

    # Loading a causal-LM folder into the base model leaves the head behind, on purpose.
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\."]

    def __init__(self, config: TinyLMConfig):
        super().__init__(config)
        config.validate()
        self.embedder = self._build_embedder(config)
        self.positions = POSITIONAL_ENCODINGS.get(config.positional_encoding_type)(config)
        self.dropout = nn.Dropout(config.dropout)
        self.core = CORES.get(config.core["core_type"])(config)
        self.gradient_checkpointing = False
        self.post_init()

    def _build_embedder(self, config):
        """The token embedder; a model family with its own embedder overrides this."""
        return GenericEmbedder(config)

    def get_input_embeddings(self):
        return self.embedder.token_embedder

    def set_input_embeddings(self, value):
        self.embedder.token_embedder = value

    @property
    def tokenizer(self):
        """The attached tokenizer (or the one saved beside a loaded model), else None."""
        return self.embedder.attached_tokenizer()

    @property
    def position_limit(self):
        """Positions an absolute scheme has vectors for (learned, sincos); None when any position works."""
        return getattr(self.positions, "max_positions", None)

    def _warn_past_the_context(self, length: int):
        """Schemes without a position table (rope, ALiBi, Shaw, none) run past the trained context: say so once.
        Tables (learned, sincos) refuse in ``add_to_embeddings``; ``length`` comes from shapes, never a sync."""
        if self.position_limit is None and length > self.config.max_position_embeddings:
            logger.warning_once(
                f"input reaches {length} tokens, past max_position_embeddings={self.config.max_position_embeddings} "
                f"(positional_encoding_type={self.config.positional_encoding_type!r} runs on, untrained there)"
            )

    def forward(
        self,
        input_ids: torch.LongTensor = None,
        attention_mask: torch.Tensor = None,
        position_ids: torch.LongTensor = None,
        cache: Cache = None,
        inputs_embeds: torch.Tensor = None,
        use_cache: bool = None,
        output_hidden_states: bool = None,
        past_key_values: Cache = None,
        return_dict: bool = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        cache = _pick_cache(cache, past_key_values)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if self.gradient_checkpointing and self.training:
            use_cache = False
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states

        if input_ids is not None:
            check_input_ids(input_ids, self.config.vocab_size)
        inputs_embeds = self.embedder(input_ids, inputs_embeds)
        if position_ids is None:
            past_length = cache.get_seq_length() if cache is not None else 0
            position_ids = default_position_ids(attention_mask, past_length, inputs_embeds.shape[1], inputs_embeds.device)
            self._warn_past_the_context(past_length + inputs_embeds.shape[1])
        hidden_states = self.dropout(self.positions.add_to_embeddings(inputs_embeds, position_ids))
        # Mask, rotary tables, relative distances: built once, before any layer writes to the cache.
        attention_inputs = self.positions.attention_inputs(self.config, hidden_states, attention_mask, cache, position_ids)

        all_hidden_states = [hidden_states] if output_hidden_states else None
        hidden_states = self.core(
            hidden_states, all_hidden_states=all_hidden_states, inputs=attention_inputs, cache=cache, **kwargs
        )
        all_hidden_states = tuple(all_hidden_states) if output_hidden_states else None
        cache = cache if use_cache else None
        if not (self.config.return_dict if return_dict is None else return_dict):
            # transformers' tuple convention (fields in order, None left out), built without the ModelOutput: the
            # causal LM asks for it on every call, a decoding step included (a ModelOutput costs ~20-80 µs).
            return tuple(value for value in (hidden_states, cache, all_hidden_states) if value is not None)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, **{CACHE_FIELD: cache}
        )


class TinyLMForCausalLM(TinyLMPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.linear.weight": "model.embedder.token_embedder.weight"}
    # Decoding may hand forward a StaticKVCache (hf_tinylm.generation, and generate() below).
    supports_static_kv_cache = True

    def __init__(self, config: TinyLMConfig):
        super().__init__(config)
        self.model = TinyLMModel(config)
        self.lm_head = GenericLMHead(config)
        self.post_init()

    # get/set_input_embeddings: transformers' defaults delegate to self.model (base_model_prefix).

    @property
    def position_limit(self):
        return self.model.position_limit

    def get_output_embeddings(self):
        return self.lm_head.linear

    def set_output_embeddings(self, value):
        self.lm_head.linear = value

    # The seed's text interface, through the embedder's tokenizer.
    def set_tokenizer(self, tokenizer):
        self.model.embedder.set_tokenizer(tokenizer)

    @property
    def tokenizer(self):
        """The attached tokenizer (or the one saved beside a loaded model), else None."""
        return self.model.tokenizer

    def _prepare_cache_for_generation(
        self, generation_config, model_kwargs, generation_mode, batch_size, max_cache_length, *args, **kwargs
    ):
        """generate() gets our ``StaticKVCache`` unless the caller chose a cache (object or implementation).

        ``max_cache_length`` is the longest sequence this generate() call can reach: a position table too short for
        it (learned, sincos) is refused here, before any work."""
        limit = self.position_limit
        if limit is not None and max_cache_length > limit:
            raise ValueError(
                f"prompt + max_new_tokens reach {max_cache_length} tokens, past the positional table of "
                f"max_position_embeddings={limit}; shorten the prompt or ask for fewer tokens"
            )
        chosen = any(model_kwargs.get(name) is not None for name in ("cache", "past_key_values"))
        if chosen or generation_config.cache_implementation is not None or generation_config.use_cache is False:
            return super()._prepare_cache_for_generation(
                generation_config, model_kwargs, generation_mode, batch_size, max_cache_length, *args, **kwargs
            )
        model_kwargs[CACHE_FIELD] = StaticKVCache(self.config.num_hidden_layers, max_cache_length)

    def _loss_without_logits(self, logits_to_keep, skip_logits: bool = None) -> bool:
        """Whether forward's loss comes from the head's slice-by-slice path (see ``forward``): only where that is
        exactly what the logits path computes, transformers' own causal-LM loss over every position."""
        wanted = self.training and self.config.chunked_loss if skip_logits is None else skip_logits
        return (
            wanted
            and isinstance(logits_to_keep, int)
            and logits_to_keep == 0
            # A loss the user set (model.loss_function = ...) or a config's loss_type needs the logits.
            and self.loss_function is ForCausalLMLoss
            and self.lm_head.computes_loss_in_slices
        )

    def forward(
        self,
        input_ids: torch.LongTensor = None,
        attention_mask: torch.Tensor = None,
        position_ids: torch.LongTensor = None,
        cache: Cache = None,
        inputs_embeds: torch.Tensor = None,
        labels: torch.LongTensor = None,
        use_cache: bool = None,
        output_hidden_states: bool = None,
        logits_to_keep=0,
        past_key_values: Cache = None,
        return_dict: bool = None,
        skip_logits: bool = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """``skip_logits`` (transformers' Liger-Kernel convention): with ``labels``, compute the loss slice by slice
        and return no logits (True), or always return logits (False); None: skip them when training and
        ``config.chunked_loss`` is set. The loss is the same either way."""
        hidden_states, *rest = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=_pick_cache(cache, past_key_values),
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            return_dict=False,
            **kwargs,
        )
        # The base model's tuple: (last hidden state, the cache if any, all hidden states if asked).
        model_cache = rest.pop(0) if rest and isinstance(rest[0], Cache) else None
        all_hidden_states = rest[0] if rest else None
        loss = logits = None
        if labels is not None and self._loss_without_logits(logits_to_keep, skip_logits):
            # The [tokens, vocab] float32 logits and their gradient dominate a training step's time and memory at
            # GPT-2's vocabulary; the head computes the same loss without ever holding them.
            loss = self.lm_head.causal_lm_loss(hidden_states, labels, **kwargs)
        else:
            keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
            logits = self.lm_head(hidden_states[:, keep, :])
            if labels is not None:
                loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        if not (self.config.return_dict if return_dict is None else return_dict):
            return tuple(value for value in (loss, logits, model_cache, all_hidden_states) if value is not None)
        return CausalLMOutputWithPast(
            loss=loss, logits=logits, hidden_states=all_hidden_states, **{CACHE_FIELD: model_cache}
        )


# generate() reads the forward's signature at every step of models registered for the Auto classes (to find remote
# code that still takes cache_position), which inspect rebuilds from the function each time unless the function
# carries one.
TinyLMForCausalLM.forward.__signature__ = inspect.signature(TinyLMForCausalLM.forward)

TinyLMConfig.register_for_auto_class()
TinyLMModel.register_for_auto_class("AutoModel")
TinyLMForCausalLM.register_for_auto_class("AutoModelForCausalLM")
