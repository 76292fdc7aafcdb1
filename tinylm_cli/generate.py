"""``tinylm generate DIR --prompt ...``: its arguments (the work is ``hf_tinylm.generation.cli.run_generate``)."""

import argparse

from .arguments import bounded, non_negative_int, positive_int, utf8_text

GENERATE_DESCRIPTION = """\
Load a model folder with AutoModelForCausalLM and AutoTokenizer (a TinyLM or any transformers causal LM)
and print the prompt followed by its completion.

Decoding is greedy unless a sampling option is given: --top-k, --top-p, --min-p or --temperature turn on
sampling (temperature 1.0 unless set; --temperature 0 stays greedy). --seed makes sampling reproducible.
The completion ends at end-of-text, at a --stop string (not printed), or after --max-new-tokens tokens.
"""

# hf_tinylm.generation.decoding.COMPILE_MODES, spelled out so that parsing imports no torch (a test keeps them equal).
COMPILE_MODES = ("default", "max-autotune")


def add_generate_subparser(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "generate",
        help="generate text from a saved model folder (greedy unless a sampling option is given)",
        description=GENERATE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model_dir", metavar="DIR", help="folder with the model (config + weights) and tokenizer")
    parser.add_argument("--prompt", required=True, type=utf8_text, help="text to continue")
    parser.add_argument("--max-new-tokens", type=non_negative_int, default=64,
                        help="most tokens to generate (default 64)")
    sampling = parser.add_argument_group("sampling (any of these turns sampling on)")
    sampling.add_argument("--top-k", type=positive_int, help="sample among the K most likely tokens")
    sampling.add_argument("--top-p", type=bounded(float, 0, 1, include_low=False, meaning="1 means off"),
                          help="nucleus sampling: the most likely tokens holding P of the mass")
    sampling.add_argument("--min-p", type=bounded(float, 0, 1, meaning="0 means off"),
                          help="drop tokens less likely than P times the most likely one")
    sampling.add_argument("--temperature", type=bounded(float, low=0, meaning="0 means greedy"),
                          help="divide logits by T (default 1.0; 0 = greedy)")
    parser.add_argument("--seed", type=bounded(int), help="seed for reproducible sampling")
    parser.add_argument("--repetition-penalty", type=bounded(float, low=0, include_low=False, meaning="1 means off"),
                        default=1.0, help="penalise tokens already seen (>1)")
    parser.add_argument("--stop", action="append", default=None, metavar="TEXT", type=utf8_text,
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


def run_generate(args) -> int:
    from hf_tinylm.generation.cli import run_generate as run

    return run(args)
