"""TinyLM as transformers models: ``TinyLMModel`` (embedder + core) and ``TinyLMForCausalLM`` (+ LM head).

This file and the flat files it imports are copied next to saved weights, so a saved folder loads with
``trust_remote_code=True`` where ``hf_tinylm`` is not installed. Only flat relative imports (``from .x import``)
survive that copy.
"""

import math

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.utils import can_return_tuple

from .activations import LearnedActivation
from .configuration_tinylm import TinyLMConfig
from .embedder import EMBEDDERS
from .lm_head import HEADS
from .normalization import LayerNorm, RMSNorm
from .positional_encoding import PositionalEncoding, ShawRelativeEmbeddings
from .sharing import SharingMixin
from .transformer_core import CORES, GenericTransformerCore

# transformers 5.24 renamed the cache from `past_key_values` to `cache` (forward argument and output field).
CACHE_FIELD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"

# Attention backends that accept an arbitrary additive or boolean [b, h, q, kv] mask.
_MASK_BACKENDS = ("eager", "sdpa")


def _pick_cache(cache, past_key_values):
    if cache is not None and past_key_values is not None and cache is not past_key_values:
        raise ValueError("pass the KV cache as either `cache` or `past_key_values`, not both")
    return cache if cache is not None else past_key_values


def default_position_ids(attention_mask, past_length: int, length: int, device) -> torch.LongTensor:
    """Positions that skip padding: a left-padded sequence gets the positions it would have alone."""
    if attention_mask is not None and attention_mask.ndim == 2:
        positions = attention_mask.long().cumsum(-1) - 1
        positions = positions.masked_fill(attention_mask == 0, 0)
        return positions[:, -length:]
    return torch.arange(past_length, past_length + length, device=device).unsqueeze(0)


class TinyLMPreTrainedModel(SharingMixin, PreTrainedModel):
    config_class = TinyLMConfig
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
    """Embedder → transformer core; returns the core's last hidden state (the head owns the final norm)."""

    # Loading a causal-LM folder into the base model leaves the head behind, on purpose.
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\."]

    def __init__(self, config: TinyLMConfig):
        super().__init__(config)
        config.validate()
        self.embedder = self._build_embedder(config)
        self.core = CORES.get(config.core["core_type"])(config)
        self.gradient_checkpointing = False
        self.post_init()

    def _build_embedder(self, config):
        """The embedder named by the config; a model family with its own embedder overrides this."""
        return EMBEDDERS.get(config.embedder["embedder_type"])(config)

    def get_input_embeddings(self):
        return self.embedder.token_embedder

    @property
    def tokenizer(self):
        """The attached tokenizer (or the one saved beside a loaded model), else None."""
        return self.embedder.attached_tokenizer()

    def set_input_embeddings(self, value):
        self.embedder.token_embedder = value

    def _check_attention_backend(self):
        """Relative positions (Shaw buckets, ALiBi bias) need an attention that takes a materialised mask."""
        if self.config._attn_implementation not in _MASK_BACKENDS:
            raise ValueError(
                f"attn_implementation={self.config._attn_implementation!r} cannot carry "
                f"positional_encoding_type={self.config.positional_encoding_type!r}; allowed: {', '.join(_MASK_BACKENDS)}"
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
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )

        reference = input_ids if input_ids is not None else inputs_embeds
        batch, length = reference.shape[:2]
        past_length = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            position_ids = default_position_ids(attention_mask, past_length, length, reference.device)

        hidden_states = self.embedder(input_ids, position_ids, inputs_embeds)
        positions = self.embedder.positional_encoding
        custom_scores = positions.uses_relative_buckets or positions.uses_score_bias
        if custom_scores:
            self._check_attention_backend()
        # The cache goes by position: its keyword is `past_key_values` before transformers 5.24 and `cache` after.
        mask = create_causal_mask(
            self.config, hidden_states, attention_mask, cache, position_ids=position_ids,
            allow_is_causal_skip=not custom_scores,
        )
        relative_buckets = None
        if custom_scores:
            # Materialised (allow_is_causal_skip=False, eager/sdpa only): boolean, or additive with 0 where allowed.
            kv_length = mask.shape[-1]
            mask = mask if mask.dtype == torch.bool else mask == 0
            query_index = torch.arange(past_length, past_length + length, device=hidden_states.device)
            key_index = torch.arange(kv_length, device=hidden_states.device)
            bias = positions.score_bias(query_index, key_index)
            if bias is not None:
                min_value = torch.finfo(hidden_states.dtype).min
                mask = torch.where(mask, bias.to(hidden_states.dtype)[None], min_value)
            relative_buckets = positions.relative_buckets(query_index, key_index)

        all_hidden_states = [hidden_states] if output_hidden_states else None
        hidden_states = self.core(
            hidden_states,
            all_hidden_states=all_hidden_states,
            attention_mask=mask,
            position_embeddings=positions.rotary_embeddings(hidden_states, position_ids),
            relative_buckets=relative_buckets,
            cache=cache,
            **kwargs,
        )
        return BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
            **{CACHE_FIELD: cache if use_cache else None},
        )


class TinyLMForCausalLM(TinyLMPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.linear.weight": "model.embedder.token_embedder.weight"}

    def __init__(self, config: TinyLMConfig):
        super().__init__(config)
        self.model = TinyLMModel(config)
        self.lm_head = HEADS.get(config.head["head_type"])(config)
        self.post_init()

    # get/set_input_embeddings: transformers' defaults delegate to self.model (base_model_prefix).

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

    @can_return_tuple
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
        **kwargs,
    ) -> CausalLMOutputWithPast:
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=_pick_cache(cache, past_key_values),
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, keep, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
        )


TinyLMConfig.register_for_auto_class()
TinyLMModel.register_for_auto_class("AutoModel")
TinyLMForCausalLM.register_for_auto_class("AutoModelForCausalLM")
