"""Next-thought models as transformers models: ``TinyLMNextThoughtModel`` and ``TinyLMNextThoughtForCausalLM``.

A text of L tokens is cut into thoughts of T = ``thought_length`` tokens. Thought k is decoded from a predicted
latent θ_k: θ_0 is a learned start thought, θ_k = core(encoder(thought k − 1)) for k ≥ 1. The decoder reads θ_k
and the tokens of thought k seen so far, so the prediction of every token depends only on earlier tokens: the
model is an ordinary causal LM (logits at position i predict token i + 1) and ``generate`` works. There is no
key/value state: a cache only remembers the ids seen so far, each step re-encodes what it needs, and only the
thoughts that the kept logits depend on are encoded and decoded.

Training objective: next-token cross-entropy over every predicted token (``lm_loss``), plus, when
``reconstruction_loss_weight`` > 0, the cross-entropy of decoding each complete thought from its own latent
(before the core): an autoencoding term that ties the latent space to the text.

This file and the flat files it imports are copied next to saved weights (``trust_remote_code=True``).
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import GenerationMixin
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.utils import ModelOutput, can_return_tuple

from .configuration_tinylm_next_thought import TinyLMNextThoughtConfig
from .embedder import saved_tokenizer
from .lm_head import GenericLMHead
from .modeling_tinylm import CACHE_FIELD, TinyLMPreTrainedModel, _pick_cache
from .next_thought_components import BaselineLatentCore, HierarchicalEncoder, VariableLengthLatentDecoder


# The attribute of a cache object under which the ids seen so far are kept.
HISTORY_ATTRIBUTE = "next_thought_input_ids"


@dataclass
class TinyLMNextThoughtModelOutput(ModelOutput):
    """last_hidden_state: the thoughts [batch, L // T + 1, latent_dim] the thoughts of the text are decoded from
    (θ_0 the start thought, θ_k = core(latent k − 1)); latents: the encoder's [batch, L // T, latent_dim], one per
    complete thought."""

    last_hidden_state: Optional[torch.FloatTensor] = None
    latents: Optional[torch.FloatTensor] = None


@dataclass
class TinyLMNextThoughtCausalLMOutput(CausalLMOutputWithPast):
    """``loss`` = ``lm_loss`` + reconstruction_loss_weight × ``reconstruction_loss``."""

    lm_loss: Optional[torch.FloatTensor] = None
    reconstruction_loss: Optional[torch.FloatTensor] = None


def _check_right_padding(attention_mask):
    """Thoughts are cut from the start of the sequence: left padding would move every boundary."""
    if attention_mask is None or attention_mask.ndim != 2:
        return
    mask = attention_mask.long()
    if (mask[:, 1:] > mask[:, :-1]).any():
        raise ValueError(
            "a next-thought model cuts thoughts from the first token, so sequences must be padded on the right "
            "(attention_mask ones then zeros); use tokenizer.padding_side = 'right'"
        )


class TinyLMNextThoughtPreTrainedModel(TinyLMPreTrainedModel):
    config_class = TinyLMNextThoughtConfig
    _no_split_modules = ["TransformerBlock", "AttentionPoolingLayer"]
    # The decoder and encoder blocks take any backend without a mask; attention pooling forces eager itself.
    _supports_flash_attn = False
    _supports_flex_attn = False
    AUTO_MAP = {
        "AutoConfig": "configuration_tinylm_next_thought.TinyLMNextThoughtConfig",
        "AutoModel": "modeling_tinylm_next_thought.TinyLMNextThoughtModel",
        "AutoModelForCausalLM": "modeling_tinylm_next_thought.TinyLMNextThoughtForCausalLM",
    }

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, TinyLMNextThoughtModel):
            init.normal_(module.start_thought, mean=0.0, std=self.config.initializer_range)


class TinyLMNextThoughtModel(TinyLMNextThoughtPreTrainedModel):
    """Hierarchical encoder + latent core: the thought each part of the text is decoded from."""

    _keys_to_ignore_on_load_unexpected = [r"^latent_decoder\.", r"^lm_head\."]

    def __init__(self, config: TinyLMNextThoughtConfig):
        super().__init__(config)
        config.validate()
        self.embedder = HierarchicalEncoder(config)
        self.core = BaselineLatentCore(config)  # the one latent core; the config checks core.core_type
        self.start_thought = nn.Parameter(torch.zeros(config.latent_dim))
        self.post_init()

    def get_input_embeddings(self):
        return self.embedder.token_embedder

    def set_input_embeddings(self, value):
        self.embedder.token_embedder = value

    def encode(self, input_ids: torch.LongTensor, first: int, last: int) -> torch.Tensor:
        """Latents of the complete thoughts ``first`` … ``last - 1``: [batch, last - first, latent_dim]."""
        length = self.config.thought_length
        batch = input_ids.shape[0]
        thought_ids = input_ids[:, first * length : last * length].reshape(batch * (last - first), length)
        return self.embedder(thought_ids).view(batch, last - first, -1)

    def thoughts(self, input_ids: torch.LongTensor, first: int, last: int):
        """(θ_first … θ_{last-1} [batch, last - first, latent_dim], the encoder latents they were predicted from)."""
        batch = input_ids.shape[0]
        parts, latents = [], None
        if first == 0:
            parts.append(self.start_thought.view(1, 1, -1).expand(batch, 1, -1))
        start, end = max(first - 1, 0), last - 1
        if end > start:
            latents = self.encode(input_ids, start, end)
            parts.append(self.core(latents))
        dtype = parts[-1].dtype
        return torch.cat([part.to(dtype) for part in parts], dim=1), latents

    @can_return_tuple
    def forward(self, input_ids: torch.LongTensor = None, attention_mask: torch.Tensor = None, **kwargs):
        if input_ids is None:
            raise ValueError("a next-thought model reads input_ids (inputs_embeds are not supported)")
        _check_right_padding(attention_mask)
        complete = input_ids.shape[1] // self.config.thought_length
        thoughts, latents = self.thoughts(input_ids, 0, complete + 1)
        if latents is None:
            latents = thoughts.new_zeros(input_ids.shape[0], 0, self.config.latent_dim)
        return TinyLMNextThoughtModelOutput(last_hidden_state=thoughts, latents=latents)


class TinyLMNextThoughtForCausalLM(TinyLMNextThoughtPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.linear.weight": "model.embedder.token_embedder.weight"}

    def __init__(self, config: TinyLMNextThoughtConfig):
        super().__init__(config)
        self.model = TinyLMNextThoughtModel(config)
        self.latent_decoder = VariableLengthLatentDecoder(config)
        self.lm_head = GenericLMHead(config)
        self.dropout = nn.Dropout(config.dropout)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embedder.token_embedder

    def set_input_embeddings(self, value):
        self.model.embedder.token_embedder = value

    def get_output_embeddings(self):
        return self.lm_head.linear

    def set_output_embeddings(self, value):
        self.lm_head.linear = value

    def set_tokenizer(self, tokenizer):
        # Not a module and without a state_dict: kept outside the module tree; save_pretrained writes it.
        object.__setattr__(self, "_tokenizer", tokenizer)

    @property
    def tokenizer(self):
        """The attached tokenizer (or the one saved beside a loaded model), else None."""
        if getattr(self, "_tokenizer", None) is None:
            object.__setattr__(self, "_tokenizer", saved_tokenizer(self.config))
        return self._tokenizer

    def decode(self, thoughts: torch.Tensor, input_ids: torch.LongTensor, first: int, last: int) -> torch.Tensor:
        """Hidden states predicting tokens first·T … last·T − 1 from thoughts θ_first … θ_{last-1}.

        Thought k's decoder reads its first T − 1 tokens (fewer at the end of the text; the rest is padding that
        causal attention keeps from earlier positions). Returns [batch, (last - first)·T, embedding_dim].
        """
        length = self.config.thought_length
        batch, count = input_ids.shape[0], last - first
        inputs = input_ids.new_zeros(batch, count, length)
        span = input_ids[:, first * length : last * length]
        inputs.view(batch, -1)[:, : span.shape[1]] = span
        token_embeddings = self.dropout(self.model.embedder.token_embedder(inputs[..., : length - 1]))
        hidden = self.latent_decoder(
            thoughts.reshape(batch * count, -1), token_embeddings.reshape(batch * count, length - 1, -1)
        )
        return hidden.reshape(batch, count * length, -1)

    def reconstruction_loss(self, input_ids, latents, labels) -> torch.Tensor:
        """Cross-entropy of decoding each complete thought from its own latent (before the core)."""
        count, length = latents.shape[1], self.config.thought_length
        hidden = self.decode(latents, input_ids, 0, count)
        targets = labels[:, : count * length]
        logits = self.lm_head(hidden).float()
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).to(logits.device), ignore_index=-100
        )

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor = None,
        attention_mask: torch.Tensor = None,
        labels: torch.LongTensor = None,
        use_cache: bool = None,
        logits_to_keep=0,
        cache: Cache = None,
        inputs_embeds: torch.Tensor = None,
        past_key_values: Cache = None,
        **kwargs,
    ) -> TinyLMNextThoughtCausalLMOutput:
        """Logits [batch, new tokens, vocab] for the ids given (position i predicts the token after it).

        There is no key/value state to keep; a ``cache`` carries the ids seen so far instead, so that callers
        that feed one new token per step with a cache (``generate(use_cache=True)``, KV-cached decoders) get
        the same logits as a call on the whole sequence.
        """
        if input_ids is None or inputs_embeds is not None:
            raise ValueError("a next-thought model reads input_ids (inputs_embeds are not supported)")
        cache = _pick_cache(cache, past_key_values)
        use_cache = self.config.use_cache if use_cache is None else use_cache
        new_tokens = input_ids.shape[1]
        history = getattr(cache, HISTORY_ATTRIBUTE, None) if cache is not None else None
        if history is not None:
            input_ids = torch.cat([history.to(input_ids.device), input_ids], dim=1)
        _check_right_padding(attention_mask)
        length = input_ids.shape[1]
        thought_length = self.config.thought_length
        # Position i predicts token i + 1: predictions 1 … L, or only the last `kept` of them.
        if labels is not None or not isinstance(logits_to_keep, int) or logits_to_keep <= 0:
            kept = new_tokens
        else:
            kept = min(logits_to_keep, new_tokens)
        first_prediction = length - kept + 1
        first, last = first_prediction // thought_length, length // thought_length + 1
        thoughts, latents = self.model.thoughts(input_ids, first, last)
        hidden = self.decode(thoughts, input_ids, first, last)
        offset = first_prediction - first * thought_length
        hidden = hidden[:, offset : offset + kept]
        if not isinstance(logits_to_keep, int):
            hidden = hidden[:, logits_to_keep]
        logits = self.lm_head(hidden)

        loss = lm_loss = reconstruction = None
        if labels is not None:
            if history is not None:
                raise ValueError("labels cannot be combined with a cache that holds earlier tokens")
            lm_loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
            loss = lm_loss
            weight = self.config.reconstruction_loss_weight
            if weight > 0 and latents is not None:
                reconstruction = self.reconstruction_loss(input_ids, latents, labels)
                loss = lm_loss + weight * reconstruction
        if use_cache:
            cache = cache if cache is not None else DynamicCache(config=self.config)
            setattr(cache, HISTORY_ATTRIBUTE, input_ids)
        return TinyLMNextThoughtCausalLMOutput(
            loss=loss,
            logits=logits,
            lm_loss=lm_loss,
            reconstruction_loss=reconstruction,
            **{CACHE_FIELD: cache if use_cache else None},
        )


TinyLMNextThoughtConfig.register_for_auto_class()
TinyLMNextThoughtModel.register_for_auto_class("AutoModel")
TinyLMNextThoughtForCausalLM.register_for_auto_class("AutoModelForCausalLM")
