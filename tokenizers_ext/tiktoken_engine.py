"""tiktoken as the plain-text engine for GPT-2's exact vocabulary, when tiktoken is installed.

tiktoken merges a pair by the rank of the *merged bytes*, `tokenizers` by the merge list's order; for
OpenAI's GPT-2 files the two agree (ranks == ids == merge order, checked by tiktoken's own loader and
by our tests), so ids are identical and tiktoken is ~3x faster. For any other vocabulary the agreement
is not guaranteed, so callers only use this for the vocabulary with GPT-2's fingerprint.

The encoding is built in memory from the vocabulary we already hold: nothing is downloaded or cached.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .byte_level import token_string_to_bytes
from .gpt2_vocab import END_OF_TEXT, GPT2Vocab

if TYPE_CHECKING:
    import tiktoken

# GPT-2's split pattern (the r50k pattern), spelled as in the GPT-2 paper's encoder.
_GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

_ENCODINGS: dict[str, tiktoken.Encoding] = {}


def tiktoken_available() -> bool:
    try:
        import tiktoken  # noqa: F401
    except ImportError:
        return False
    return True


def gpt2_split_pattern() -> str:
    # tiktoken ships an equivalent pattern with possessive quantifiers, which is faster on long runs
    # of whitespace; prefer it when present.
    try:
        from tiktoken_ext.openai_public import r50k_pat_str
    except ImportError:
        return _GPT2_SPLIT_PATTERN
    return r50k_pat_str


def gpt2_tiktoken_encoding(vocab: GPT2Vocab) -> tiktoken.Encoding:
    """A tiktoken Encoding for `vocab` (cached per fingerprint: building one takes ~0.2 s)."""
    fingerprint = vocab.fingerprint  # a cached_property: hashed once per vocabulary
    encoding = _ENCODINGS.get(fingerprint)
    if encoding is None:
        import tiktoken

        ranks = {
            token_string_to_bytes(token): token_id for token, token_id in vocab.vocab.items() if token != END_OF_TEXT
        }
        encoding = tiktoken.Encoding(
            name=f"gpt2-{fingerprint[:12]}",
            pat_str=gpt2_split_pattern(),
            mergeable_ranks=ranks,
            special_tokens={END_OF_TEXT: vocab.vocab[END_OF_TEXT]},
            explicit_n_vocab=len(vocab.vocab),
        )
        _ENCODINGS[fingerprint] = encoding
    return encoding


def batch_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))
