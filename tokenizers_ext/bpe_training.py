"""Train the original byte-level BPE fast, with `tokenizers`' BpeTrainer doing the counting.

Semantics (the original's greedy training, made exact and deterministic):
- Each text is a unit: pairs are counted inside a text, never across two (the original glued all
  texts together). `train_from_files` feeds every line, newline kept, as one text. With
  `pre_split="gpt2"` each text is first cut with GPT-2's regex, and pairs stay inside the pieces.
- Text that spells a special token ("<|endoftext|>", "<|pad|>") is cut out first, so no learned
  token can spell one (tokenizer.json could not tell them apart).
- Repeat until vocab_size ids exist (256 bytes + merges + 2 specials) or no pair is left: take the
  most frequent adjacent pair, give it the next id, replace its occurrences left to right.
- Ties between equally frequent pairs: the pair whose tokens come first in the order bytes (ordered
  by their byte-level character, byte_level.py: printable ASCII first) then merged tokens by id. The
  original broke ties by first occurrence; this order is what BpeTrainer uses and is just as greedy.

BpeTrainer does exactly this, incrementally (pair counts updated per merge, a heap of counts), in
Rust. Its results are translated to the original's ids: bytes keep 0..255, merge i becomes 256 + i.
The tests compare it with a plain pure-Python trainer on random corpora, both pre-split modes.
A merge whose bytes already name a token would be skipped (a tokenizers vocabulary maps a string to
one id); greedy training that merges every occurrence cannot produce one, so this never triggers.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence

from tokenizers import Regex, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as RustTokenizer
from tqdm.auto import tqdm

from .bpe_backend import FIRST_MERGED_ID, MIN_VOCAB_SIZE, SPECIAL_TOKENS, check_pre_split
from .byte_level import merge_pair, token_string_to_bytes
from .input_checks import check_text

_READ_BLOCK = 1 << 20


def check_vocab_size(vocab_size: int) -> int:
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(
            f"vocab_size must be an int >= {MIN_VOCAB_SIZE} (256 bytes + 2 special tokens), got {vocab_size!r}"
        )
    return vocab_size


def train_merges(
    units: Iterable[str | list[str]], vocab_size: int, pre_split: str = "none", show_progress: bool = True
) -> list[tuple[int, int]]:
    """Learn merges (pairs of ids, merge i -> id 256 + i); see the module docstring.

    `units` yields training texts, one by one or in lists, already checked (`checked_texts`,
    `text_units_from_files`).
    """
    check_vocab_size(vocab_size)
    check_pre_split(pre_split)
    special_pattern = "|".join(_regex_escape(token) for token in SPECIAL_TOKENS)
    learner = RustTokenizer(models.BPE())
    learner.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(special_pattern), behavior="removed"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=pre_split == "gpt2"),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=0,
        # The Rust trainer draws its own bars on stderr but also prints blank lines on stdout: only
        # let it when both are terminals, so redirected output stays clean.
        show_progress=show_progress and sys.stdout.isatty() and sys.stderr.isatty(),
        special_tokens=list(SPECIAL_TOKENS),  # counted in vocab_size, never merged
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
    )
    learner.train_from_iterator(units, trainer=trainer)
    learned = json.loads(learner.to_str())["model"]["merges"]
    return _to_original_ids(learned)


def text_units_from_files(paths: Sequence[str | os.PathLike], show_progress: bool = True) -> Iterator[list[str]]:
    """Yield the lines of every file (newline kept) in batches, with a progress bar over the bytes read.

    Files are read in 1 MB blocks and split in C: the trainer accepts batches of texts, so no Python
    work is done per line (and text decoded from bytes needs no surrogate check).
    """
    paths = [os.fspath(path) for path in paths]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such file to train on")
    total = sum(os.path.getsize(path) for path in paths)
    with tqdm(total=total, unit="B", unit_scale=True, desc="BPE training: reading", disable=not show_progress) as bar:
        for path in paths:
            yield from _line_batches(path, bar)


def _line_batches(path: str, bar: tqdm) -> Iterator[list[str]]:
    lines_before = 0  # for the line number in a decoding error
    pending = b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_READ_BLOCK)
            data = pending + block
            # Cut after the last b"\n" so no line (or UTF-8 character) is split between blocks;
            # only "\n" ends a line, so "\r\n" and a lone "\r" stay exactly as written.
            cut = len(data) if not block else data.rfind(b"\n") + 1
            pending, data = data[cut:], data[:cut]
            if data:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as err:
                    line_number = lines_before + data.count(b"\n", 0, err.start) + 1
                    raise ValueError(f"{path}: line {line_number} is not UTF-8 ({err.reason})") from None
                lines_before += data.count(b"\n")
                bar.update(len(data))
                lines = text.split("\n")
                last = lines.pop()  # "" when the data ends with a newline
                batch = [line + "\n" for line in lines]
                if last:
                    batch.append(last)
                yield batch
            if not block:
                return


def checked_texts(texts: Iterable[str], show_progress: bool = True) -> Iterator[str]:
    """Yield user texts with a progress bar, refusing non-str and lone surrogates (naming the index)."""
    total = len(texts) if hasattr(texts, "__len__") else None
    with tqdm(total=total, unit=" texts", desc="BPE training: reading", disable=not show_progress) as bar:
        for index, text in enumerate(texts):
            yield check_text(text, f"training text {index}")
            bar.update()


_REGEX_METACHARACTERS = set("\\.^$|?*+()[]{}")


def _regex_escape(text: str) -> str:
    # Escape only true metacharacters: in Oniguruma (tokenizers' regex engine) an escaped letter or
    # "<" can mean something (\< is not a literal everywhere).
    return "".join("\\" + c if c in _REGEX_METACHARACTERS else c for c in text)


def _to_original_ids(learned_merges: list) -> list[tuple[int, int]]:
    """Translate BpeTrainer's string merges into (id, id) pairs with merge i -> id 256 + i."""
    id_of_bytes = {bytes([b]): b for b in range(256)}
    merges: list[tuple[int, int]] = []
    for merge in learned_merges:
        first, second = merge_pair(merge)
        first_bytes, second_bytes = token_string_to_bytes(first), token_string_to_bytes(second)
        merged = first_bytes + second_bytes
        if merged in id_of_bytes:
            continue  # see the module docstring: unreachable for greedy training, kept for safety
        id_of_bytes[merged] = FIRST_MERGED_ID + len(merges)
        merges.append((id_of_bytes[first_bytes], id_of_bytes[second_bytes]))
    return merges
