"""Text generation for TinyLM and any transformers causal LM.

``Generator`` is the interface (``generate``, ``stream``, ``generate_ids``); ``GreedyGenerator``, ``TopKSampler``,
``TopPSampler`` and the general ``Sampler`` implement it, each built as ``Cls(model, tokenizer=None, **options)``.
Decoding runs on our own static-KV-cache loop for TinyLM models and through the model's forward otherwise.
"""

from .base import Generator
from .decoding import StaticCacheDecoder, TransformersDecoder, UncachedDecoder, build_decoder
from .greedy import GreedyGenerator
from .sampling import Sampler, TopKSampler, TopPSampler

__all__ = [
    "Generator",
    "GreedyGenerator",
    "Sampler",
    "TopKSampler",
    "TopPSampler",
    "StaticCacheDecoder",
    "TransformersDecoder",
    "UncachedDecoder",
    "build_decoder",
]
