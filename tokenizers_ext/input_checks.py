"""Checks on what users hand to a tokenizer, with errors that say what was wrong and where."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_text(text: Any, what: str = "text") -> str:
    """Return `text` if it is a str that UTF-8 can encode; raise TypeError/ValueError otherwise.

    Python strings may hold lone surrogates (U+D800-U+DFFF), which have no UTF-8 form: tiktoken would
    silently replace them and `tokenizers` fails with an unrelated TypeError, so refuse them here.
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    if text.isascii():  # O(1) in CPython, and ASCII cannot hold a surrogate
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{what} cannot be encoded as UTF-8: character {text[err.start]!r} at index {err.start} "
            "is a lone surrogate (U+D800-U+DFFF); pass valid Unicode text"
        ) from None
    return text


def check_texts(texts: Iterable[Any], what: str = "texts") -> list[str]:
    """Validate every element of a batch; the error names the offending position."""
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a list of str, got a single str (use encode for one text)")
    checked = []
    for index, text in enumerate(texts):
        checked.append(check_text(text, f"{what}[{index}]"))
    return checked


def check_nested_texts(value: Any, what: str = "text") -> None:
    """Find lone surrogates in any str inside transformers-style inputs (str, lists, pairs)."""
    if isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_nested_texts(item, f"{what}[{index}]")


def as_id_list(token_ids: Any) -> list[int]:
    """Accept a list/tuple of ints, a single int, or a 1-D tensor / numpy array; return a list of ints."""
    if hasattr(token_ids, "tolist"):  # torch.Tensor, numpy.ndarray, numpy scalars
        token_ids = token_ids.tolist()
    if isinstance(token_ids, int):
        return [token_ids]
    if not isinstance(token_ids, (list, tuple)):
        raise TypeError(f"token ids must be a list of int or a 1-D tensor, got {type(token_ids).__name__}")
    return list(token_ids)


def check_ids_in_vocab(token_ids: list[int], vocab_size: int) -> None:
    """Raise a ValueError naming the first id outside 0..vocab_size-1."""
    if not token_ids:
        return
    try:
        low, high = min(token_ids), max(token_ids)
    except TypeError:
        bad = next(t for t in token_ids if not isinstance(t, int))
        raise TypeError(f"token ids must be int, got {bad!r} ({type(bad).__name__})") from None
    if low >= 0 and high < vocab_size:
        return
    for position, token_id in enumerate(token_ids):
        if not 0 <= token_id < vocab_size:
            raise ValueError(
                f"token id {token_id} (position {position}) is outside the vocabulary: "
                f"valid ids are 0..{vocab_size - 1}"
            )
