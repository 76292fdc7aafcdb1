"""``tinylm convert …``: the converters on the command line.

    tinylm convert stlm CKPT OUT [--tokenizer-merges FILE] [--force]
    tinylm convert to-llama SRC OUT [--force]      (and from-llama, to-gpt2, from-gpt2)

``add_convert_subparser(subparsers)`` registers the commands on an existing ``argparse`` parser; every handler
returns an exit code and, on failure, prints one line (``tinylm convert KIND: error: …`` saying what to do) to
stderr, never a traceback. Output folders appear only when complete (``tokenizers_ext.atomic_files``), after the
converted model has been reloaded from the new folder and checked against its source, logit for logit.
"""

import argparse
import os
import shutil
import sys

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130

# Files that make up a Hugging Face tokenizer; copied as they are from SRC to OUT when present.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "tokenizer.model", "vocab.txt", "chat_template.jinja",
                   "chat_template.json")

# kind → (source description, target description, function name in its module)
_DIRECTIONS = {
    "to-llama": ("TinyLM", "Llama", "llama", "to_llama"),
    "from-llama": ("Llama", "TinyLM", "llama", "from_llama"),
    "to-gpt2": ("TinyLM", "GPT-2", "gpt2", "to_gpt2"),
    "from-gpt2": ("GPT-2", "TinyLM", "gpt2", "from_gpt2"),
}
_SOURCE_TYPES = {"TinyLM": "tinylm", "Llama": "llama", "GPT-2": "gpt2"}


def add_convert_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``convert`` and its sub-commands on ``subparsers`` (from ``parser.add_subparsers()``)."""
    convert = subparsers.add_parser(
        "convert", help="convert original STLM checkpoints and TinyLM ⇄ Llama / GPT-2 models",
        description="Convert models; every conversion is checked by comparing logits with its source.",
    )
    convert.set_defaults(handler=_missing_kind, convert_parser=convert)
    kinds = convert.add_subparsers(dest="convert_kind", metavar="KIND")

    stlm = kinds.add_parser("stlm", help="an original STLM checkpoint (.pt) → a TinyLM model folder")
    stlm.add_argument("checkpoint", metavar="CKPT", help="the torch.save file of the original training run")
    stlm.add_argument("out", metavar="OUT", help="the folder to write (must not exist, unless --force)")
    stlm.add_argument("--tokenizer-merges", metavar="FILE",
                      help="the .model merges file of a bpe checkpoint's tokenizer (gpt2 checkpoints need none)")
    stlm.add_argument("--force", action="store_true", help="replace OUT if it exists")
    stlm.set_defaults(handler=run_convert_stlm)

    for kind, (source, target, _, _) in _DIRECTIONS.items():
        direction = kinds.add_parser(kind, help=f"a {source} model folder → a {target} model folder")
        direction.add_argument("src", metavar="SRC", help=f"a {source} folder saved with save_pretrained")
        direction.add_argument("out", metavar="OUT", help="the folder to write (must not exist, unless --force)")
        direction.add_argument("--force", action="store_true", help="replace OUT if it exists")
        direction.set_defaults(handler=run_convert_model)
    return convert


def _missing_kind(args) -> int:
    return _fail(args, ValueError("say what to convert: stlm, to-llama, from-llama, to-gpt2 or from-gpt2 "
                                  "(see tinylm convert --help)"))


# ---- handlers ------------------------------------------------------------------------------------------------------


def run_convert_stlm(args) -> int:
    """``tinylm convert stlm CKPT OUT``."""
    return _guarded(args, _convert_stlm)


def run_convert_model(args) -> int:
    """``tinylm convert to-llama|from-llama|to-gpt2|from-gpt2 SRC OUT``."""
    return _guarded(args, _convert_model)


def _convert_stlm(args):
    from .stlm import convert_stlm_checkpoint

    summary = convert_stlm_checkpoint(args.checkpoint, args.out, tokenizer_merges=args.tokenizer_merges,
                                      force=args.force)
    dropped = f"; dropped {', '.join(summary.dropped_keys)}" if summary.dropped_keys else ""
    print(f"wrote {args.out}: TinyLM, {summary.num_parameters:,} parameters; reloaded logits match "
          f"(max |Δ| {summary.reload_difference:.2g}){dropped}")


def _convert_model(args):
    import importlib

    from tokenizers_ext.atomic_files import atomic_output_dir, check_output_dir
    from .verify import check_logit_parity, source_logits

    source_name, target_name, module_name, function_name = _DIRECTIONS[args.convert_kind]
    check_output_dir(args.out, args.force, sources=[args.src])
    source = _load_source(args.src, source_name)
    convert = getattr(importlib.import_module(f"{__package__}.{module_name}"), function_name)
    target = convert(source).eval()
    expected = source_logits(source)  # computed once, for both checks
    difference = check_logit_parity(source, target, f"{source_name} → {target_name}", expected=expected)
    with atomic_output_dir(args.out, args.force, sources=[args.src]) as staging:
        target.save_pretrained(staging)
        copied = _copy_tokenizer_files(args.src, staging)
        reloaded = type(target).from_pretrained(staging, dtype=target.dtype)
        reload_difference = check_logit_parity(source, reloaded, f"reloading the {target_name} folder",
                                               expected=expected)
    tokenizer_note = "with its tokenizer" if copied else "no tokenizer files in SRC to copy"
    print(f"wrote {args.out}: {target_name} ({type(target).__name__}), {tokenizer_note}; logits match the source "
          f"(max |Δ| {difference:.2g} converted, {reload_difference:.2g} reloaded)")


def _load_source(src: str, expected: str):
    """The model in folder ``src``, refusing a folder of another architecture with a pointer to the right command."""
    from transformers import AutoConfig

    import hf_tinylm  # noqa: F401  (registers model_type "tinylm" with the Auto classes)

    if not os.path.isdir(src):
        raise FileNotFoundError(f"source folder {src} does not exist; pass a folder saved with save_pretrained")
    try:
        model_type = AutoConfig.from_pretrained(src).model_type
    except (OSError, ValueError) as error:
        raise FileNotFoundError(f"{src} has no readable config.json ({_first_line(error)}); pass a folder saved "
                                f"with save_pretrained") from None
    if model_type != _SOURCE_TYPES[expected]:
        hint = {value: key for key, value in _SOURCE_TYPES.items()}.get(model_type)
        kind = {"tinylm": "to-llama or to-gpt2", "llama": "from-llama", "gpt2": "from-gpt2"}.get(model_type)
        advice = f"; use `tinylm convert {kind}`" if kind else ""
        raise ValueError(f"{src} holds a {hint or repr(model_type)} model, not a {expected} one{advice}")
    if expected == "TinyLM":
        from hf_tinylm import TinyLMForCausalLM as model_class
    elif expected == "Llama":
        from transformers import LlamaForCausalLM as model_class
    else:
        from transformers import GPT2LMHeadModel as model_class
    return model_class.from_pretrained(src, dtype="auto").eval()


def _copy_tokenizer_files(src: str, out: str) -> list:
    copied = []
    for name in TOKENIZER_FILES:
        path = os.path.join(src, name)
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(out, name))
            copied.append(name)
    return copied


# ---- failure reporting ---------------------------------------------------------------------------------------------


def _first_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if text else type(error).__name__


def _fail(args, error: BaseException) -> int:
    kind = getattr(args, "convert_kind", None)
    prefix = f"tinylm convert {kind}" if kind else "tinylm convert"
    print(f"{prefix}: error: {_first_line(error)}", file=sys.stderr)
    # A refused output (it exists, or is a file): exit 2 like the other commands' refusals and argparse's errors.
    # Bad input (a missing or unusable source, an unsupported feature) exits 2 too; a failure while writing, 1.
    user_error = isinstance(error, (FileExistsError, FileNotFoundError, NotADirectoryError, ValueError))
    return EXIT_REFUSED if user_error else EXIT_FAILED


def _guarded(args, action) -> int:
    """Run ``action(args)``; report any failure as one line on stderr and return a non-zero exit code."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        action(args)
    except KeyboardInterrupt:
        print(f"tinylm convert {args.convert_kind}: interrupted; {args.out} was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:  # ConversionError and friends, missing files, existing folders
        return _fail(args, error)
    except MemoryError:
        return _fail(args, MemoryError("out of memory while converting; free memory or convert on a larger machine"))
    except Exception as error:  # a bug: still one line, with what to do about it
        return _fail(args, RuntimeError(
            f"unexpected {type(error).__name__}: {_first_line(error)} — nothing was written; please report this with "
            f"the command you ran"
        ))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """A parser with only the ``convert`` command (the ``tinylm`` program adds it to its own)."""
    parser = argparse.ArgumentParser(prog="tinylm", description="Convert models to and from TinyLM.")
    add_convert_subparser(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
