"""`tokenizer train`: the command-line face of BPE training, for the `tinylm` console script.

The `tinylm` entry point (tinylm_cli/main.py) wires it in with

    add_tokenizer_subparser(subparsers)        # registers `tokenizer train ...`
    args = parser.parse_args(argv); return args.handler(args)     # (or args.func: the same)

and `python -m tokenizers_ext.cli tokenizer train --files F... --vocab-size N --out DIR` runs it alone.
The output folder holds tokenizer.json + tokenizer_config.json (`AutoTokenizer.from_pretrained(DIR)`)
and the merges in the original `.model` format (stlm_merges.model).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .atomic_files import atomic_output_dir, check_output_dir
from .bpe_backend import MIN_VOCAB_SIZE, PRE_SPLIT_MODES

STLM_MERGES_FILE = "stlm_merges.model"


def train_command(
    files: Sequence[str],
    vocab_size: int,
    out: str,
    pre_split: str = "none",
    show_progress: bool = True,
    force: bool = False,
    prog: str = "tokenizer train",
) -> int:
    """Train a BPETokenizer on `files` and save it into `out`. Returns a process exit code (0 = ok).

    `out` is written into a hidden staging folder beside it and renamed into place only when complete; an
    existing `out` is refused (exit 2, untouched) unless `force`, and then replaced only once the new one is whole.
    """
    from .bpe import BPETokenizer  # transformers: imported when a tokenizer is trained, not to parse arguments

    try:
        check_output_dir(out, force)  # before the training, which may take a while
        tokenizer = BPETokenizer.train_from_files(
            list(files), vocab_size, pre_split=pre_split, show_progress=show_progress
        )
        with atomic_output_dir(out, force) as staging:
            tokenizer.save_pretrained(staging)
            tokenizer.save_stlm_merges(os.path.join(staging, STLM_MERGES_FILE))
    except (OSError, ValueError) as err:
        print(f"{prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    shortfall = ""
    if tokenizer.vocab_size < vocab_size:
        shortfall = f"; the corpus ran out of pairs to merge before {vocab_size} tokens"
    print(
        f"saved a {tokenizer.vocab_size}-token BPE tokenizer (pre-split: {pre_split}) to {out} "
        f"(eot id {tokenizer.eot_token_id}, pad id {tokenizer.pad_token_id}){shortfall}"
    )
    return 0


def _vocab_size(text: str) -> int:
    """--vocab-size, checked while parsing (before transformers is imported): an integer >= MIN_VOCAB_SIZE."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < MIN_VOCAB_SIZE:
        raise argparse.ArgumentTypeError(f"{value} is invalid; allowed: an integer >= {MIN_VOCAB_SIZE} "
                                         f"(256 bytes + 2 special tokens)")
    return value


def add_tokenizer_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `tokenizer train --files F... --vocab-size N --out DIR [--pre-split gpt2|none] [--force]`.

    Each leaf parser sets `func` and `handler` (the same callable): parsed args -> exit code.
    """
    tokenizer_parser = subparsers.add_parser("tokenizer", help="train tokenizers")
    actions = tokenizer_parser.add_subparsers(dest="tokenizer_command", metavar="COMMAND", required=True)
    train = actions.add_parser(
        "train",
        help="train a byte-level BPE tokenizer on text files",
        description="Train the original byte-level BPE (every line of every file is one training text).",
    )
    train.add_argument("--files", nargs="+", required=True, metavar="FILE", help="UTF-8 text files to train on")
    train.add_argument(
        "--vocab-size", type=_vocab_size, required=True, metavar="N", help="ids in total, incl. 2 specials (>= 258)"
    )
    train.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder to save the tokenizer into (must not exist, unless --force); it appears only when complete",
    )
    train.add_argument(
        "--force", action="store_true", help="replace DIR if it exists (the old one stays until the new one is complete)"
    )
    train.add_argument(
        "--pre-split",
        choices=PRE_SPLIT_MODES,
        default="none",
        help="'none': the original, merges may cross spaces (default); 'gpt2': split with GPT-2's regex first",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    def run(args: argparse.Namespace) -> int:
        return train_command(
            args.files, args.vocab_size, args.out, args.pre_split, show_progress=not args.quiet, force=args.force,
            prog=train.prog,
        )

    # Both names: `func` is argparse's usual one, `handler` the one tinylm_cli/main.py calls.
    train.set_defaults(func=run, handler=run)
    return tokenizer_parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tokenizers_ext.cli")
    add_tokenizer_subparser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
