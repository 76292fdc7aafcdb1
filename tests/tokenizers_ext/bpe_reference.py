"""Plain pure-Python references for the BPE tokenizer, written for clarity, not speed.

- `reference_encode`: the original STLM encoder. Text -> UTF-8 bytes; while some adjacent pair has a
  merge, take the pair with the lowest merge id and replace all its occurrences left to right.
- `reference_train`: greedy BPE training, recounting every pair after each merge, with the documented
  rules of tokenizers_ext/bpe_training.py (texts are units, special-token text is cut out, ties go to
  the pair whose tokens come first: bytes by their byte-level character, then merged tokens by id).

Used by the parity tests and by bench/tokenizers.py as the "pure Python doing the same work" baseline.
Independent of tokenizers_ext on purpose: only the GPT-2 regex and the byte table are restated here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import regex

GPT2_SPLIT = regex.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
SPECIAL_TOKENS = ("<|pad|>", "<|endoftext|>")
_SPECIAL_SPLIT = re.compile("|".join(re.escape(token) for token in SPECIAL_TOKENS))


def byte_level_char_order() -> dict[int, int]:
    """Rank of each byte when bytes are sorted by their GPT-2 byte-level character."""
    printable = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    shifted = [b for b in range(256) if b not in printable]
    char_of = {b: b for b in printable} | {b: 256 + n for n, b in enumerate(shifted)}
    return {b: rank for rank, b in enumerate(sorted(range(256), key=lambda b: char_of[b]))}


def split_for_training(text: str, pre_split: str) -> list[str]:
    pieces = [piece for piece in _SPECIAL_SPLIT.split(text) if piece]
    if pre_split == "gpt2":
        pieces = [word for piece in pieces for word in GPT2_SPLIT.findall(piece)]
    return pieces


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace occurrences of `pair` left to right (an occurrence never overlaps the previous one)."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def reference_encode(text: str, merges: list[tuple[int, int]], pre_split: str = "none") -> list[int]:
    merge_id = {pair: 256 + index for index, pair in enumerate(merges)}
    pieces = GPT2_SPLIT.findall(text) if pre_split == "gpt2" else [text]
    out: list[int] = []
    for piece in pieces:
        ids = list(piece.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: merge_id.get(p, float("inf")))
            if pair not in merge_id:
                break
            ids = merge_pair(ids, pair, merge_id[pair])
        out.extend(ids)
    return out


def reference_decode(ids: list[int], merges: list[tuple[int, int]]) -> str:
    vocab = {b: bytes([b]) for b in range(256)}
    for index, (first, second) in enumerate(merges):
        vocab[256 + index] = vocab[first] + vocab[second]
    specials = {256 + len(merges) + offset: token.encode() for offset, token in enumerate(SPECIAL_TOKENS)}
    return b"".join(vocab.get(i) or specials[i] for i in ids).decode("utf-8", errors="replace")


def training_sequences(texts: Iterable[str], pre_split: str = "none") -> list[list]:
    """[ids, count] for every distinct training unit (text, or GPT-2 piece), as UTF-8 bytes."""
    words = Counter(tuple(piece.encode("utf-8")) for text in texts for piece in split_for_training(text, pre_split))
    return [[list(word), count] for word, count in words.items()]


def most_frequent_pair(sequences: list[list], order: dict[int, int]) -> tuple[int, int] | None:
    """Count every adjacent pair from scratch; the most frequent, ties to the pair whose tokens come first."""
    counts: Counter = Counter()
    for ids, count in sequences:
        for pair in zip(ids, ids[1:]):
            counts[pair] += count
    if not counts:
        return None
    return min(counts, key=lambda pair: (-counts[pair], order[pair[0]], order[pair[1]]))


def training_step(sequences: list[list], order: dict[int, int], new_id: int) -> tuple[int, int] | None:
    """One greedy merge: find the best pair, give it `new_id`, replace it everywhere. None if no pair is left."""
    best = most_frequent_pair(sequences, order)
    if best is None:
        return None
    order[new_id] = new_id  # merged tokens sort after every byte (ranks 0..255), by id
    for entry in sequences:
        entry[0] = merge_pair(entry[0], best, new_id)
    return best


def reference_train(texts: Iterable[str], vocab_size: int, pre_split: str = "none") -> list[tuple[int, int]]:
    sequences = training_sequences(texts, pre_split)
    order = byte_level_char_order()  # tie-break rank of every token id
    merges: list[tuple[int, int]] = []
    while 256 + len(merges) + len(SPECIAL_TOKENS) < vocab_size:
        best = training_step(sequences, order, 256 + len(merges))
        if best is None:
            break
        merges.append(best)
    return merges
