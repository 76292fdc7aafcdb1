"""The original STLM `.model` merges file: one merge per line, "{id1} {id2}", merged id = 256 + line index.

Ids 0..255 are the raw bytes; a line may only name bytes or tokens made by earlier lines (the
original rebuilt its vocabulary line by line and could not load anything else). A `.vocab` file
beside it was for people to read; it is neither needed nor written here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .atomic_files import atomic_write_text

FIRST_MERGED_ID = 256


def read_stlm_merges(path: str | os.PathLike) -> list[tuple[int, int]]:
    """Parse a `.model` file; any malformed line raises a ValueError naming the file and line."""
    path = os.fspath(path)
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a merges text file (byte {err.start} is not UTF-8)") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    merges: list[tuple[int, int]] = []
    first_line_of_pair: dict[tuple[int, int], int] = {}
    for index, line in enumerate(lines):
        line_number = index + 1
        parts = line.split()  # also drops a "\r" left by Windows line endings
        if len(parts) != 2:
            raise ValueError(
                f"{path}: line {line_number} is {line!r}; each line is two token ids, '{{id1}} {{id2}}' "
                "(a truncated or corrupt merges file?)"
            )
        try:
            pair = (int(parts[0]), int(parts[1]))
        except ValueError:
            raise ValueError(f"{path}: line {line_number} is {line!r}; token ids are integers") from None
        defined = FIRST_MERGED_ID + index  # ids 0..defined-1 exist before this line
        for token_id in pair:
            if not 0 <= token_id < defined:
                raise ValueError(
                    f"{path}: line {line_number} names token id {token_id}, but only ids 0..{defined - 1} "
                    "exist at that line (bytes 0..255, then one id per earlier line)"
                )
        if pair in first_line_of_pair:
            raise ValueError(
                f"{path}: line {line_number} repeats the merge {pair[0]} {pair[1]} of line "
                f"{first_line_of_pair[pair]}; each pair is merged once"
            )
        first_line_of_pair[pair] = line_number
        merges.append(pair)
    return merges


def write_stlm_merges(path: str | os.PathLike, merges: Sequence[tuple[int, int]]) -> None:
    """Write merges in the `.model` format, atomically."""
    atomic_write_text(path, "".join(f"{first} {second}\n" for first, second in merges))
