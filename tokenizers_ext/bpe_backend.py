"""Express the original byte-level BPE exactly as a `tokenizers` pipeline, and read it back.

The original: text -> UTF-8 bytes (ids 0..255) -> repeatedly merge the adjacent pair with the lowest
merge id, every occurrence left to right, until no pair has a merge. No pre-splitting, so merges may
cross spaces. Specials: `<|pad|>` = vocab_size-2, `<|endoftext|>` = vocab_size-1.

As `tokenizers` components:
- pre-tokenizer `ByteLevel(use_regex=False)`: spells each byte as one character (byte_level.py) and
  does not split, so the whole text is one "word" and merges may cross spaces. With
  `pre_split="gpt2"`, `use_regex=True` first splits with GPT-2's regex (an option, not the original).
- model `BPE`: token string of id i = the byte-level spelling of its bytes; merge i = (string of
  id1, string of id2), rank i. The BPE model keeps a heap of (rank, position) and merges the lowest
  rank, leftmost first. Since a merge may only use tokens made by earlier merges, merging rank r never
  creates a pair of rank <= r, so all rank-r occurrences go left to right before any higher rank:
  exactly the original's "all occurrences of the lowest merge id, left to right". Tests check it
  against a plain implementation of the original on random merges and texts.
- decoder `ByteLevel`: characters back to bytes, invalid UTF-8 replaced by U+FFFD (the original
  decoded with errors="replace" too).

What `tokenizers` cannot express: two ids with the same bytes (its vocabulary maps a string to one
id), or a merged token whose bytes spell a special token. Such merges files are refused with a clear
error; our trainer cannot produce them (see bpe_training.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tokenizers import AddedToken, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as RustTokenizer

from .byte_level import BYTE_TO_CHAR, bytes_to_token_string, merge_pair

PAD_TOKEN = "<|pad|>"
END_OF_TEXT = "<|endoftext|>"
SPECIAL_TOKENS = (PAD_TOKEN, END_OF_TEXT)  # ids vocab_size-2, vocab_size-1, in this order
PRE_SPLIT_MODES = ("none", "gpt2")
FIRST_MERGED_ID = 256
MIN_VOCAB_SIZE = FIRST_MERGED_ID + len(SPECIAL_TOKENS)


def check_pre_split(pre_split: str) -> str:
    if pre_split not in PRE_SPLIT_MODES:
        raise ValueError(f"pre_split must be one of {PRE_SPLIT_MODES}, got {pre_split!r}")
    return pre_split


def merged_token_bytes(merges: Sequence[tuple[int, int]], source: str) -> list[bytes]:
    """Bytes of every id 0..255+len(merges); refuses merges `tokenizers` could not reproduce exactly."""
    token_bytes = [bytes([b]) for b in range(256)]
    id_of_bytes = {data: token_id for token_id, data in enumerate(token_bytes)}
    specials = {token.encode(): token for token in SPECIAL_TOKENS}
    seen_pairs: dict[tuple[int, int], int] = {}
    for index, merge in enumerate(merges):
        new_id = FIRST_MERGED_ID + index
        if len(merge) != 2 or not all(isinstance(t, int) and not isinstance(t, bool) for t in merge):
            raise ValueError(f"{source}: merge {index} is {merge!r}; a merge is a pair of int token ids")
        first, second = merge
        for token_id in merge:
            if not 0 <= token_id < new_id:
                raise ValueError(
                    f"{source}: merge {index} (id {new_id}) names token id {token_id}; only ids 0..{new_id - 1} "
                    "exist before it"
                )
        if merge in seen_pairs:
            raise ValueError(f"{source}: merge {index} repeats merge {seen_pairs[merge]} ({first} {second})")
        seen_pairs[merge] = index
        data = token_bytes[first] + token_bytes[second]
        if data in id_of_bytes:
            raise ValueError(
                f"{source}: merge {index} (id {new_id}) makes the bytes {data!r} of id {id_of_bytes[data]} again; "
                "a tokenizers vocabulary keeps one id per byte string, so these merges cannot be loaded exactly"
            )
        if data in specials:
            raise ValueError(
                f"{source}: merge {index} (id {new_id}) spells the special token {specials[data]!r}; "
                "tokenizer.json could not tell the two apart"
            )
        id_of_bytes[data] = new_id
        token_bytes.append(data)
    return token_bytes


def build_bpe_backend(merges: Sequence[tuple[int, int]], pre_split: str, source: str) -> RustTokenizer:
    """The `tokenizers` pipeline that encodes exactly like the original with these merges."""
    check_pre_split(pre_split)
    token_bytes = merged_token_bytes(merges, source)
    token_strings = [bytes_to_token_string(data) for data in token_bytes]
    vocab = {token: token_id for token_id, token in enumerate(token_strings)}
    for offset, special in enumerate(SPECIAL_TOKENS):
        vocab[special] = len(token_strings) + offset
    model = models.BPE(
        vocab=vocab,
        merges=[(token_strings[first], token_strings[second]) for first, second in merges],
        dropout=None,
        fuse_unk=False,
    )
    backend = RustTokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=pre_split == "gpt2")
    backend.decoder = decoders.ByteLevel()
    # In the model vocabulary *and* registered as special, so both transformers' `vocab_size` and
    # `len()` count them, and `skip_special_tokens` knows them.
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    return backend


def bpe_layout_from_backend(backend: RustTokenizer, source: str) -> tuple[list[tuple[int, int]], str]:
    """Recover (merges, pre_split) from a backend built by `build_bpe_backend`; ValueError otherwise."""
    config = json.loads(backend.to_str())
    model, pre_tokenizer = config.get("model") or {}, config.get("pre_tokenizer") or {}

    def refuse(reason: str) -> ValueError:
        return ValueError(f"{source}: not a BPETokenizer tokenizer ({reason})")

    if model.get("type") != "BPE" or pre_tokenizer.get("type") != "ByteLevel":
        found = f"model {model.get('type')!r}, pre-tokenizer {pre_tokenizer.get('type')!r}"
        raise refuse(f"{found}; expected BPE, ByteLevel")
    if pre_tokenizer.get("add_prefix_space"):
        raise refuse("its ByteLevel pre-tokenizer adds a prefix space")
    vocab: dict[str, int] = model["vocab"]
    for byte, char in BYTE_TO_CHAR.items():
        if vocab.get(char) != byte:
            raise refuse(f"byte {byte} is not id {byte}")
    merges = []
    for index, merge in enumerate(model["merges"]):
        first, second = merge_pair(merge)
        if vocab.get(first + second) != FIRST_MERGED_ID + index:
            raise refuse(f"merge {index} ({first!r}, {second!r}) is not id {FIRST_MERGED_ID + index}")
        merges.append((vocab[first], vocab[second]))
    size = FIRST_MERGED_ID + len(merges) + len(SPECIAL_TOKENS)
    for offset, special in enumerate(SPECIAL_TOKENS):
        if vocab.get(special) != size - len(SPECIAL_TOKENS) + offset:
            raise refuse(f"{special!r} is not id {size - len(SPECIAL_TOKENS) + offset}")
    if len(vocab) != size:
        raise refuse(f"{len(vocab)} tokens, expected 256 bytes + {len(merges)} merges + 2 specials = {size}")
    return merges, "gpt2" if pre_tokenizer.get("use_regex") else "none"
