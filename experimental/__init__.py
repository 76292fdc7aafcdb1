"""Experimental models, as working and trainable transformers models.

- ``experimental.byte_level``: byte-level models (model_type ``"tinylm_byte"``);
- ``experimental.next_thought``: next-thought models (model_type ``"tinylm_next_thought"``);
- ``experimental.hf_adapter``: any local transformers causal LM as embedder → core → head (``HFShell``; it lives in
  ``hf_tinylm.hf_adapter``, which ``tinylm compare --pretrained`` uses, and is re-exported here);
- ``experimental.metrics``: bits per byte, computed the same way for every model;
- ``experimental.training``: real text, GPT-2's tokenizer and a small training loop, offline.

Importing ``experimental`` (or any of its modules) registers both model types with AutoConfig, AutoModel and
AutoModelForCausalLM. Docs: docs/experimental.md.
"""

from . import byte_level, hf_adapter, metrics, next_thought, training
from .byte_level import TinyLMByteConfig, TinyLMByteForCausalLM, TinyLMByteModel, build_byte_model
from .hf_adapter import HFShell
from .metrics import bits_per_byte, evaluate_bits_per_byte
from .next_thought import TinyLMNextThoughtConfig, TinyLMNextThoughtForCausalLM, TinyLMNextThoughtModel

__all__ = [
    "byte_level",
    "next_thought",
    "hf_adapter",
    "metrics",
    "training",
    "TinyLMByteConfig",
    "TinyLMByteModel",
    "TinyLMByteForCausalLM",
    "build_byte_model",
    "TinyLMNextThoughtConfig",
    "TinyLMNextThoughtModel",
    "TinyLMNextThoughtForCausalLM",
    "HFShell",
    "bits_per_byte",
    "evaluate_bits_per_byte",
]
