"""``tinylm train CONFIG.yaml``: its arguments (the work is ``hf_tinylm.training.cli.run_train``)."""

from .arguments import bounded, positive_int


def add_train_subparser(commands):
    parser = commands.add_parser(
        "train", help="train a model (an original STLM config or the project's YAML) with transformers' Trainer",
        description="Train the model a YAML config describes: an original STLM full config (model: + trainer: + "
                    "general:), the project's own YAML (docs/training.md), or just an original model: section.",
    )
    parser.add_argument("config", help="YAML config file")
    parser.add_argument("--output", default="out/train",
                        help="folder for the model, checkpoints and metrics (must not hold another run's, unless "
                             "--force or --resume); it appears only when training is complete")
    parser.add_argument("--force", action="store_true",
                        help="replace --output if it exists (the old one stays until the new run is complete)")
    parser.add_argument("--max-steps", type=positive_int,
                        help="optimizer steps (an original config's schedules are scaled to it)")
    parser.add_argument("--save-steps", type=positive_int, help="write a checkpoint every N steps")
    parser.add_argument("--seed", type=bounded(int), help="random seed (model initialisation, data order, dropout)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run of this --output from its last complete checkpoint")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value by its path, e.g. --set training.learning_rate=3e-4")
    parser.add_argument("--lora", metavar="r=8,alpha=16", help="train LoRA adapters (peft) instead of all weights")
    parser.set_defaults(handler=run_train)
    return parser


def run_train(args) -> int:
    from hf_tinylm.training.cli import run_train as run

    return run(args)
