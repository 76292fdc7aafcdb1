"""Tokenizers for hf_tinylm: the seed's interface as Hugging Face fast tokenizers.

- `Tokenizer`: the interface (encode, encode_batch, decode, decode_batch, pad_batch, eot_token_id,
  pad_token_id, vocab_size) on a transformers `TokenizersBackend`.
- `GPT2Tokenizer`: GPT-2's vocabulary offline, ids identical to tiktoken's `gpt2`.
- `BPETokenizer`: the original byte-level BPE (no pre-splitting, rank-ordered merges), trainable.
"""

from .base import Tokenizer
from .bpe import BPETokenizer
from .gpt2 import GPT2Tokenizer

__all__ = ["Tokenizer", "GPT2Tokenizer", "BPETokenizer"]
