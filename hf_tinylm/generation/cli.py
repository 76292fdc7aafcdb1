"""What ``tinylm generate DIR --prompt ...`` does (its arguments: ``tinylm_cli/generate.py``): load a saved causal
LM and its tokenizer, print a completion."""

import sys


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
