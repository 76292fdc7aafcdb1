"""hf_tinylm: composable super-tiny language models as Hugging Face transformers classes.

Importing the package registers every model family with AutoConfig, AutoModel and AutoModelForCausalLM:
``TinyLMConfig`` (model_type ``"tinylm"``), the byte-level (``"tinylm_byte"``) and next-thought
(``"tinylm_next_thought"``) families, and our embedder and head around a pretrained body (``"tinylm_hf_core"``).
``model_from_stlm`` / ``config_from_stlm`` build any of them from an original STLM ``model:`` section.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .modeling.configuration_tinylm import TinyLMConfig
from .modeling.configuration_tinylm_byte import TinyLMByteConfig
from .modeling.configuration_tinylm_hf_core import TinyLMHFCoreConfig
from .modeling.configuration_tinylm_next_thought import TinyLMNextThoughtConfig
from .modeling.modeling_tinylm import TinyLMForCausalLM, TinyLMModel, TinyLMPreTrainedModel
from .modeling.modeling_tinylm_byte import TinyLMByteForCausalLM, TinyLMByteModel
from .modeling.modeling_tinylm_hf_core import TinyLMHFCoreForCausalLM
from .modeling.modeling_tinylm_next_thought import TinyLMNextThoughtForCausalLM, TinyLMNextThoughtModel
from .stlm import config_from_stlm, model_from_stlm, stlm_family, stlm_section

for _config, _base, _causal_lm in (
    (TinyLMConfig, TinyLMModel, TinyLMForCausalLM),
    (TinyLMByteConfig, TinyLMByteModel, TinyLMByteForCausalLM),
    (TinyLMNextThoughtConfig, TinyLMNextThoughtModel, TinyLMNextThoughtForCausalLM),
    (TinyLMHFCoreConfig, None, TinyLMHFCoreForCausalLM),
):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    if _base is not None:
        AutoModel.register(_config, _base, exist_ok=True)
    AutoModelForCausalLM.register(_config, _causal_lm, exist_ok=True)

__all__ = [
    "TinyLMConfig",
    "TinyLMModel",
    "TinyLMForCausalLM",
    "TinyLMPreTrainedModel",
    "TinyLMByteConfig",
    "TinyLMByteModel",
    "TinyLMByteForCausalLM",
    "TinyLMNextThoughtConfig",
    "TinyLMNextThoughtModel",
    "TinyLMNextThoughtForCausalLM",
    "TinyLMHFCoreConfig",
    "TinyLMHFCoreForCausalLM",
    "config_from_stlm",
    "model_from_stlm",
    "stlm_family",
    "stlm_section",
]
__version__ = "0.1.0"
