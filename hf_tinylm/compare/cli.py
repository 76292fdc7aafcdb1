"""``tinylm compare``: the command line of ``hf_tinylm.compare.compare``."""

from .roster import DEFAULT_MODELS


def add_compare_subparser(commands):
    parser = commands.add_parser(
        "compare", help="train our models and transformers baselines the same way and compare them side by side",
        description="Train the original STLM baseline (scaled to the CPU), two variants and GPT-2 / Llama baselines "
                    "at matched non-embedding parameters on the embedded corpus with one tokenizer, budget, "
                    "optimiser and schedule; evaluate every model with one harness; write report.md, report.json "
                    "and plots.",
    )
    parser.add_argument("--out", default="out/compare", help="output folder (a rerun reuses finished models)")
    parser.add_argument("--budget", help="training budget per model: tokens (400k, 1.5M) or time (5min, 90s); "
                                         "default 500k (--quick: 50k)")
    parser.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS), metavar="NAME",
                        help=f"models to train (default: {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--seeds", type=int, default=1, help="train each model with N seeds; figures are mean ± std")
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
    import sys

    from .report import markdown_table
    from .runner import CompareOptions, command_line, compare

    options = CompareOptions(
        out=args.out, budget=args.budget, models=tuple(args.models), seeds=args.seeds, quick=args.quick,
        pretrained=tuple(args.pretrained), bigbench_tasks=tuple(args.bigbench_tasks),
        lm_eval_tasks=tuple(args.lm_eval_tasks), command=command_line(sys.argv[1:]),
    )
    report = compare(options)
    print(markdown_table(report))
    print(f"report: {args.out}/report.md")
    return 0
