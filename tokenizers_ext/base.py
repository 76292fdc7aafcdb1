"""`Tokenizer`: the seed's tokenizer interface, as a transformers fast tokenizer.

Every tokenizer here is a `transformers` `TokenizersBackend` (the v5 name of `PreTrainedTokenizerFast`)
around a `tokenizers.Tokenizer`, and is saved as `tokenizer.json`; `AutoTokenizer.from_pretrained(dir)`
reloads it as a plain `TokenizersBackend` in a Python where this package cannot even be imported.

On top, the seed's interface: `encode` (plain ids, no special tokens added), `encode_batch`, `decode`,
`decode_batch`, `pad_batch`, `eot_token_id`, `pad_token_id` and `vocab_size`. Where a seed name means
something else in transformers (`pad_token` is a *string* there), the transformers meaning wins and the
ids live in `eot_token_id` / `pad_token_id`.

Text that spells a special token ("<|endoftext|>") is encoded as ordinary text, never as the special
id (`split_special_tokens=True`, saved with the tokenizer): special ids only enter a sequence when
code appends them on purpose, as the original did.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import torch
from tokenizers import Tokenizer as RustTokenizer
from transformers import TokenizersBackend

from .atomic_files import save_into_directory_atomically
from .input_checks import as_id_list, check_ids_in_vocab, check_nested_texts, check_text, check_texts

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
PAD_DIRECTIONS = ("right", "left")
_HUB_OPTIONS = ("commit_message", "token", "private", "revision", "create_pr")


class Tokenizer(TokenizersBackend):
    """Seed tokenizer interface + transformers fast tokenizer. Subclasses pick the plain-text engine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Subclasses hand over a backend they just built: adopt it rather than let transformers
        # deep-copy a `tokenizer_object` (a quarter second for GPT-2's 50k-token vocabulary).
        backend = kwargs.pop("_backend", None)
        if backend is not None:
            self._tokenizer = backend
        kwargs.setdefault("split_special_tokens", True)
        # transformers' clean-up strips spaces before punctuation: never wanted for byte-level BPE.
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ loading and saving

    @classmethod
    def convert_to_native_format(cls, trust_remote_code: bool = False, **kwargs: Any) -> dict[str, Any]:
        # transformers would take a subclass with its own __init__ apart into vocab/merges and expect
        # __init__ to rebuild it; ours always travel whole as tokenizer.json, so hand that file over as is.
        if kwargs.get("tokenizer_file") is not None:
            return kwargs
        return super().convert_to_native_format(trust_remote_code=trust_remote_code, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any):
        """Load a saved tokenizer folder; a truncated or corrupt file gives a ValueError naming it."""
        path = os.fspath(pretrained_model_name_or_path)
        if os.path.isdir(path):
            _check_saved_tokenizer_files(path)
        return super().from_pretrained(path, *args, **kwargs)

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        """Save tokenizer.json + tokenizer_config.json; each file lands atomically (temp file + rename)."""
        if kwargs.pop("push_to_hub", False):
            # Save here first, then upload through push_to_hub (which saves a copy through this same
            # method), so the Hub gets the same files as the folder.
            repo_id = kwargs.pop("repo_id", os.path.basename(os.path.normpath(os.fspath(save_directory))))
            hub_options = {key: kwargs.pop(key) for key in _HUB_OPTIONS if key in kwargs}
            saved = self.save_pretrained(save_directory, *args, **kwargs)
            self.push_to_hub(repo_id, **hub_options)
            return saved

        def write_into(staging_dir: str) -> tuple[str, ...]:
            written = super(Tokenizer, self).save_pretrained(staging_dir, *args, **kwargs)
            config_path = os.path.join(staging_dir, TOKENIZER_CONFIG_FILE)
            if os.path.isfile(config_path):
                _mark_as_generic_backend(config_path)
            return written

        return save_into_directory_atomically(save_directory, write_into)

    # ------------------------------------------------------------------ seed interface

    @property
    def eot_token_id(self) -> int:
        """Id of the end-of-text token (transformers' `eos_token_id`)."""
        return self.eos_token_id

    @property
    def vocab_size(self) -> int:
        """Every id, special tokens included: the same number as `len(tokenizer)`."""
        return len(self)

    def encode(self, text: Any, *args: Any, **kwargs: Any) -> list[int]:
        """Plain ids for `text`: no special tokens added, special-token text encoded as text.

        With any transformers argument (`add_special_tokens=`, `return_tensors=`, a text pair, ...)
        this is transformers' `encode`, which gives the same ids for plain text.
        """
        if args or kwargs or not isinstance(text, str):
            return super().encode(text, *args, **kwargs)
        return self._encode_plain(check_text(text))

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` for many texts at once (in parallel where the engine allows)."""
        return self._encode_plain_batch(check_texts(texts))

    def decode_batch(self, token_lists: Any) -> list[str]:
        """`decode` each sequence; accepts a list of id lists or a 2-D tensor."""
        if hasattr(token_lists, "tolist"):
            token_lists = token_lists.tolist()
        sequences = [as_id_list(tokens) for tokens in token_lists]
        size = len(self)
        for tokens in sequences:
            check_ids_in_vocab(tokens, size)
        return self._decode_plain_batch(sequences)

    def pad_batch(
        self, token_lists: Sequence[Sequence[int]], direction: str = "right"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad id lists to one length with `pad_token_id`: returns (ids, mask), both int64 (batch, length).

        `direction="right"` puts the padding after the tokens (training), `"left"` before them
        (batched generation, so every sequence ends at the last column). mask is 1 on real tokens.
        """
        if direction not in PAD_DIRECTIONS:
            raise ValueError(f"direction must be one of {PAD_DIRECTIONS}, got {direction!r}")
        sequences = [as_id_list(tokens) for tokens in token_lists]
        if not sequences:  # transformers' pad hands an empty batch back as a list
            return torch.zeros((0, 0), dtype=torch.long), torch.zeros((0, 0), dtype=torch.long)
        padded = self.pad(
            {"input_ids": sequences}, padding=True, padding_side=direction, return_attention_mask=True,
            return_tensors="pt",
        )
        return padded["input_ids"], padded["attention_mask"]

    # ------------------------------------------------------------------ transformers hooks

    def _encode_plus(self, text: Any, text_pair: Any = None, *args: Any, **kwargs: Any):
        # Catch lone surrogates here too, so tok(...) fails as clearly as encode(...).
        check_nested_texts(text, "text")
        if text_pair is not None:
            check_nested_texts(text_pair, "text_pair")
        return super()._encode_plus(text, text_pair, *args, **kwargs)

    def _decode(self, token_ids: Any, skip_special_tokens: bool = False, **kwargs: Any) -> str:
        # Every decode path (single, batched, tensors) ends here: check the ids before the backend,
        # which would silently drop unknown ids.
        ids = as_id_list(token_ids)
        check_ids_in_vocab(ids, len(self))
        if not skip_special_tokens and not kwargs.get("clean_up_tokenization_spaces"):
            return self._decode_plain(ids)
        return super()._decode(ids, skip_special_tokens=skip_special_tokens, **kwargs)

    # ------------------------------------------------------------------ engine (subclasses may override)

    def _encode_plain(self, text: str) -> list[int]:
        backend = self._tokenizer
        backend.encode_special_tokens = True  # special-token text is ordinary text
        return backend.encode(text, add_special_tokens=False).ids

    def _encode_plain_batch(self, texts: list[str]) -> list[list[int]]:
        backend = self._tokenizer
        backend.encode_special_tokens = True
        return [encoding.ids for encoding in backend.encode_batch_fast(texts, add_special_tokens=False)]

    def _decode_plain(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    def _decode_plain_batch(self, sequences: list[list[int]]) -> list[str]:
        return self._tokenizer.decode_batch(sequences, skip_special_tokens=False)


def _check_saved_tokenizer_files(directory: str) -> None:
    """Parse tokenizer.json / tokenizer_config.json up front so a broken file is named in the error."""
    config_path = os.path.join(directory, TOKENIZER_CONFIG_FILE)
    if os.path.isfile(config_path):
        try:
            with open(config_path, encoding="utf-8") as handle:
                json.load(handle)
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{config_path}: corrupt or truncated tokenizer config ({err})") from None
    tokenizer_path = os.path.join(directory, TOKENIZER_FILE)
    if not os.path.isfile(tokenizer_path):
        raise ValueError(f"{tokenizer_path}: missing; a saved tokenizer folder holds {TOKENIZER_FILE}")
    try:
        RustTokenizer.from_file(tokenizer_path)
    except Exception as err:  # the Rust side raises a bare Exception with the serde message
        raise ValueError(f"{tokenizer_path}: corrupt or truncated tokenizer file ({err})") from None


def _mark_as_generic_backend(config_path: str) -> None:
    # Name the generic class, not ours: a Python without this package (or transformers' own class
    # of the same name, e.g. GPT2Tokenizer) must rebuild exactly what tokenizer.json describes.
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    config["tokenizer_class"] = "TokenizersBackend"
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
