"""Text generation for TinyLM and any transformers causal LM.

``Generator`` is the interface (``generate``, ``stream``, ``generate_ids``); ``GreedyGenerator``, ``TopKSampler``,
``TopPSampler`` and the general ``Sampler`` implement it, each built as ``Cls(model, tokenizer=None, **options)``.
Decoding runs the model's own forward, with our static KV cache for TinyLM models and transformers' dynamic cache
otherwise.
"""

from .base import Generator
from .decoding import CachedDecoder, StaticCacheDecoder, TransformersDecoder, UncachedDecoder, build_decoder
from .greedy import GreedyGenerator
from .sampling import Sampler, TopKSampler, TopPSampler

__all__ = [
    "Generator",
    "GreedyGenerator",
    "Sampler",
    "TopKSampler",
    "TopPSampler",
    "CachedDecoder",
    "StaticCacheDecoder",
    "TransformersDecoder",
    "UncachedDecoder",
    "build_decoder",
]
