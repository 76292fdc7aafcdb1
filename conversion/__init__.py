"""Conversions between TinyLM and other formats, each proven by logits.

- ``conversion.stlm``: original STLM research-code checkpoints → a TinyLM folder (``convert_stlm_checkpoint``).
- ``conversion.llama``: TinyLM ⇄ ``LlamaForCausalLM`` (``to_llama``, ``from_llama``).
- ``conversion.gpt2``: TinyLM ⇄ ``GPT2LMHeadModel`` (``to_gpt2``, ``from_gpt2``).
- ``conversion.cli``: the ``tinylm convert`` commands (``add_convert_subparser``).

A model the target cannot express raises ``UnsupportedFeatureError`` naming the feature; every error is a
``ValueError`` subclass (``ConversionError``) or ``FileNotFoundError`` / ``FileExistsError``.
"""

from .errors import (
    CheckpointMismatchError,
    ConversionError,
    ParityError,
    UnsafeCheckpointError,
    UnsupportedFeatureError,
)
from .gpt2 import from_gpt2, to_gpt2
from .llama import from_llama, to_llama
from .stlm import convert_stlm_checkpoint

__all__ = [
    "convert_stlm_checkpoint",
    "to_llama",
    "from_llama",
    "to_gpt2",
    "from_gpt2",
    "ConversionError",
    "UnsupportedFeatureError",
    "CheckpointMismatchError",
    "UnsafeCheckpointError",
    "ParityError",
]
