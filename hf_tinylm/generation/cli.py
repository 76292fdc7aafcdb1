"""``tinylm generate DIR --prompt ...``: load a saved causal LM and its tokenizer, print a completion."""

import argparse
import sys

from .decoding import COMPILE_MODES

GENERATE_DESCRIPTION = """\
Load a model folder with AutoModelForCausalLM and AutoTokenizer (a TinyLM or any transformers causal LM)
and print the prompt followed by its completion.

Decoding is greedy unless a sampling option is given: --top-k, --top-p, --min-p or --temperature turn on
sampling (temperature 1.0 unless set; --temperature 0 stays greedy). --seed makes sampling reproducible.
The completion ends at end-of-text, at a --stop string (not printed), or after --max-new-tokens tokens.
"""


def add_generate_subparser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "generate",
        help="generate text from a saved model folder (greedy unless a sampling option is given)",
        description=GENERATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="DIR", help="folder with the model (config + weights) and tokenizer")
    parser.add_argument("--prompt", required=True, help="text to continue")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="most tokens to generate (default 64)")
    sampling = parser.add_argument_group("sampling (any of these turns sampling on)")
    sampling.add_argument("--top-k", type=int, help="sample among the K most likely tokens")
    sampling.add_argument("--top-p", type=float, help="nucleus sampling: the most likely tokens holding P of the mass")
    sampling.add_argument("--min-p", type=float, help="drop tokens less likely than P times the most likely one")
    sampling.add_argument("--temperature", type=float, help="divide logits by T (default 1.0; 0 = greedy)")
    parser.add_argument("--seed", type=int, help="seed for reproducible sampling")
    parser.add_argument("--repetition-penalty", type=float, default=1.0, help="penalise tokens already seen (>1)")
    parser.add_argument("--stop", action="append", default=None, metavar="TEXT",
                        help="end the completion before TEXT (repeatable)")
    parser.add_argument("--stream", action="store_true", help="print the completion piece by piece as it is decided")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="weights dtype (default float32)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the decoding step (TinyLM; slow to start)")
    parser.add_argument("--compile-mode", choices=COMPILE_MODES, default=None,
                        help="with --compile: 'default', or 'max-autotune' (longer compile, faster decoding); "
                             "giving a mode implies --compile")
    parser.set_defaults(handler=run_generate)
    return parser


def build_generator(model, tokenizer, args):
    from . import GreedyGenerator, Sampler

    compile = args.compile_mode or ("default" if args.compile else False)
    options = {"stop": args.stop, "repetition_penalty": args.repetition_penalty, "compile": compile}
    sampling = {
        name: value
        for name, value in (("top_k", args.top_k), ("top_p", args.top_p), ("min_p", args.min_p),
                            ("temperature", args.temperature))
        if value is not None
    }
    if not sampling or sampling == {"temperature": 0.0}:
        return GreedyGenerator(model, tokenizer, **options)
    return Sampler(model, tokenizer, seed=args.seed, **sampling, **options)


def run_generate(args) -> int:
    import torch
    # No `import hf_tinylm` needed for the Auto classes: importing this module has already run its __init__.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..model_folder import check_model_folder
    from .base import _check_max_new_tokens, check_repetition_penalty
    from .sampling import check_sampling_options
    from .stopping import normalize_stop

    # Every argument first, then the folder, before anything is loaded or printed.
    _check_max_new_tokens(args.max_new_tokens)
    check_repetition_penalty(args.repetition_penalty)
    sampling = {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p, "min_p": args.min_p}
    check_sampling_options(seed=args.seed, **{name: value for name, value in sampling.items() if value is not None})
    normalize_stop(args.stop)
    check_model_folder(args.model_dir)  # names a damaged or incomplete folder before transformers reads it
    dtype = getattr(torch, args.dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=dtype).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    except OSError as error:  # transformers' word for "this folder lacks a config, weights or tokenizer files"
        raise ValueError(f"cannot load a model and tokenizer from {args.model_dir}: {error}") from error
    generator = build_generator(model, tokenizer, args)
    sys.stdout.write(args.prompt)
    if args.stream:
        for piece in generator.stream(args.prompt, max_new_tokens=args.max_new_tokens):
            sys.stdout.write(piece)
            sys.stdout.flush()
    else:
        sys.stdout.write(generator.generate([args.prompt], max_new_tokens=args.max_new_tokens)[0])
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0
