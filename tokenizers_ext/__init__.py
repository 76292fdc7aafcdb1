"""Tokenizers for hf_tinylm: the seed's interface as Hugging Face fast tokenizers.

- `Tokenizer`: the interface (encode, encode_batch, decode, decode_batch, pad_batch, eot_token_id,
  pad_token_id, vocab_size) on a transformers `TokenizersBackend`.
- `GPT2Tokenizer`: GPT-2's vocabulary offline, ids identical to tiktoken's `gpt2`.
- `BPETokenizer`: the original byte-level BPE (no pre-splitting, rank-ordered merges), trainable.
"""

import importlib

# The tokenizers import transformers (seconds); they load on first use, so that `tokenizers_ext.cli` (the command
# line's parser) and `tokenizers_ext.atomic_files` import in milliseconds.
_TOKENIZERS = {"Tokenizer": "base", "BPETokenizer": "bpe", "GPT2Tokenizer": "gpt2"}


def __getattr__(name):
    if name in _TOKENIZERS:
        return getattr(importlib.import_module(f"{__name__}.{_TOKENIZERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Tokenizer", "GPT2Tokenizer", "BPETokenizer"]
