"""What ``tinylm train`` reads: an original STLM full config, or the project's own YAML, as one ``TrainConfig``.

An original full config has ``model:`` + ``trainer:`` + ``general:`` (``configs/full_configs/*.yaml``); its
trainer keys map onto transformers' ``TrainingArguments`` (``ORIGINAL_TRAINER_KEYS``), its schedules onto
``schedules.py``. Keys that mean nothing here (wandb, the profiler, the device, paths, the original's evaluators,
data loaders and loss names) are reported once and ignored; any other unknown key is an error naming its path.

The project's own YAML (every section optional but the model; docs/training.md)::

    model:                      # one of
      stlm: {...}               #   an original model: section (a bare original section works too)
      tinylm: {...}             #   TinyLMConfig keyword arguments (likewise tinylm_byte, tinylm_next_thought)
      transformers: {config_class: LlamaConfig, hidden_size: 256, ...}   # a transformers baseline
      pretrained: path/to/folder
    tokenizer: {type: auto | gpt2 | bpe | pretrained, path: ..., vocab_size: ..., pre_split: gpt2 | none}
    data: {dataset: default, text_field: text, validation_fraction: 0.02, context_length: 256}
    training: {...}             # TrainingArguments keyword arguments
    dropout: {dropout_type: constant, dropout: 0.0}   # the original's dropout_scheduler keys
    lora: {r: 8, alpha: 16, dropout: 0.0, target_modules: [...]}
    seed: 0
    eval_batches: 8             # validation batches per evaluation (all when absent)
"""

import copy
import dataclasses
import os

import yaml

from .data import DataConfig
from .schedules import DROPOUT_ALIASES, DROPOUT_TYPES, DropoutSchedule, LRSchedule


class TrainConfigError(ValueError):
    """A training config that cannot be used; the message names the key's path in the YAML."""


# Defaults that suit 2 CPU cores and the embedded corpus (a few minutes for a baseline-sized model).
DEFAULT_TRAINING = {
    "max_steps": 100,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-3,
    "warmup_steps": 10,
    "lr_scheduler_type": "cosine",
    "weight_decay": 0.1,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "max_grad_norm": 1.0,
    "logging_steps": 10,
    "eval_strategy": "steps",
    "eval_steps": 50,
    "save_strategy": "steps",
    "save_steps": 50,
    "save_total_limit": 2,
    "report_to": "none",
    "dataloader_num_workers": 0,
}
DEFAULT_CONTEXT_LENGTH = 128
DEFAULT_EVAL_BATCHES = 16
PROJECT_SECTIONS = ("model", "tokenizer", "data", "training", "dropout", "lora", "seed", "eval_batches")
MODEL_KINDS = ("stlm", "tinylm", "tinylm_byte", "tinylm_next_thought", "transformers", "pretrained")
TOKENIZER_TYPES = ("auto", "gpt2", "bpe", "pretrained")
TOKENIZER_KEYS = ("type", "path", "vocab_size", "pre_split")
LORA_KEYS = ("r", "alpha", "dropout", "target_modules")

# The original trainer's keys: section → {key: what we do with it}. "ignore" keys are reported once.
_IGNORED = "ignore"
ORIGINAL_TRAINER_KEYS = {
    "training": {
        "trainer_type": _IGNORED, "batch_size": "per_device_train_batch_size",
        "gradient_accumulation_steps": "gradient_accumulation_steps", "max_iters": "max_steps",
        "lr_decay_iters": "lr_decay_iters", "warmup_iters": "warmup_iters", "eval_interval": "eval_steps",
        "log_interval": "logging_steps", "eval_iters": "eval_batches", "checkpoint_interval": "save_steps",
        "run_profiler": _IGNORED,
    },
    "optimizer": {
        "name": "optimizer", "lr": "lr", "min_lr": "min_lr", "weight_decay": "weight_decay", "beta1": "adam_beta1",
        "beta2": "adam_beta2", "grad_clip": "max_grad_norm", "decay_lr": "decay_lr",
        # The original's scheduler reads training.warmup_iters; this copy is never read there either.
        "warmup_iters": _IGNORED,
    },
    "lr_scheduler": {"name": "lr_scheduler"},
    "dropout_scheduler": {key: "dropout" for key in (
        "dropout_type", "name", "dropout", "start_dropout_p", "end_dropout_p", "start_iter", "end_iter",
        "dropout_trough", "dropout_peak", "num_iterations", "num_cycles")},
    "dataloader": {"name": _IGNORED},
    "loss_fn": {"name": _IGNORED},
}
_IGNORED_TRAINER_SECTIONS = {"eval": "the original's evaluators (use tinylm compare or lm-eval)"}
_IGNORED_GENERAL = {"logging": "wandb logging", "paths": "the original's paths (use --output)",
                    "device": "the device (Trainer picks CUDA when there is one, else the CPU)"}


@dataclasses.dataclass
class TrainConfig:
    """Everything ``train`` needs; ``load_train_config`` makes one from a YAML file or a dict."""

    model: dict
    tokenizer: dict = dataclasses.field(default_factory=lambda: {"type": "auto"})
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    training: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_TRAINING))
    lr_schedule: LRSchedule = None
    dropout_schedule: DropoutSchedule = None
    lora: dict = None
    seed: int = 0
    eval_batches: int = DEFAULT_EVAL_BATCHES
    context_length_given: bool = False
    ignored: tuple = ()
    source: str = "project"
    raw: dict = None


# ---- reading ---------------------------------------------------------------------------------------------------
def read_yaml(path) -> dict:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TrainConfigError(f"config file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle)
    except UnicodeDecodeError as error:
        raise TrainConfigError(f"config file {path} is not UTF-8 text (byte {error.start})") from None
    except yaml.YAMLError as error:
        raise TrainConfigError(f"config file {path} is not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(loaded, dict):
        raise TrainConfigError(f"config file {path} must hold a mapping of sections, got {type(loaded).__name__}")
    return loaded


def apply_overrides(raw: dict, assignments) -> dict:
    """``--set a.b.c=VALUE`` (VALUE read as YAML: numbers, booleans, lists) on a copy of the raw config."""
    raw = copy.deepcopy(raw)
    for assignment in assignments or ():
        key, separator, text = assignment.partition("=")
        if not separator or not key.strip():
            raise TrainConfigError(f"--set {assignment!r} is invalid; allowed: KEY=VALUE, e.g. training.max_steps=50")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        target = raw
        parts = key.strip().split(".")
        for index, part in enumerate(parts[:-1]):
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise TrainConfigError(f"--set {key}: {'.'.join(parts[:index + 1])} is not a section")
            target = child
        target[parts[-1]] = value
    return raw


def load_train_config(source, overrides=()) -> TrainConfig:
    """A ``TrainConfig`` from a YAML path or an already loaded dict, with ``--set`` style overrides."""
    raw = read_yaml(source) if isinstance(source, (str, os.PathLike)) else copy.deepcopy(source)
    if not isinstance(raw, dict):
        raise TrainConfigError(f"a training config must be a mapping of sections, got {type(raw).__name__}")
    raw = apply_overrides(raw, overrides)
    if "model" not in raw:
        raise TrainConfigError("the config has no model: section; allowed: an original STLM full config or the "
                               "project's YAML (docs/training.md), both with a model: section")
    if "trainer" in raw or "general" in raw:
        config = _from_original(raw)
    else:
        config = _from_project(raw)
    config.raw = raw
    return config


# ---- the original's full configs -------------------------------------------------------------------------------
def _section(raw: dict, path: str) -> dict:
    value = raw
    for part in path.split("."):
        value = value.get(part, {}) if isinstance(value, dict) else None
    if value is None or not isinstance(value, dict):
        raise TrainConfigError(f"{path} must be a mapping, got {type(value).__name__} {value!r}")
    return value


def _number(path: str, value, kind=float, minimum=None, maximum=None, exclusive_minimum=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise TrainConfigError(f"{path}={value!r} is invalid; allowed: {'an integer' if kind is int else 'a number'}")
    if value != value or (minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)) or (
            maximum is not None and value > maximum):
        bound = f"{'>' if exclusive_minimum else '>='} {minimum}" if minimum is not None else ""
        bound += f"{' and ' if bound else ''}<= {maximum}" if maximum is not None else ""
        raise TrainConfigError(f"{path}={value!r} is invalid; allowed: a number {bound}")
    return kind(value)


def _from_original(raw: dict) -> TrainConfig:
    unknown = sorted(set(raw) - {"model", "trainer", "general", "teachermodel", "data"})
    if unknown:
        raise TrainConfigError(f"unknown top-level key(s) {', '.join(unknown)}; allowed in an original full config: "
                               f"model, trainer, general, data (ours: text, context_length; teachermodel is "
                               f"reported and ignored)")
    ignored = []
    if "teachermodel" in raw:
        ignored.append("teachermodel (knowledge distillation is not supported: the model trains on the data alone)")
    trainer = _section(raw, "trainer")
    mapped = {}
    for name, value in trainer.items():
        if name == "dataset":
            mapped["dataset"] = value
            continue
        if name in _IGNORED_TRAINER_SECTIONS:
            ignored.append(f"trainer.{name} ({_IGNORED_TRAINER_SECTIONS[name]})")
            continue
        if name not in ORIGINAL_TRAINER_KEYS:
            raise TrainConfigError(f"trainer.{name} is not a known key; allowed: dataset, "
                                   f"{', '.join(sorted([*ORIGINAL_TRAINER_KEYS, *_IGNORED_TRAINER_SECTIONS]))}")
        section = _section(raw, f"trainer.{name}")
        for key, value in section.items():
            target = ORIGINAL_TRAINER_KEYS[name].get(key)
            if target is None:
                raise TrainConfigError(f"trainer.{name}.{key} is not a known key; allowed: "
                                       f"{', '.join(sorted(ORIGINAL_TRAINER_KEYS[name]))}")
            if target == _IGNORED:
                ignored.append(f"trainer.{name}.{key}")
            elif name == "dropout_scheduler":
                mapped.setdefault("dropout", {})[key] = value
            else:
                mapped[target] = (f"trainer.{name}.{key}", value)
    general = _section(raw, "general")
    seed = 0
    for key, value in general.items():
        if key == "seed":
            seed = _number("general.seed", value, int, minimum=0)
        elif key in _IGNORED_GENERAL:
            ignored.append(f"general.{key} ({_IGNORED_GENERAL[key]})")
        else:
            raise TrainConfigError(f"general.{key} is not a known key; allowed: seed, {', '.join(_IGNORED_GENERAL)}")

    training = dict(DEFAULT_TRAINING)
    for ours, (path, value) in ((k, v) for k, v in mapped.items() if isinstance(v, tuple)):
        if ours in ("per_device_train_batch_size", "gradient_accumulation_steps", "max_steps", "eval_steps",
                    "logging_steps"):
            training[ours] = _number(path, value, int, minimum=1)
        elif ours == "save_steps":
            steps = _number(path, value, float, minimum=0, exclusive_minimum=True)
            training[ours] = int(min(steps, 2**31 - 1))  # the original writes "never" as 1e9
        elif ours in ("weight_decay",):
            training[ours] = _number(path, value, float, minimum=0)
        elif ours in ("adam_beta1", "adam_beta2"):
            training[ours] = _number(path, value, float, minimum=0, maximum=1)
        elif ours == "max_grad_norm":
            training[ours] = _number(path, value, float, minimum=0)
    training["per_device_eval_batch_size"] = training["per_device_train_batch_size"]
    optimizer = mapped.get("optimizer", ("trainer.optimizer.name", "nanoGPTadamW"))
    if optimizer[1] != "nanoGPTadamW":
        raise TrainConfigError(f"{optimizer[0]}={optimizer[1]!r} is not supported; allowed: nanoGPTadamW")
    scheduler = mapped.get("lr_scheduler", ("trainer.lr_scheduler.name", "cosine"))
    if scheduler[1] not in ("cosine", "constant"):
        raise TrainConfigError(f"{scheduler[0]}={scheduler[1]!r} is not supported; allowed: cosine, constant")

    def value_of(key, default, kind=float, minimum=0):
        path, value = mapped.get(key, (None, default))
        return _number(path or key, value, kind, minimum=minimum)

    lr = value_of("lr", 6e-4)
    decay_lr = mapped.get("decay_lr", (None, True))[1]
    if not isinstance(decay_lr, bool):
        raise TrainConfigError(f"trainer.optimizer.decay_lr={decay_lr!r} is invalid; allowed: true or false")
    schedule = LRSchedule(
        lr=lr, min_lr=value_of("min_lr", lr / 10), warmup_iters=value_of("warmup_iters", 0, int),
        lr_decay_iters=value_of("lr_decay_iters", training["max_steps"], int, minimum=1),
        decay_lr=decay_lr and scheduler[1] == "cosine",
    )
    training["learning_rate"] = lr
    eval_batches = value_of("eval_batches", DEFAULT_EVAL_BATCHES, int, minimum=1)
    model_section = raw["model"]
    if not isinstance(model_section, dict):
        raise TrainConfigError(f"model must be a mapping, got {type(model_section).__name__}")
    data_section = dict(raw.get("data") or {})
    data_section.setdefault("dataset", mapped.get("dataset", "default"))
    data = _data_config(data_section, "data")
    return TrainConfig(
        model={"stlm": model_section}, data=data, training=training, lr_schedule=schedule,
        dropout_schedule=_dropout_schedule(mapped.get("dropout"), "trainer.dropout_scheduler", training["max_steps"]),
        seed=seed, eval_batches=eval_batches, ignored=tuple(ignored), source="original",
        context_length_given="context_length" in data_section,
    )


def _dropout_schedule(section, path: str, max_steps: int):
    if section is None:
        return None
    if not isinstance(section, dict):
        raise TrainConfigError(f"{path} must be a mapping, got {type(section).__name__}")
    section = dict(section)
    kind = section.pop("dropout_type", section.pop("name", "constant"))
    section.pop("name", None)
    kind = DROPOUT_ALIASES.get(kind, kind)
    if kind not in DROPOUT_TYPES:
        raise TrainConfigError(f"{path}.dropout_type={kind!r} is invalid; allowed: {', '.join(DROPOUT_TYPES)} "
                               f"(linear is read as linear_up)")
    fields = {field.name for field in dataclasses.fields(DropoutSchedule)} - {"dropout_type"}
    values = {}
    for key, value in section.items():
        if key not in fields:
            raise TrainConfigError(f"{path}.{key} is not a known key; allowed: dropout_type, {', '.join(sorted(fields))}")
        if key in ("start_iter", "end_iter", "num_iterations", "num_cycles"):
            values[key] = _number(f"{path}.{key}", value, int, minimum=0)
        else:
            values[key] = _number(f"{path}.{key}", value, float, minimum=0, maximum=1)
    if kind == "linear_up" and values.get("end_iter", 0) <= values.get("start_iter", 0):
        raise TrainConfigError(f"{path}.end_iter={values.get('end_iter', 0)} must be greater than "
                               f"{path}.start_iter={values.get('start_iter', 0)} for dropout_type linear_up")
    if kind == "triangle":
        values.setdefault("num_iterations", max_steps)
        values["num_cycles"] = max(1, values.get("num_cycles", 4))
    return DropoutSchedule(dropout_type=kind, **values)


# ---- the project's own YAML ------------------------------------------------------------------------------------
def _data_config(section, path: str) -> DataConfig:
    if not isinstance(section, dict):
        raise TrainConfigError(f"{path} must be a mapping, got {type(section).__name__}")
    fields = {field.name for field in dataclasses.fields(DataConfig)}
    unknown = sorted(set(section) - fields)
    if unknown:
        raise TrainConfigError(f"{path}.{unknown[0]} is not a known key; allowed: {', '.join(sorted(fields))}")
    try:
        return DataConfig(**section)
    except (TypeError, ValueError) as error:
        raise TrainConfigError(f"{path}: {error}") from None


def _from_project(raw: dict) -> TrainConfig:
    unknown = sorted(set(raw) - set(PROJECT_SECTIONS))
    if unknown:
        raise TrainConfigError(f"unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(PROJECT_SECTIONS)}"
                               f" (or an original full config with trainer: and general:)")
    model = raw["model"]
    if not isinstance(model, dict):
        raise TrainConfigError(f"model must be a mapping, got {type(model).__name__}")
    if "core_model" in model:  # a bare original model: section
        model = {"stlm": model}
    kinds = [kind for kind in MODEL_KINDS if kind in model]
    if len(kinds) != 1 or len(model) != 1:
        raise TrainConfigError(f"model must have exactly one of {', '.join(MODEL_KINDS)} (or be an original model: "
                               f"section); got {', '.join(sorted(model)) or 'nothing'}")
    tokenizer = raw.get("tokenizer", {}) or {}
    if not isinstance(tokenizer, dict):
        raise TrainConfigError(f"tokenizer must be a mapping, got {type(tokenizer).__name__}")
    for key in tokenizer:
        if key not in TOKENIZER_KEYS:
            raise TrainConfigError(f"tokenizer.{key} is not a known key; allowed: {', '.join(TOKENIZER_KEYS)}")
    tokenizer = {"type": "auto", **tokenizer}
    if tokenizer["type"] not in TOKENIZER_TYPES:
        raise TrainConfigError(f"tokenizer.type={tokenizer['type']!r} is invalid; allowed: {', '.join(TOKENIZER_TYPES)}")
    if tokenizer["type"] == "pretrained" and not tokenizer.get("path"):
        raise TrainConfigError("tokenizer.path is missing; tokenizer.type 'pretrained' loads a tokenizer folder")
    training_section = raw.get("training", {}) or {}
    if not isinstance(training_section, dict):
        raise TrainConfigError(f"training must be a mapping, got {type(training_section).__name__}")
    training = {**DEFAULT_TRAINING, **training_section}
    data_section = dict(raw.get("data", {}) or {})
    context_given = "context_length" in data_section
    data_section.setdefault("context_length", DEFAULT_CONTEXT_LENGTH)
    lora = raw.get("lora")
    if lora is not None:
        lora = parse_lora(lora, "lora")
    eval_batches = raw.get("eval_batches", DEFAULT_EVAL_BATCHES)
    return TrainConfig(
        model=model, tokenizer=tokenizer, data=_data_config(data_section, "data"), training=training,
        dropout_schedule=_dropout_schedule(raw.get("dropout"), "dropout", training.get("max_steps", 0)),
        lora=lora, seed=_number("seed", raw.get("seed", 0), int, minimum=0),
        eval_batches=None if eval_batches is None else _number("eval_batches", eval_batches, int, minimum=1),
        context_length_given=context_given,
    )


def parse_lora(value, path: str = "--lora") -> dict:
    """``{"r": 8, "alpha": 16}`` from a mapping or from ``"r=8,alpha=16"``."""
    if isinstance(value, str):
        pairs = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            key, separator, text = item.partition("=")
            if not separator:
                raise TrainConfigError(f"{path} {value!r} is invalid; allowed: KEY=VALUE pairs, e.g. r=8,alpha=16")
            pairs[key.strip()] = yaml.safe_load(text)
        value = pairs
    if not isinstance(value, dict):
        raise TrainConfigError(f"{path} must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in LORA_KEYS:
            raise TrainConfigError(f"{path}.{key} is not a known key; allowed: {', '.join(LORA_KEYS)}")
    lora = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": None, **value}
    lora["r"] = _number(f"{path}.r", lora["r"], int, minimum=1)
    lora["alpha"] = _number(f"{path}.alpha", lora["alpha"], float, minimum=0, exclusive_minimum=True)
    lora["dropout"] = _number(f"{path}.dropout", lora["dropout"], float, minimum=0, maximum=1)
    targets = lora["target_modules"]
    if targets is not None and (isinstance(targets, str) or not all(isinstance(t, str) for t in targets)):
        raise TrainConfigError(f"{path}.target_modules={targets!r} is invalid; allowed: a list of module names")
    return lora


def set_max_steps(config: TrainConfig, steps: int):
    """Train for ``steps`` optimizer steps. An original config's warm-up, decay and dropout iterations are scaled
    by steps / max_iters, so a short run keeps the shape of the original schedule."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise TrainConfigError(f"--max-steps={steps!r} is invalid; allowed: a positive number of steps")
    before = config.training.get("max_steps") or steps
    config.training["max_steps"] = steps
    if config.source != "original" or before == steps:
        return
    factor = steps / before

    def scaled(value):
        return max(0, round(value * factor))

    schedule = config.lr_schedule
    if schedule is not None:
        config.lr_schedule = dataclasses.replace(schedule, warmup_iters=scaled(schedule.warmup_iters),
                                                 lr_decay_iters=max(1, scaled(schedule.lr_decay_iters)))
    dropout = config.dropout_schedule
    if dropout is not None:
        config.dropout_schedule = dataclasses.replace(
            dropout, start_iter=scaled(dropout.start_iter), end_iter=max(scaled(dropout.end_iter),
                                                                           scaled(dropout.start_iter) + 1),
            num_iterations=scaled(dropout.num_iterations))
    for key in ("eval_steps", "save_steps", "logging_steps"):
        if config.training.get(key):
            config.training[key] = max(1, min(config.training[key], steps))
