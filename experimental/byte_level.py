"""Byte-level models: every GPT-2 token is read and written through its bytes.

Public names: ``TinyLMByteConfig`` / ``TinyLMByteModel`` / ``TinyLMByteForCausalLM`` (model_type
``"tinylm_byte"``, registered with AutoConfig, AutoModel and AutoModelForCausalLM on import), the components
``ByteLevelEmbedder`` and ``ByteLevelDecoder``, and ``build_byte_model(config, tokenizer)``, which builds a model
with its token → bytes table taken from the tokenizer. The modeling code lives in flat ``hf_tinylm`` files so
that ``save_pretrained`` can copy it next to the weights.
"""


from hf_tinylm.modeling.byte_level_components import (
    ByteLevelDecoder,
    ByteLevelEmbedder,
    token_bytes_table,
    token_logits_from_bytes,
)
from hf_tinylm.modeling.configuration_tinylm_byte import TinyLMByteConfig
from hf_tinylm.modeling.modeling_tinylm_byte import (
    TinyLMByteCausalLMOutput,
    TinyLMByteForCausalLM,
    TinyLMByteModel,
    TinyLMBytePreTrainedModel,
)

# Registered with the Auto classes by `import hf_tinylm` (which importing this module runs).


def build_byte_model(config: TinyLMByteConfig, tokenizer, **from_config_kwargs) -> TinyLMByteForCausalLM:
    """A fresh ``TinyLMByteForCausalLM`` whose token → bytes table comes from ``tokenizer`` (which stays attached).

    ``config.vocab_size`` must cover the tokenizer; ``from_config_kwargs`` go to ``_from_config`` (e.g.
    ``attn_implementation``, ``dtype``).
    """
    if config.vocab_size < len(tokenizer):
        raise ValueError(
            f"vocab_size={config.vocab_size} is smaller than the tokenizer's {len(tokenizer)} tokens; "
            f"allowed: vocab_size >= len(tokenizer)"
        )
    model = TinyLMByteForCausalLM._from_config(config, **from_config_kwargs)
    model.set_tokenizer(tokenizer)
    return model


__all__ = [
    "TinyLMByteConfig",
    "TinyLMByteModel",
    "TinyLMByteForCausalLM",
    "TinyLMBytePreTrainedModel",
    "TinyLMByteCausalLMOutput",
    "ByteLevelEmbedder",
    "ByteLevelDecoder",
    "build_byte_model",
    "token_bytes_table",
    "token_logits_from_bytes",
]
