"""`BPETokenizer`: the original STLM byte-level BPE, exact, as a transformers fast tokenizer.

Ids 0..255 are bytes, merge i makes id 256 + i, then `<|pad|>` = vocab_size-2 and
`<|endoftext|>` = vocab_size-1. Encoding merges the lowest-id pair first, across spaces (no
pre-splitting), giving the original's ids on any text; `pre_split="gpt2"` cuts text with GPT-2's regex
first (an option). How the original maps onto `tokenizers` components: bpe_backend.py. Training:
bpe_training.py. The original's `.model` merges files: stlm_merges.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from .base import Tokenizer
from .bpe_backend import (
    END_OF_TEXT,
    PAD_TOKEN,
    bpe_layout_from_backend,
    build_bpe_backend,
    check_pre_split,
    merged_token_bytes,
)
from .bpe_training import checked_texts, text_units_from_files, train_merges
from .stlm_merges import read_stlm_merges, write_stlm_merges


class BPETokenizer(Tokenizer):
    """Byte-level BPE with the original's semantics; build it from merges, train it, or load it."""

    def __init__(self, merges: Sequence[tuple[int, int]] | None = None, pre_split: str = "none", **kwargs: Any) -> None:
        check_pre_split(pre_split)
        backend_given = "tokenizer_object" in kwargs or "tokenizer_file" in kwargs
        if backend_given and merges is not None:
            raise ValueError("pass merges or a tokenizer_object/tokenizer_file, not both")
        if not backend_given:
            merges = [tuple(merge) for merge in (merges or [])]
            kwargs["_backend"] = build_bpe_backend(merges, pre_split, "merges")
        kwargs.setdefault("eos_token", END_OF_TEXT)
        kwargs.setdefault("pad_token", PAD_TOKEN)
        super().__init__(**kwargs)
        if backend_given:
            source = os.fspath(kwargs.get("tokenizer_file") or "tokenizer_object")
            merges, pre_split = bpe_layout_from_backend(self._tokenizer, source)
        self._merges: list[tuple[int, int]] = list(merges)
        self._pre_split = pre_split

    @property
    def merges(self) -> list[tuple[int, int]]:
        """Merge i joins these two ids into id 256 + i (a copy)."""
        return list(self._merges)

    @property
    def pre_split(self) -> str:
        """"none" (the original: merges may cross spaces) or "gpt2" (GPT-2's regex splits first)."""
        return self._pre_split

    # ------------------------------------------------------------------ training

    @classmethod
    def train(
        cls, texts: Iterable[str], vocab_size: int, pre_split: str = "none", show_progress: bool = True
    ) -> BPETokenizer:
        """Learn a tokenizer with `vocab_size` ids from `texts` (each text is a unit; see bpe_training.py).

        Pass lines or paragraphs rather than one huge string: a pair's occurrences inside one text are
        rescanned per merge, so a single multi-megabyte text trains slowly.
        """
        merges = train_merges(checked_texts(texts, show_progress), vocab_size, pre_split, show_progress)
        return cls(merges=merges, pre_split=pre_split)

    @classmethod
    def train_from_files(
        cls, paths: Sequence[str | os.PathLike], vocab_size: int, pre_split: str = "none", show_progress: bool = True
    ) -> BPETokenizer:
        """`train` on UTF-8 text files, every line (newline kept) a unit; progress in bytes read."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        merges = train_merges(text_units_from_files(paths, show_progress), vocab_size, pre_split, show_progress)
        return cls(merges=merges, pre_split=pre_split)

    # ------------------------------------------------------------------ the original's .model files

    @classmethod
    def from_stlm_merges(cls, path: str | os.PathLike, pre_split: str = "none") -> BPETokenizer:
        """Load an original `.model` merges file ("{id1} {id2}" per line, merged id = 256 + line index)."""
        path = os.fspath(path)
        merges = read_stlm_merges(path)
        merged_token_bytes(merges, source=path)  # what tokenizer.json cannot express: errors name the file
        return cls(merges=merges, pre_split=pre_split)

    def save_stlm_merges(self, path: str | os.PathLike) -> None:
        """Write the merges as an original `.model` file (atomically)."""
        write_stlm_merges(path, self._merges)
