"""What every ``tinylm`` parser shares: one-line argument errors and argument types that check their range.

Both run while the command line is parsed, before any subcommand imports torch, so a mistyped argument is
answered in a fraction of a second. The library checks the same ranges again for Python callers.
"""

import argparse
import math


class CommandLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr (exit 2), pointing at ``--help`` for the usage.

    Subparsers made with ``add_subparsers``/``add_parser`` are of the same class, so this holds for every command.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: a finite number")
    return value


def bounded(kind, low=None, high=None, include_low=True, include_high=True, meaning=""):
    """An argparse ``type``: ``kind`` (int or float) within [low, high] (ends open where asked), else an error
    naming the value and the allowed range, plus ``meaning`` (e.g. "1 means off")."""

    def parse(text: str):
        value = _number(text, kind)
        too_low = low is not None and (value < low if include_low else value <= low)
        too_high = high is not None and (value > high if include_high else value >= high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"{text} is invalid; allowed: {describe()}")
        return value

    def describe() -> str:
        noun = "an integer" if kind is int else "a number"
        if low is not None and high is not None:
            span = f"{noun} in {'[' if include_low else '('}{low:g}, {high:g}{']' if include_high else ')'}"
        elif low is not None:
            span = f"{noun} {'>=' if include_low else '>'} {low:g}"
        elif high is not None:
            span = f"{noun} {'<=' if include_high else '<'} {high:g}"
        else:
            span = noun
        return f"{span} ({meaning})" if meaning else span

    parse.__name__ = "integer" if kind is int else "number"  # argparse names the type in some messages
    return parse


positive_int = bounded(int, low=1)
non_negative_int = bounded(int, low=0)


def utf8_text(text: str) -> str:
    """An argparse ``type`` for text arguments: refuses bytes that are not UTF-8 (Python hands them over as lone
    surrogates, which no tokenizer can encode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        offset = len(text[: error.start].encode("utf-8", "surrogateescape"))
        raise argparse.ArgumentTypeError(f"holds a byte that is not UTF-8 at byte {offset}; allowed: UTF-8 text") \
            from None
    return text
