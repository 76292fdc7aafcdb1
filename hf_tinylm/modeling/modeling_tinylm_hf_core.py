"""``TinyLMHFCoreForCausalLM``: our embedder → a pretrained transformers body → our LM head.

The body is rebuilt from ``config.core_config`` (``AutoModel.from_config``): a saved folder holds its weights next
to ours and reloads without the Hub. ``hf_tinylm.model_from_stlm`` fills it with the pretrained weights of
``model_string``. Like the other families, this file and the flat files it imports are copied next to saved
weights, so a folder loads with ``trust_remote_code=True`` where hf_tinylm is not installed.
"""

import torch
from torch import nn
from transformers import AutoModel, GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.utils import can_return_tuple

from .configuration_tinylm_hf_core import TinyLMHFCoreConfig
from .embedder import GenericEmbedder
from .positional_encoding import POSITIONAL_ENCODINGS
from .hf_core import HFCore
from .lm_head import GenericLMHead
from .modeling_tinylm import CACHE_FIELD, TinyLMPreTrainedModel, _pick_cache, default_position_ids


class TinyLMHFCorePreTrainedModel(TinyLMPreTrainedModel):
    # TinyLM's weight initialisation for our embedder and head; the body's modules keep the body's own.
    config_class = TinyLMHFCoreConfig
    base_model_prefix = "model"  # no separate base model: base_model is the model itself
    AUTO_MAP = {
        "AutoConfig": "configuration_tinylm_hf_core.TinyLMHFCoreConfig",
        "AutoModelForCausalLM": "modeling_tinylm_hf_core.TinyLMHFCoreForCausalLM",
    }


class TinyLMHFCoreForCausalLM(TinyLMHFCorePreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.linear.weight": "embedder.token_embedder.weight"}

    def __init__(self, config: TinyLMHFCoreConfig):
        super().__init__(config)
        config.validate()
        self.embedder = GenericEmbedder(config)
        # The body brings its own positions; ours adds absolute ones (learned, sincos) in front of it, or none.
        self.positions = POSITIONAL_ENCODINGS.get(config.embedder_positional_encoding_type)(config)
        self.dropout = nn.Dropout(config.dropout)
        body = AutoModel.from_config(config.build_core_config())
        self.core = HFCore(body)
        self.lm_head = GenericLMHead(config)
        # device_map="auto" keeps the body's own blocks whole.
        self._no_split_modules = list(getattr(body, "_no_split_modules", None) or [])
        self.post_init()
        self.freeze_core(config.freeze_core)

    def freeze_core(self, frozen: bool = True):
        """Stop (or restart) training the pretrained body; the original froze it."""
        for parameter in self.core.parameters():
            parameter.requires_grad_(not frozen)

    @property
    def body(self) -> PreTrainedModel:
        return self.core.body

    def get_input_embeddings(self):
        return self.embedder.token_embedder

    def set_input_embeddings(self, value):
        self.embedder.token_embedder = value

    def get_output_embeddings(self):
        return self.lm_head.linear

    def set_output_embeddings(self, value):
        self.lm_head.linear = value

    def set_tokenizer(self, tokenizer):
        self.embedder.set_tokenizer(tokenizer)

    @property
    def tokenizer(self):
        """The attached tokenizer (or the one saved beside a loaded model), else None."""
        return self.embedder.attached_tokenizer()

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
        logits_to_keep=0,
        past_key_values: Cache = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        cache = _pick_cache(cache, past_key_values)
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        use_cache = (self.config.use_cache and not self.training) if use_cache is None else use_cache
        reference = input_ids if input_ids is not None else inputs_embeds
        if position_ids is None:
            past_length = cache.get_seq_length() if cache is not None else 0
            position_ids = default_position_ids(attention_mask, past_length, reference.shape[1], reference.device)
        hidden_states = self.positions.add_to_embeddings(self.embedder(input_ids, inputs_embeds), position_ids)
        hidden_states = self.dropout(hidden_states)
        outputs = self.core(
            hidden_states, attention_mask=attention_mask, position_ids=position_ids, cache=cache, use_cache=use_cache
        )
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(outputs.last_hidden_state[:, keep, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        new_cache = getattr(outputs, CACHE_FIELD, None) if use_cache else None
        return CausalLMOutputWithPast(loss=loss, logits=logits, **{CACHE_FIELD: new_cache})


TinyLMHFCoreConfig.register_for_auto_class()
TinyLMHFCoreForCausalLM.register_for_auto_class("AutoModelForCausalLM")
