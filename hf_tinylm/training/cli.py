"""``tinylm train CONFIG.yaml``: the command line of ``hf_tinylm.training.train``."""


def add_train_subparser(commands):
    parser = commands.add_parser(
        "train", help="train a model (an original STLM config or the project's YAML) with transformers' Trainer",
        description="Train the model a YAML config describes: an original STLM full config (model: + trainer: + "
                    "general:), the project's own YAML (docs/training.md), or just an original model: section.",
    )
    parser.add_argument("config", help="YAML config file")
    parser.add_argument("--output", default="out/train", help="folder for the model, checkpoints and metrics")
    parser.add_argument("--max-steps", type=int, help="optimizer steps (an original config's schedules are "
                                                        "scaled to it)")
    parser.add_argument("--save-steps", type=int, help="write a checkpoint every N steps")
    parser.add_argument("--seed", type=int, help="random seed (model initialisation, data order, dropout)")
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint in --output")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value by its path, e.g. --set training.learning_rate=3e-4")
    parser.add_argument("--lora", metavar="r=8,alpha=16", help="train LoRA adapters (peft) instead of all weights")
    parser.set_defaults(handler=run_train)
    return parser


def run_train(args) -> int:
    from .config import load_train_config, parse_lora, set_max_steps
    from .trainer import train

    config = load_train_config(args.config, args.overrides)
    if args.max_steps is not None:
        set_max_steps(config, args.max_steps)
    if args.save_steps is not None:
        if args.save_steps <= 0:
            raise ValueError(f"--save-steps={args.save_steps} is invalid; allowed: a positive number of steps")
        config.training["save_steps"] = args.save_steps
    if args.seed is not None:
        config.seed = args.seed
    if args.lora is not None:
        config.lora = parse_lora(args.lora)
    result = train(config, output_dir=args.output, resume=args.resume)
    metrics = result.metrics
    print(f"trained {metrics['steps']} steps: train loss {metrics['train_loss']:.4f}, validation loss "
          f"{metrics['eval_loss']:.4f} ({metrics['eval_bits_per_byte']:.3f} bits/byte), "
          f"{metrics['train_tokens_per_second'] or 0:.0f} tokens/s; saved to {result.output_dir}")
    return 0
