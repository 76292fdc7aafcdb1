"""What ``tinylm train CONFIG.yaml`` does (its arguments: ``tinylm_cli/train.py``)."""

import os
import sys
import time

# Under torchrun every process trains into the same run folder, which rank 0 prepares (refuses, cleans, copies for
# --resume) and publishes. It then writes this launch's id there; the other ranks wait for it, so none of them
# writes into a stale folder that rank 0 is about to delete. (If rank 0 fails, torchrun stops the others.)
LAUNCH_FILE = ".launch"


def _launch_id() -> str:
    return os.environ.get("TORCHELASTIC_RUN_ID", "") + ":" + os.environ.get("MASTER_PORT", "")


def _announce_run_folder(run_dir: str):
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        with open(os.path.join(run_dir, LAUNCH_FILE), "w", encoding="utf-8") as handle:
            handle.write(_launch_id())


def _await_run_folder(output: str) -> str:
    from tokenizers_ext.atomic_files import run_folder_of

    run_dir, marker = run_folder_of(output), os.path.join(run_folder_of(output), LAUNCH_FILE)
    while True:
        try:
            with open(marker, encoding="utf-8") as handle:
                if handle.read() == _launch_id():
                    return run_dir
        except OSError:
            pass
        time.sleep(0.1)


def run_train(args) -> int:
    """Train into ``.OUTPUT.run`` beside ``--output``, renamed into place when complete (an existing ``--output``
    only with ``--force`` or ``--resume``). Interrupted after a checkpoint, the run folder is kept for ``--resume``."""
    from tokenizers_ext.atomic_files import resumable_output_dir, run_folder_of

    from .config import load_train_config, parse_lora, set_max_steps
    from .trainer import last_checkpoint, train

    config = load_train_config(args.config, args.overrides)
    if args.max_steps is not None:
        set_max_steps(config, args.max_steps)
    if args.save_steps is not None:  # a positive integer: tinylm_cli/train.py's parser checked it
        config.training["save_steps"] = args.save_steps
    if args.seed is not None:
        config.seed = args.seed
    if args.lora is not None:
        config.lora = parse_lora(args.lora)
    has_checkpoint = lambda folder: last_checkpoint(folder) is not None  # noqa: E731
    if int(os.environ.get("RANK", "0")) != 0:  # another process of a torchrun launch: rank 0 owns the folder
        run_dir = _await_run_folder(args.output)
        train(config, output_dir=run_dir, resume=has_checkpoint(run_dir))
        return 0
    try:
        with resumable_output_dir(args.output, force=args.force, resume=args.resume,
                                  resumable=has_checkpoint) as run_dir:
            _announce_run_folder(run_dir)
            result = train(config, output_dir=run_dir, resume=has_checkpoint(run_dir))
            if os.path.exists(os.path.join(run_dir, LAUNCH_FILE)):
                os.remove(os.path.join(run_dir, LAUNCH_FILE))
    except KeyboardInterrupt:
        kept = run_folder_of(args.output)
        hint = f"; the run so far is kept in {kept}: --resume continues it" if has_checkpoint(kept) else ""
        print(f"tinylm train: interrupted{hint}", file=sys.stderr)
        return 130
    metrics = result.metrics
    print(f"trained {metrics['steps']} steps: train loss {metrics['train_loss']:.4f}, validation loss "
          f"{metrics['eval_loss']:.4f} ({metrics['eval_bits_per_byte']:.3f} bits/byte), "
          f"{metrics['train_tokens_per_second'] or 0:.0f} tokens/s; saved to {args.output}")
    return 0
