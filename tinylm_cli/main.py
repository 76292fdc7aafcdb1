"""The ``tinylm`` command line: ``main()`` and ``build_parser()``.

Each subcommand's arguments are defined in a module of this package (``tinylm_cli/generate.py`` ...) that imports
nothing heavy; its handler imports the package doing the work (``hf_tinylm`` and with it torch and transformers,
which take seconds) only when it runs. So ``tinylm --help``, ``tinylm generate --help`` and any argument error
are answered in a fraction of a second (``tests/tinylm_cli/test_main.py`` checks that no torch is imported).
"""

import argparse
import sys

from conversion.cli import add_convert_subparser  # light: the conversion package imports its converters lazily
from tokenizers_ext.cli import add_tokenizer_subparser  # light: transformers is imported when a tokenizer trains

from .arguments import CommandLineParser
from .compare import add_compare_subparser
from .demo import add_demo_subparser
from .generate import add_generate_subparser
from .interrupts import watching_interrupts
from .train import add_train_subparser

# (name, the function that adds its subparser), in help order.
SUBCOMMANDS = (
    ("demo", add_demo_subparser),
    ("generate", add_generate_subparser),
    ("train", add_train_subparser),
    ("compare", add_compare_subparser),
    ("tokenizer", add_tokenizer_subparser),
    ("convert", add_convert_subparser),
)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandLineParser(
        prog="tinylm",
        description="Composable super-tiny language models.",
        epilog="Exit codes: 0 done; 2 bad arguments, bad input files or a refused target (one line on stderr); "
               "1 an unexpected failure (one line; --debug shows the traceback); 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    commands = parser.add_subparsers(dest="command", required=True)
    for _, add_subparser in SUBCOMMANDS:
        add_subparser(commands)
    return parser


# What the user can fix (arguments, files, refused targets): exit 2, like argparse's own errors.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    with watching_interrupts() as interrupts:
        try:
            return args.handler(args)
        except KeyboardInterrupt:
            print(f"tinylm {args.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as error:  # every failure is one line; --debug shows where it came from
            if args.debug:
                raise
            if interrupts.received:  # a library turned the KeyboardInterrupt into its own error
                print(f"tinylm {args.command}: interrupted ({type(error).__name__}: {_one_line(error)})",
                      file=sys.stderr)
                return 130
            user_error = isinstance(error, USER_ERRORS)
            kind = "error" if user_error else f"unexpected {type(error).__name__}"
            hint = "" if user_error else " (run with --debug for the traceback)"
            print(f"tinylm {args.command}: {kind}: {_one_line(error)}{hint}", file=sys.stderr)
            return 2 if user_error else 1


if __name__ == "__main__":
    sys.exit(main())
