"""``tinylm compare``: its arguments (the work is ``hf_tinylm.compare.cli.run_compare``)."""

from .arguments import positive_int

# hf_tinylm.compare.roster.DEFAULT_MODELS, spelled out so that parsing imports no torch (a test keeps them equal).
DEFAULT_MODELS = ("stlm-baseline", "stlm-ffn-sharing", "stlm-learned-pos", "llama", "gpt2")


def add_compare_subparser(commands):
    parser = commands.add_parser(
        "compare", help="train our models and transformers baselines the same way and compare them side by side",
        description="Train the original STLM baseline (scaled to the CPU), two variants and GPT-2 / Llama baselines "
                    "at matched non-embedding parameters on the embedded corpus with one tokenizer, budget, "
                    "optimiser and schedule; evaluate every model with one harness; write report.md, report.json "
                    "and plots.",
    )
    parser.add_argument("--out", default="out/compare",
                        help="output folder; it appears only when the comparison is complete (default out/compare)")
    parser.add_argument("--force", action="store_true",
                        help="replace --out if it exists (the old one stays until the new one is complete)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted comparison of this --out (or extend a finished one), "
                             "reusing its finished models")
    parser.add_argument("--budget", help="training budget per model: tokens (400k, 1.5M) or time (5min, 90s); "
                                         "default 500k (--quick: 50k)")
    parser.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS), choices=DEFAULT_MODELS, metavar="NAME",
                        help=f"models to train (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--seeds", type=positive_int, default=1,
                        help="train each model with N seeds; figures are mean ± std")
    parser.add_argument("--quick", action="store_true", help="a smaller budget and evaluation (about 2 minutes)")
    parser.add_argument("--pretrained", nargs="*", default=[], metavar="DIR",
                        help="pretrained model folders to evaluate alongside (not trained)")
    parser.add_argument("--bigbench-task", nargs="*", default=[], metavar="FILE", dest="bigbench_tasks",
                        help="BIG-bench multiple-choice task.json files to score every model on")
    parser.add_argument("--lm-eval-tasks", nargs="*", default=[], metavar="TASK",
                        help="lm-eval tasks (names, or local task YAML files) to run on every model")
    parser.set_defaults(handler=run_compare)
    return parser


def run_compare(args) -> int:
    from hf_tinylm.compare.cli import run_compare as run

    return run(args)
