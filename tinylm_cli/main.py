"""The ``tinylm`` command line: ``main()`` and ``build_parser()``.

Every subcommand is built by its own package (``add_*_subparser`` in that package's ``cli.py``). Those modules
import ``hf_tinylm`` and with it torch and transformers, which take seconds, so the dispatcher imports one only
when its subcommand is named on the command line; the others appear in ``tinylm --help`` as placeholders with
their one-line help. ``tests/tinylm_cli/test_main.py`` checks that the placeholders read exactly as the real
subcommands do.
"""

import argparse
import sys


def _add_demo(commands):
    from .demo import add_demo_subparser

    add_demo_subparser(commands)


def _add_generate(commands):
    from hf_tinylm.generation.cli import add_generate_subparser

    add_generate_subparser(commands)


def _add_train(commands):
    from hf_tinylm.training.cli import add_train_subparser

    add_train_subparser(commands)


def _add_compare(commands):
    from hf_tinylm.compare.cli import add_compare_subparser

    add_compare_subparser(commands)


def _add_tokenizer(commands):
    from tokenizers_ext.cli import add_tokenizer_subparser

    add_tokenizer_subparser(commands)


def _add_convert(commands):
    from conversion.cli import add_convert_subparser

    add_convert_subparser(commands)


# (name, the one-line help `tinylm --help` shows, the function that adds the real subparser), in help order.
SUBCOMMANDS = (
    ("demo", "build the STLM baseline, save, reload with AutoModelForCausalLM, generate", _add_demo),
    ("generate", "generate text from a saved model folder (greedy unless a sampling option is given)", _add_generate),
    ("train", "train a model (an original STLM config or the project's YAML) with transformers' Trainer", _add_train),
    ("compare", "train our models and transformers baselines the same way and compare them side by side",
     _add_compare),
    ("tokenizer", "train tokenizers", _add_tokenizer),
    ("convert", "convert original STLM checkpoints and TinyLM ⇄ Llama / GPT-2 models", _add_convert),
)


def build_parser(load=None) -> argparse.ArgumentParser:
    """The ``tinylm`` parser. ``load``: the subcommands to build for real (None: all of them); the others are
    placeholders that only list their name and help, so building them imports nothing."""
    parser = argparse.ArgumentParser(
        prog="tinylm",
        description="Composable super-tiny language models.",
        epilog="Exit codes: 0 done; 2 bad arguments, bad input files or a refused target (one line on stderr); "
               "1 an unexpected failure (one line; --debug shows the traceback); 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary, add_subparser in SUBCOMMANDS:
        if load is None or name in load:
            add_subparser(commands)
        else:
            commands.add_parser(name, help=summary)
    return parser


def named_subcommand(argv) -> tuple:
    """The subcommand ``argv`` names, as a 0- or 1-tuple: its first word that is not an option (``tinylm`` has
    no option taking a value before the subcommand)."""
    names = {name for name, _, _ in SUBCOMMANDS}
    for word in argv:
        if not word.startswith("-"):
            return (word,) if word in names else ()
    return ()


# What the user can fix (arguments, files, refused targets): exit 2, like argparse's own errors.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(load=named_subcommand(argv)).parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"tinylm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # every failure is one line; --debug shows where it came from
        if args.debug:
            raise
        user_error = isinstance(error, USER_ERRORS)
        kind = "error" if user_error else f"unexpected {type(error).__name__}"
        hint = "" if user_error else " (run with --debug for the traceback)"
        print(f"tinylm {args.command}: {kind}: {_one_line(error)}{hint}", file=sys.stderr)
        return 2 if user_error else 1


if __name__ == "__main__":
    sys.exit(main())
