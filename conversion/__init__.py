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
import importlib

# The converters import torch and transformers (seconds); they load on first use, so that `conversion.cli` (the
# command line's parser) and the error classes import in milliseconds.
_CONVERTERS = {"to_gpt2": "gpt2", "from_gpt2": "gpt2", "to_llama": "llama", "from_llama": "llama",
               "convert_stlm_checkpoint": "stlm"}


def __getattr__(name):
    if name in _CONVERTERS:
        return getattr(importlib.import_module(f"{__name__}.{_CONVERTERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
