"""hf_tinylm: composable super-tiny language models as Hugging Face transformers classes.

Importing the package registers ``TinyLMConfig`` (model_type ``"tinylm"``) with AutoConfig, AutoModel and
AutoModelForCausalLM.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .configuration_tinylm import TinyLMConfig
from .modeling_tinylm import TinyLMForCausalLM, TinyLMModel, TinyLMPreTrainedModel

AutoConfig.register(TinyLMConfig.model_type, TinyLMConfig, exist_ok=True)
AutoModel.register(TinyLMConfig, TinyLMModel, exist_ok=True)
AutoModelForCausalLM.register(TinyLMConfig, TinyLMForCausalLM, exist_ok=True)

__all__ = ["TinyLMConfig", "TinyLMModel", "TinyLMForCausalLM", "TinyLMPreTrainedModel"]
__version__ = "0.1.0"
