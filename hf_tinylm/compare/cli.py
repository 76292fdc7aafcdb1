"""What ``tinylm compare`` does (its arguments: ``tinylm_cli/compare.py``)."""

import os
import sys


def _holds_work(folder: str) -> bool:
    """Whether an unfinished compare holds anything worth continuing: a finished model or a training checkpoint."""
    models = os.path.join(folder, "models")
    if not os.path.isdir(models):
        return False
    for name in os.listdir(models):
        model = os.path.join(models, name)
        if os.path.isfile(os.path.join(model, "eval.json")) or os.path.isdir(os.path.join(model, "checkpoints")):
            return True
    return False


def run_compare(args) -> int:
    """Compare into ``.OUT.run`` beside ``--out``, renamed into place when complete (an existing ``--out`` only with
    ``--force`` or ``--resume``, which reuses its finished models). Interrupted, the run is kept for ``--resume``."""
    from tokenizers_ext.atomic_files import resumable_output_dir, run_folder_of

    from .report import markdown_table
    from .runner import CompareOptions, check_options, command_line, compare

    options = CompareOptions(
        out=args.out, budget=args.budget, models=tuple(args.models), seeds=args.seeds, quick=args.quick,
        pretrained=tuple(args.pretrained), bigbench_tasks=tuple(args.bigbench_tasks),
        lm_eval_tasks=tuple(args.lm_eval_tasks), command=command_line(sys.argv[1:]), published_out=args.out,
    )
    check_options(options)  # bad arguments are answered before any folder is touched
    try:
        with resumable_output_dir(args.out, force=args.force, resume=args.resume, resumable=_holds_work) as run_dir:
            options.out = run_dir
            report = compare(options)
    except KeyboardInterrupt:
        kept = run_folder_of(args.out)
        hint = f"; the finished models are kept in {kept}: --resume continues" if _holds_work(kept) else ""
        print(f"tinylm compare: interrupted{hint}", file=sys.stderr)
        return 130
    print(markdown_table(report))
    print(f"report: {args.out}/report.md")
    return 0
