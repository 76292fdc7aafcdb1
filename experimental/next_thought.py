"""Next-thought models: text → latent thoughts → the next thought → its tokens.

Public names: ``TinyLMNextThoughtConfig`` / ``TinyLMNextThoughtModel`` / ``TinyLMNextThoughtForCausalLM``
(model_type ``"tinylm_next_thought"``, registered with AutoConfig, AutoModel and AutoModelForCausalLM on import)
and the components ``HierarchicalEncoder``, ``AttentionPoolingLayer``, ``BaselineLatentCore`` (the one latent core) and ``VariableLengthLatentDecoder``. The modeling code lives in flat ``hf_tinylm``
files so that ``save_pretrained`` can copy it next to the weights; docs/experimental.md describes the objective
and the decisions the original left open.
"""


from hf_tinylm.modeling.configuration_tinylm_next_thought import TinyLMNextThoughtConfig
from hf_tinylm.modeling.modeling_tinylm_next_thought import (
    TinyLMNextThoughtCausalLMOutput,
    TinyLMNextThoughtForCausalLM,
    TinyLMNextThoughtModel,
    TinyLMNextThoughtModelOutput,
    TinyLMNextThoughtPreTrainedModel,
)
from hf_tinylm.modeling.next_thought_components import (
    AttentionPoolingLayer,
    BaselineLatentCore,
    HierarchicalEncoder,
    VariableLengthLatentDecoder,
    kept_token_count,
)

# Registered with the Auto classes by `import hf_tinylm` (which importing this module runs).

__all__ = [
    "TinyLMNextThoughtConfig",
    "TinyLMNextThoughtModel",
    "TinyLMNextThoughtForCausalLM",
    "TinyLMNextThoughtPreTrainedModel",
    "TinyLMNextThoughtModelOutput",
    "TinyLMNextThoughtCausalLMOutput",
    "HierarchicalEncoder",
    "AttentionPoolingLayer",
    "BaselineLatentCore",
    "VariableLengthLatentDecoder",
    "kept_token_count",
]
