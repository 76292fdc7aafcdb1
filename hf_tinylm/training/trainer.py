"""``train(config) -> TrainResult``: any model of the project (or a transformers baseline) trained with
transformers' ``Trainer`` on packed blocks of text.

Output folder layout (``output_dir``):
- the trained model and its tokenizer (``save_pretrained``), loadable with ``AutoModelForCausalLM``;
- ``checkpoints/checkpoint-N``: Trainer checkpoints (weights, optimizer, scheduler, RNG states, trainer state),
  each written into ``checkpoints/.staging`` and renamed into place only when complete, so an interrupted or
  disk-full save never leaves a checkpoint that ``--resume`` would pick;
- ``tokenizer/``: a tokenizer trained on the fly (reused by ``--resume``);
- ``loss_curve.png``, ``final_metrics.json`` (written last: its presence means the run finished),
  ``adapter/`` with LoRA.
"""

import dataclasses
import os
import shutil
import time

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint, rotate_checkpoints

from tokenizers_ext.atomic_files import atomic_write_json, save_into_directory_atomically, staged_file

from .config import TrainConfig, TrainConfigError, load_train_config
from .data import collate_blocks, load_text_splits, pack
from .schedules import DropoutScheduleCallback, set_dropout

CHECKPOINTS = "checkpoints"
STAGING = ".staging"
METRICS_FILE = "final_metrics.json"
LOSS_PLOT = "loss_curve.png"
TOKENIZER_DIR = "tokenizer"
ADAPTER_DIR = "adapter"


@dataclasses.dataclass
class TrainResult:
    output_dir: str
    metrics: dict
    model: torch.nn.Module
    tokenizer: object
    log_history: list


class StepTimer(TrainerCallback):
    """Wall time spent in optimizer steps only (not evaluation, checkpoints or start-up): for tokens per second."""

    def __init__(self):
        self.seconds = 0.0
        self.steps = 0
        self._started = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self.steps += 1
            self._started = None


class TinyLMTrainer(Trainer):
    """Trainer with atomic checkpoints and bits per byte next to every evaluation loss."""

    def __init__(self, *args, bits_per_byte=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.bits_per_byte = bits_per_byte  # eval loss (nats per token) → bits per byte of the validation text
        self._staging_root = None

    def log(self, logs, *args, **kwargs):
        if "eval_loss" in logs and self.bits_per_byte is not None:
            logs["eval_bits_per_byte"] = self.bits_per_byte(logs["eval_loss"])
        return super().log(logs, *args, **kwargs)

    def _get_output_dir(self, trial):
        return self._staging_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial):
        run_dir = super()._get_output_dir(trial)
        name = f"checkpoint-{self.state.global_step}"
        self._staging_root = os.path.join(run_dir, STAGING)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_root = None
        if self.args.world_size > 1:
            torch.distributed.barrier()  # every rank has written its RNG state into the staged folder
        if self.args.should_save:
            target = os.path.join(run_dir, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            os.replace(os.path.join(run_dir, STAGING, name), target)
            shutil.rmtree(os.path.join(run_dir, STAGING), ignore_errors=True)
            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit, use_mtime=False)
        if self.args.world_size > 1:
            torch.distributed.barrier()


# ---- building the pieces --------------------------------------------------------------------------------------------
def _model_error(error: Exception) -> TrainConfigError:
    return TrainConfigError(f"model: {error}")


def _gpt2_tokenizer():
    from tokenizers_ext import GPT2Tokenizer

    return GPT2Tokenizer()


def _train_bpe(config: TrainConfig, vocab_size: int, output_dir: str, resume: bool):
    """A BPE tokenizer trained on the training split (kept in output_dir/tokenizer for --resume)."""
    from transformers import AutoTokenizer

    from tokenizers_ext import BPETokenizer

    folder = os.path.join(output_dir, TOKENIZER_DIR)
    if resume and os.path.isdir(folder):
        return AutoTokenizer.from_pretrained(folder)
    texts = load_text_splits(config.data)["train"]["text"]
    tokenizer = BPETokenizer.train(texts, vocab_size, pre_split=config.tokenizer.get("pre_split", "gpt2"))
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_model_and_tokenizer(config: TrainConfig, output_dir: str, resume: bool = False):
    """The model the config names and the tokenizer it trains with."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    import hf_tinylm

    spec = config.tokenizer
    kind, (model_kind, model_spec) = spec["type"], next(iter(config.model.items()))
    train_bpe = kind == "bpe" and not spec.get("path")  # asked for explicitly: even if the model has a tokenizer
    tokenizer = None
    if train_bpe and model_kind != "stlm":  # first, so that the model's vocabulary defaults to the tokenizer's
        if not spec.get("vocab_size"):
            raise TrainConfigError("tokenizer.vocab_size is missing; a bpe tokenizer trained on the fly needs one")
        tokenizer = _train_bpe(config, spec["vocab_size"], output_dir, resume)
    elif kind == "gpt2":
        tokenizer = _gpt2_tokenizer()
    elif kind == "pretrained" or (kind == "bpe" and spec.get("path")):
        tokenizer = AutoTokenizer.from_pretrained(spec["path"])
    elif kind == "auto" and model_kind == "pretrained":
        tokenizer = AutoTokenizer.from_pretrained(model_spec)
    elif kind == "auto" and model_kind == "transformers":
        tokenizer = _gpt2_tokenizer()

    try:
        if model_kind == "stlm":
            model = hf_tinylm.model_from_stlm(model_spec)
        elif model_kind in ("tinylm", "tinylm_byte", "tinylm_next_thought"):
            config_class = {"tinylm": hf_tinylm.TinyLMConfig, "tinylm_byte": hf_tinylm.TinyLMByteConfig,
                            "tinylm_next_thought": hf_tinylm.TinyLMNextThoughtConfig}[model_kind]
            model_config = config_class(**_vocab_default(model_spec, tokenizer))
            model = AutoModelForCausalLM.from_config(model_config)
        elif model_kind == "transformers":
            fields = dict(model_spec)
            name = fields.pop("config_class", None) or fields.pop("model_type", None)
            if not isinstance(name, str):
                raise ValueError("model.transformers needs config_class (e.g. LlamaConfig) or model_type (e.g. llama)")
            config_class = getattr(transformers, name, None)
            model_config = (config_class(**_vocab_default(fields, tokenizer)) if isinstance(config_class, type)
                            else AutoConfig.for_model(name, **_vocab_default(fields, tokenizer)))
            model = AutoModelForCausalLM.from_config(model_config)
        else:
            model = AutoModelForCausalLM.from_pretrained(model_spec)
    except (ValueError, TypeError, OSError) as error:
        raise _model_error(error) from None

    if tokenizer is None:
        tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or (train_bpe and model_kind == "stlm"):
        tokenizer_type = getattr(model.config, "embedder", {}).get("tokenizer_type", "gpt2")
        if tokenizer_type == "bpe" or train_bpe:
            tokenizer = _train_bpe(config, spec.get("vocab_size") or model.config.vocab_size, output_dir, resume)
        else:
            tokenizer = _gpt2_tokenizer()
    if len(tokenizer) > model.config.vocab_size:
        raise TrainConfigError(f"the tokenizer has {len(tokenizer)} tokens but model.vocab_size is "
                               f"{model.config.vocab_size}; allowed: a vocabulary at least as large as the tokenizer")
    if hasattr(model, "set_tokenizer"):
        model.set_tokenizer(tokenizer)
    return model, tokenizer


def _vocab_default(fields: dict, tokenizer) -> dict:
    fields = dict(fields)
    if tokenizer is not None:
        fields.setdefault("vocab_size", len(tokenizer))
        # Transformers' defaults (GPT-2's 50256, Llama's 1 and 2) are not this tokenizer's ids.
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            fields.setdefault(name, tokenizer.eos_token_id)
    return fields


def context_window(model) -> int:
    config = model.config.get_text_config()
    for name in ("max_position_embeddings", "n_positions", "context_window"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def _check_context(config: TrainConfig, model):
    window = context_window(model)
    data = config.data
    if not config.context_length_given and window is not None and config.source == "original":
        data.context_length = window  # the original trains at its context window
    elif not config.context_length_given and window is not None:
        data.context_length = min(data.context_length, window)
    if window is not None and data.context_length > window:
        raise TrainConfigError(f"data.context_length={data.context_length} is longer than the model's context "
                               f"window {window}; allowed: at most {window}")


def _check_training_keys(training: dict):
    known = {field.name for field in dataclasses.fields(TrainingArguments)}
    for key in training:
        if key not in known:
            raise TrainConfigError(f"training.{key} is not a TrainingArguments field")


def _nano_gpt_optimizer(model, training: dict):
    """AdamW with weight decay on matrices only (embeddings and linear weights), as the original and nanoGPT."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": training["weight_decay"]},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        [group for group in groups if group["params"]], lr=training["learning_rate"],
        betas=(training["adam_beta1"], training["adam_beta2"]), eps=training.get("adam_epsilon", 1e-8),
    )


def _training_arguments(config: TrainConfig, output_dir: str) -> TrainingArguments:
    training = dict(config.training)
    _check_training_keys(training)
    if "max_steps" not in training or training["max_steps"] is None or training["max_steps"] <= 0:
        raise TrainConfigError(f"training.max_steps={training.get('max_steps')!r} is invalid; allowed: a positive "
                               f"number of optimizer steps")
    cuda = torch.cuda.is_available() and not training.get("use_cpu", False)
    defaults = {"seed": config.seed, "data_seed": config.seed, "disable_tqdm": False}
    if cuda:
        defaults["bf16"] = torch.cuda.is_bf16_supported()
    else:
        defaults["use_cpu"] = True
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            defaults["ddp_backend"] = "gloo"
    try:
        return TrainingArguments(output_dir=os.path.join(output_dir, CHECKPOINTS), **{**defaults, **training})
    except (TypeError, ValueError) as error:
        raise TrainConfigError(f"training: {' '.join(str(error).split())}") from None


def _lora_model(model, lora: dict):
    from peft import LoraConfig, get_peft_model

    targets = lora["target_modules"] or default_lora_targets(model)
    peft_config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                             target_modules=targets, task_type="CAUSAL_LM")
    return get_peft_model(model, peft_config)


def default_lora_targets(model) -> list:
    """Every linear layer of the attention and FFN blocks (our components' names, or peft's own table)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as TABLE

    ours = {"c_attn", "c_proj", "linear_1", "linear_2", "linear_3"}
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    if names & ours:
        return sorted(names & ours)
    core_config = getattr(model.config, "core_config", None)
    model_type = core_config["model_type"] if core_config else model.config.model_type
    if model_type in TABLE:
        return list(TABLE[model_type])
    raise TrainConfigError(f"lora.target_modules is needed for model_type {model_type!r}; allowed: a list of "
                           f"its linear layers' names, e.g. {sorted(names)[:6]}")


# ---- outputs -----------------------------------------------------------------------------------------------------
def _save_model(model, tokenizer, output_dir: str):
    """save_pretrained into a staging folder, then each file into output_dir (a file is old or new, never half)."""

    def write(staging: str):
        model.save_pretrained(staging)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)

    save_into_directory_atomically(output_dir, write)


def plot_loss_curve(log_history: list, path: str, title: str = None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry]
    evaluation = [(entry["step"], entry["eval_loss"]) for entry in log_history if "eval_loss" in entry]
    figure, axis = plt.subplots(figsize=(7, 4.2))
    if train:
        axis.plot(*zip(*train), label="training loss", color="tab:blue")
    if evaluation:
        axis.plot(*zip(*evaluation), "o-", label="validation loss", color="tab:orange")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("cross-entropy (nats per token)")
    axis.set_title(title or "loss")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with staged_file(path) as staged:
        figure.savefig(staged, dpi=110)
    plt.close(figure)


# ---- the whole run -------------------------------------------------------------------------------------------------
def last_checkpoint(output_dir: str):
    """The newest complete checkpoint of a run's ``output_dir`` (what ``resume`` continues from), or None."""
    checkpoints = os.path.join(os.fspath(output_dir), CHECKPOINTS)
    return get_last_checkpoint(checkpoints) if os.path.isdir(checkpoints) else None


def train(config, output_dir: str = "out/train", resume: bool = False, overrides=(), report=print,
          callbacks=()) -> TrainResult:
    """Train the model a config describes (a ``TrainConfig``, a YAML path or a dict); see the module docstring.
    ``callbacks``: more ``TrainerCallback``s (``tinylm compare`` stops a run at a time budget with one)."""
    if not isinstance(config, TrainConfig):
        config = load_train_config(config, overrides)
    output_dir = os.path.abspath(os.fspath(output_dir))
    checkpoints = os.path.join(output_dir, CHECKPOINTS)
    last = last_checkpoint(output_dir)
    if last is not None and not resume:
        raise TrainConfigError(f"{output_dir} already holds checkpoints of a training run; pass --resume to continue "
                               f"it, or choose another --output")
    os.makedirs(output_dir, exist_ok=True)
    shutil.rmtree(os.path.join(checkpoints, STAGING), ignore_errors=True)  # an interrupted save's debris
    for note in config.ignored:
        report(f"ignored (no meaning here): {note}")

    set_seed(config.seed)
    model, tokenizer = build_model_and_tokenizer(config, output_dir, resume)
    _check_context(config, model)
    args = _training_arguments(config, output_dir)
    with args.main_process_first(desc="tokenising"):  # the others then find it in the cache
        data = pack(load_text_splits(config.data), tokenizer, config.data.context_length,
                    cache_dir=config.data.cache_dir, num_proc=config.data.num_proc)
    validation = data.validation
    if config.eval_batches is not None:
        # Batches of the global evaluation batch, so every process count evaluates the same blocks.
        blocks = config.eval_batches * args.per_device_eval_batch_size * args.world_size
        validation = validation.select(range(min(len(validation), blocks)))

    if config.dropout_schedule is not None:
        set_dropout(model, config.dropout_schedule.probability(0))
    base_model = model
    if config.lora is not None:
        model = _lora_model(model, config.lora)
    optimizer = _nano_gpt_optimizer(model, config.training)
    scheduler = config.lr_schedule.scheduler(optimizer) if config.lr_schedule is not None else None
    timer = StepTimer()
    callbacks = [timer, *callbacks] + ([DropoutScheduleCallback(config.dropout_schedule)]
                                       if config.dropout_schedule else [])
    trainer = TinyLMTrainer(
        model=model, args=args, train_dataset=data.train, eval_dataset=validation, data_collator=collate_blocks,
        optimizers=(optimizer, scheduler), callbacks=callbacks, bits_per_byte=data.bits_per_byte,
    )
    if resume and last is not None:
        report(f"resuming from {last}")
    trainer.train(resume_from_checkpoint=last if resume else None)
    final_eval = trainer.evaluate()

    steps = trainer.state.global_step
    tokens_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size * (
        config.data.context_length)
    train_losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    metrics = {
        "train_loss": train_losses[-1] if train_losses else None,
        "eval_loss": final_eval["eval_loss"],
        "eval_bits_per_byte": data.bits_per_byte(final_eval["eval_loss"]),
        "train_tokens_per_second": timer.steps * tokens_per_step / timer.seconds if timer.seconds else None,
        "steps": steps,
        "tokens_seen": steps * tokens_per_step,
        "context_length": config.data.context_length,
        "global_batch_size": tokens_per_step // config.data.context_length,
        "world_size": args.world_size,
        "parameters": sum(p.numel() for p in base_model.parameters()),
        "validation_bytes": data.validation_bytes,
        "validation_tokens": data.validation_tokens,
        "ignored_keys": list(config.ignored),
    }
    if trainer.is_world_process_zero():
        to_save = base_model
        if config.lora is not None:
            model.save_pretrained(os.path.join(output_dir, ADAPTER_DIR))
            to_save = model.merge_and_unload()
        _save_model(to_save, tokenizer, output_dir)
        plot_loss_curve(trainer.state.log_history, os.path.join(output_dir, LOSS_PLOT),
                        title=f"{type(base_model).__name__}: loss")
        atomic_write_json(os.path.join(output_dir, METRICS_FILE), metrics)
        result_model = to_save
    else:
        result_model = base_model
    return TrainResult(output_dir=output_dir, metrics=metrics, model=result_model, tokenizer=tokenizer,
                       log_history=list(trainer.state.log_history))
