"""Byte-level TinyLM as transformers models: ``TinyLMByteModel`` and ``TinyLMByteForCausalLM``.

The model is an ordinary causal LM over token ids (so ``generate``, pipelines and any logits-based generator
work): ids are read through their bytes by ``ByteLevelEmbedder``, the token-level core is TinyLM's (masks,
positions, KV cache), and ``ByteLevelDecoder`` writes each next token as bytes, scored into token logits.
Training adds the original's auxiliary loss: the decoder must read each input token's bytes back from the
embedder's output.

This file and the flat files it imports are copied next to saved weights (``trust_remote_code=True``).
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from transformers import GenerationMixin
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.utils import can_return_tuple

from .byte_level_components import ByteLevelDecoder, ByteLevelEmbedder
from .configuration_tinylm_byte import TinyLMByteConfig
from .modeling_tinylm import CACHE_FIELD, TinyLMModel, TinyLMPreTrainedModel, _pick_cache


@dataclass
class TinyLMByteCausalLMOutput(CausalLMOutputWithPast):
    """``loss`` = ``lm_loss`` + reconstruction_loss_weight × ``reconstruction_loss``.

    lm_loss: next-token cross-entropy over the token logits. reconstruction_loss: byte cross-entropy of the
    decoder reading back each input token's bytes from the embedder's output (pad bytes ignored).
    byte_logits: [batch, seq, byte_context_window, byte_vocab_size] for the next token.
    """

    lm_loss: Optional[torch.FloatTensor] = None
    reconstruction_loss: Optional[torch.FloatTensor] = None
    byte_logits: Optional[torch.FloatTensor] = None


class TinyLMBytePreTrainedModel(TinyLMPreTrainedModel):
    config_class = TinyLMByteConfig
    AUTO_MAP = {
        "AutoConfig": "configuration_tinylm_byte.TinyLMByteConfig",
        "AutoModel": "modeling_tinylm_byte.TinyLMByteModel",
        "AutoModelForCausalLM": "modeling_tinylm_byte.TinyLMByteForCausalLM",
    }

    def byte_embedder(self) -> ByteLevelEmbedder:
        base = self.model if hasattr(self, "model") else self
        return base.embedder


class TinyLMByteModel(TinyLMBytePreTrainedModel, TinyLMModel):
    """Byte-level embedder → TinyLM core; returns the core's last hidden state (TinyLMModel's forward)."""

    def _build_embedder(self, config: TinyLMByteConfig) -> ByteLevelEmbedder:
        return ByteLevelEmbedder(config)

    def get_input_embeddings(self):
        return self.embedder.byte_embedding

    def set_input_embeddings(self, value):
        self.embedder.byte_embedding = value


class TinyLMByteForCausalLM(TinyLMBytePreTrainedModel, GenerationMixin):
    # Tied only when config.tie_word_embeddings: the byte head reuses the byte embedding table.
    _tied_weights_keys = {"lm_head.byte_head.weight": "model.embedder.byte_embedding.weight"}

    def __init__(self, config: TinyLMByteConfig):
        super().__init__(config)
        self.model = TinyLMByteModel(config)
        self.lm_head = ByteLevelDecoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embedder.byte_embedding

    def set_input_embeddings(self, value):
        self.model.embedder.byte_embedding = value

    def get_output_embeddings(self):
        return self.lm_head.byte_head

    def set_output_embeddings(self, value):
        self.lm_head.byte_head = value

    # ---- the token → bytes table and the seed's text interface --------------------------------------------
    def set_tokenizer(self, tokenizer):
        """Attach a tokenizer; a model without a byte table takes the table from its vocabulary."""
        self.model.embedder.set_tokenizer(tokenizer)

    @property
    def tokenizer(self):
        """The attached tokenizer (or the one saved beside a loaded model), else None."""
        return self.model.embedder.attached_tokenizer()

    @property
    def token_bytes(self) -> torch.Tensor:
        return self.model.embedder.token_bytes

    def set_token_bytes(self, table: torch.Tensor):
        self.model.embedder.set_token_bytes(table)

    def reconstruction_loss(self, input_ids, token_vectors, attention_mask=None) -> torch.Tensor:
        """Byte cross-entropy of the decoder reading each token's own bytes back from its embedder vector."""
        byte_logits = self.lm_head.byte_logits(token_vectors)
        targets = self.token_bytes[input_ids].long()
        ignore = targets == self.config.byte_pad_id
        if attention_mask is not None and attention_mask.ndim == 2:
            ignore = ignore | (attention_mask == 0).unsqueeze(-1)
        targets = targets.masked_fill(ignore, -100)
        return nn.functional.cross_entropy(
            byte_logits.float().reshape(-1, byte_logits.shape[-1]), targets.reshape(-1), ignore_index=-100
        )

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
    ) -> TinyLMByteCausalLMOutput:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        # The token vectors before positions: the core's input, and what the reconstruction loss reads back.
        token_vectors = self.model.embedder.encode_tokens(input_ids) if inputs_embeds is None else None
        outputs = self.model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=_pick_cache(cache, past_key_values),
            inputs_embeds=token_vectors if token_vectors is not None else inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits, byte_logits = self.lm_head(hidden_states[:, keep, :], self.token_bytes)

        loss = lm_loss = reconstruction = None
        if labels is not None:
            lm_loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
            loss = lm_loss
            weight = self.config.reconstruction_loss_weight
            if token_vectors is not None and weight > 0:
                reconstruction = self.reconstruction_loss(input_ids, token_vectors, attention_mask)
                loss = lm_loss + weight * reconstruction
        return TinyLMByteCausalLMOutput(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            lm_loss=lm_loss,
            reconstruction_loss=reconstruction,
            byte_logits=byte_logits,
            **{CACHE_FIELD: getattr(outputs, CACHE_FIELD)},
        )


TinyLMByteConfig.register_for_auto_class()
TinyLMByteModel.register_for_auto_class("AutoModel")
TinyLMByteForCausalLM.register_for_auto_class("AutoModelForCausalLM")
