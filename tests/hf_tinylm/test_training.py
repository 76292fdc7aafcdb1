"""``tinylm train`` / ``hf_tinylm.training.train``: config mapping, schedules, a real run, resume, two processes,
LoRA and bad input."""

import copy
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from hf_tinylm.training import TrainConfigError, load_train_config, train
from hf_tinylm.training.config import set_max_steps
from hf_tinylm.training.data import DataError, default_corpus_path
from hf_tinylm.training.schedules import DropoutSchedule, LRSchedule

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# baseline.yaml of the original repository (configs/full_configs), whole, with the model shrunk.
ORIGINAL_BASELINE = """
model:
  core_model:
    core_model_type: generic
    num_layers: 2
    ffn: {ffn_type: swiglu, ffn_dim: 64, normalization: rms_norm, bias: false}
    attn: {attn_type: generic, num_heads: 4, normalization: rms_norm, group_size: 2, bias: false, is_causal: true}
  embedder: {tokenizer_type: gpt2, embedding_model_type: generic, dataset_name: simple_en_wiki}
  lm_head: {normalization: rms_norm, bias: false, lm_head_type: generic}
  hidden_dim: 32
  context_window: 64
  vocab_size: 50257
  model_shell_type: standard
  embedding_weight_tying: true
  positional_encoding_type: rope
trainer:
  dropout_scheduler:
    dropout_type: linear
    start_dropout_p: 0.0
    end_dropout_p: 0.1
    start_iter: 0
    end_iter: 25000
  dataset: stlm
  training:
    trainer_type: base_trainer
    batch_size: 24
    gradient_accumulation_steps: 20
    max_iters: 25000
    lr_decay_iters: 25000
    warmup_iters: 5000
    eval_interval: 2000
    log_interval: 1
    eval_iters: 200
    checkpoint_interval: 1000000000.0
    run_profiler: false
  eval:
    benchmarks: [winograd, hellaswag, arc, mmlu, blimp]
    num_samples: 1000
    evaluator: mcq
  optimizer:
    name: nanoGPTadamW
    lr: 0.0006
    min_lr: 6.0e-05
    weight_decay: 0.1
    beta1: 0.9
    beta2: 0.95
    grad_clip: 1.0
    decay_lr: true
    warmup_iters: 5000
  lr_scheduler:
    name: cosine
  dataloader:
    name: standard
  loss_fn:
    name: cross_entropy
general:
  logging:
    wandb_log: true
    wandb_project: SuperTinyLanguageModels
  paths:
    output_dir: outputs
    data_dir: data
    checkpoint_dir: checkpoints
  seed: 489
  device: cuda
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A small text corpus (the first ~40 KB of the embedded one) and a one-token-per-character tokenizer."""
    from model_factory import char_tokenizer

    root = tmp_path_factory.mktemp("training")
    with open(default_corpus_path(), encoding="utf-8") as handle:
        text = handle.read(40_000)
    corpus = root / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    tokenizer_dir = root / "char-tokenizer"
    char_tokenizer().save_pretrained(tokenizer_dir)
    return {"root": root, "corpus": str(corpus), "tokenizer": str(tokenizer_dir), "cache": str(root / "cache")}


def tiny_project_config(workspace, **training) -> dict:
    return {
        "model": {"tinylm": {"hidden_size": 32, "max_position_embeddings": 64,
                             "core": {"num_layers": 2, "attention": {"num_heads": 4, "group_size": 2},
                                      "ffn": {"ffn_dim": 64}}}},
        "tokenizer": {"type": "pretrained", "path": workspace["tokenizer"]},
        "data": {"dataset": workspace["corpus"], "context_length": 32, "cache_dir": workspace["cache"]},
        "training": {"max_steps": 30, "per_device_train_batch_size": 4, "learning_rate": 3e-3, "warmup_steps": 3,
                     "logging_steps": 5, "eval_steps": 15, "save_steps": 15, **training},
        "eval_batches": 2,
        "seed": 3,
    }


# ---- the original's full configs ------------------------------------------------------------------------------
def test_original_trainer_keys_map_onto_trainer():
    config = load_train_config(yaml.safe_load(ORIGINAL_BASELINE))
    training = config.training
    assert config.source == "original" and config.model["stlm"]["hidden_dim"] == 32
    assert (training["per_device_train_batch_size"], training["gradient_accumulation_steps"]) == (24, 20)
    assert (training["max_steps"], training["eval_steps"], training["logging_steps"]) == (25000, 2000, 1)
    assert training["save_steps"] == 1_000_000_000 and training["learning_rate"] == 6e-4
    assert (training["weight_decay"], training["adam_beta1"], training["adam_beta2"], training["max_grad_norm"]) == (
        0.1, 0.9, 0.95, 1.0)
    assert config.lr_schedule == LRSchedule(lr=6e-4, min_lr=6e-5, warmup_iters=5000, lr_decay_iters=25000)
    assert config.dropout_schedule == DropoutSchedule("linear_up", start_dropout_p=0.0, end_dropout_p=0.1,
                                                      start_iter=0, end_iter=25000)
    assert config.seed == 489 and config.eval_batches == 200 and config.data.dataset == "stlm"
    ignored = " ".join(config.ignored)
    for key in ("trainer.eval", "general.logging", "general.paths", "general.device", "run_profiler",
                "trainer.dataloader.name", "trainer.loss_fn.name", "trainer_type", "trainer.optimizer.warmup_iters"):
        assert key in ignored, key


@pytest.mark.parametrize("path, value, words", [
    ("trainer.training.batch_size", "big", "trainer.training.batch_size='big' is invalid"),
    ("trainer.training.max_iters", 0, "trainer.training.max_iters=0 is invalid"),
    ("trainer.training.warmup", 10, "trainer.training.warmup is not a known key"),
    ("trainer.optimizer.name", "lion", "trainer.optimizer.name='lion' is not supported; allowed: nanoGPTadamW"),
    ("trainer.optimizer.beta2", 1.5, "trainer.optimizer.beta2=1.5 is invalid"),
    ("trainer.lr_scheduler.name", "step", "trainer.lr_scheduler.name='step' is not supported"),
    ("trainer.dropout_scheduler.dropout_type", "cosine", "dropout_type='cosine' is invalid"),
    ("trainer.sampler", {}, "trainer.sampler is not a known key"),
    ("general.colour", "red", "general.colour is not a known key"),
    ("optimiser", {}, "unknown top-level key(s) optimiser"),
])
def test_a_bad_original_config_names_the_key_and_its_path(path, value, words):
    raw = yaml.safe_load(ORIGINAL_BASELINE)
    target = raw
    *parents, key = path.split(".")
    for parent in parents:
        target = target[parent]
    target[key] = value
    with pytest.raises(TrainConfigError) as raised:
        load_train_config(raw)
    assert words in str(raised.value)


def test_max_steps_scales_an_original_schedule():
    config = load_train_config(yaml.safe_load(ORIGINAL_BASELINE))
    set_max_steps(config, 250)
    assert config.training["max_steps"] == 250
    assert (config.lr_schedule.warmup_iters, config.lr_schedule.lr_decay_iters) == (50, 250)
    assert (config.dropout_schedule.start_iter, config.dropout_schedule.end_iter) == (0, 250)
    assert config.training["eval_steps"] == 250


# ---- schedules ----------------------------------------------------------------------------------------------------
def test_cosine_schedule_warms_up_then_reaches_min_lr_at_lr_decay_iters():
    schedule = LRSchedule(lr=1.0, min_lr=0.1, warmup_iters=10, lr_decay_iters=110)
    assert schedule.rate(0) == 0.0 and schedule.rate(5) == 0.5 and schedule.rate(10) == 1.0
    assert schedule.rate(60) == pytest.approx(0.55)
    assert schedule.rate(110) == 0.1 and schedule.rate(500) == 0.1
    assert LRSchedule(lr=1.0, min_lr=0.1, warmup_iters=10, lr_decay_iters=110, decay_lr=False).rate(60) == 1.0


def test_dropout_schedules():
    assert DropoutSchedule("constant", dropout=0.2).probability(7) == 0.2
    linear = DropoutSchedule("linear_up", start_dropout_p=0.0, end_dropout_p=0.1, start_iter=10, end_iter=20)
    assert [linear.probability(step) for step in (0, 10, 15, 20, 99)] == pytest.approx([0, 0, 0.05, 0.1, 0.1])
    triangle = DropoutSchedule("triangle", dropout_trough=0.0, dropout_peak=0.2, num_iterations=40, num_cycles=4)
    assert [triangle.probability(step) for step in (0, 5, 10, 15)] == pytest.approx([0, 0.2, 0, 0.2])


# ---- a real run ---------------------------------------------------------------------------------------------------
def test_a_run_trains_evaluates_saves_and_reloads(tmp_path, workspace):
    result = train(tiny_project_config(workspace), output_dir=tmp_path, report=lambda line: None)
    metrics = json.loads((tmp_path / "final_metrics.json").read_text())
    for key in ("train_loss", "eval_loss", "eval_bits_per_byte", "train_tokens_per_second", "steps"):
        assert key in metrics and metrics[key] is not None, key
    assert metrics["steps"] == 30 and metrics == result.metrics
    first_loss = next(entry["loss"] for entry in result.log_history if "loss" in entry)
    assert metrics["train_loss"] < first_loss - 0.5  # it learns: a character model starts near ln 97 = 4.57
    assert metrics["eval_bits_per_byte"] == pytest.approx(
        metrics["eval_loss"] * metrics["validation_tokens"] / metrics["validation_bytes"] / math.log(2))
    assert (tmp_path / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["checkpoint-15", "checkpoint-30"]

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.tensor([[40, 41, 72, 73, 74]])
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids).logits, result.model.eval()(input_ids=ids).logits)
    assert reloaded.tokenizer.encode("ab", add_special_tokens=False) == [65, 66]

    with pytest.raises(TrainConfigError, match="already holds checkpoints.*--resume"):
        train(tiny_project_config(workspace), output_dir=tmp_path, report=lambda line: None)


def test_a_yaml_with_only_an_original_model_section_trains(tmp_path, workspace):
    section = yaml.safe_load(ORIGINAL_BASELINE)["model"]
    path = tmp_path / "model-only.yaml"
    path.write_text(yaml.safe_dump({"model": section}))
    config = load_train_config(path, overrides=[f"data.dataset={workspace['corpus']}",
                                                f"data.cache_dir={workspace['cache']}", "training.max_steps=4",
                                                "eval_batches=1"])
    assert config.training["per_device_train_batch_size"] == 8 and config.data.context_length == 128
    result = train(config, output_dir=tmp_path / "out", report=lambda line: None)
    assert result.metrics["steps"] == 4 and result.metrics["context_length"] == 64  # the model's window
    assert type(result.model).__name__ == "TinyLMForCausalLM"


def test_lora_adapts_saves_reloads_and_merges_to_identical_logits(tmp_path, workspace):
    from peft import PeftModel

    from hf_tinylm.training.trainer import build_model_and_tokenizer

    config = tiny_project_config(workspace, max_steps=20, learning_rate=1e-2)
    config["lora"] = {"r": 4, "alpha": 8}
    result = train(config, output_dir=tmp_path, report=lambda line: None)
    first_loss = next(entry["loss"] for entry in result.log_history if "loss" in entry)
    assert result.metrics["train_loss"] < first_loss
    # The same base model (same seed), the saved adapter on top, merged: the saved merged model's logits.
    from transformers import set_seed

    set_seed(3)
    base, _ = build_model_and_tokenizer(load_train_config(tiny_project_config(workspace)), str(tmp_path))
    merged = PeftModel.from_pretrained(base, tmp_path / "adapter").merge_and_unload().eval()
    saved = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.tensor([[40, 41, 72, 73, 74, 75]])
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, saved(input_ids=ids).logits, rtol=0, atol=0)


@pytest.mark.slow  # compiling forward and backward takes a minute or two on 2 cores
def test_a_compiled_run_learns_and_saves_the_eager_weight_names(tmp_path, workspace):
    from safetensors.torch import load_file

    config = tiny_project_config(workspace, max_steps=10, torch_compile=True, eval_steps=10, save_steps=10)
    result = train(config, output_dir=tmp_path / "compiled", report=lambda line: None)
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert all(math.isfinite(loss) for loss in losses) and losses[-1] < losses[0]
    train(tiny_project_config(workspace, max_steps=1), output_dir=tmp_path / "eager", report=lambda line: None)
    # Trainer compiles through accelerate's wrapper and saves the module it wraps: no `_orig_mod.` in any name.
    compiled_names = set(load_file(tmp_path / "compiled" / "model.safetensors"))
    assert compiled_names == set(load_file(tmp_path / "eager" / "model.safetensors"))
    assert not any("_orig_mod" in name for name in compiled_names)
    AutoModelForCausalLM.from_pretrained(tmp_path / "compiled")  # and the folder loads


# ---- bad input ----------------------------------------------------------------------------------------------------
def test_bad_project_configs_fail_before_any_work(tmp_path, workspace):
    good = tiny_project_config(workspace)
    cases = [
        ({"training": {**good["training"], "learnin_rate": 1}}, "training.learnin_rate is not a TrainingArguments"),
        ({"data": {**good["data"], "context_length": 128}}, "data.context_length=128 is longer than the model's "
                                                           "context window 64"),
        ({"modle": {}}, "unknown top-level key(s) modle"),
        ({"model": {"tinylm": {"hidden_size": 30, "core": {"attention": {"num_heads": 4}}}}},
         "model: hidden_size=30 is not divisible"),
        ({"tokenizer": {"type": "sentencepiece"}}, "tokenizer.type='sentencepiece' is invalid"),
        ({"data": {**good["data"], "dataset": str(tmp_path / "missing.txt")}}, "missing.txt"),
    ]
    for change, words in cases:
        config = {**copy.deepcopy(good), **change}
        with pytest.raises((TrainConfigError, DataError)) as raised:
            train(config, output_dir=tmp_path / "out", report=lambda line: None)
        assert words in str(raised.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.txt"):
        train({**good, "data": {**good["data"], "dataset": str(empty)}}, output_dir=tmp_path / "out",
              report=lambda line: None)
    assert not (tmp_path / "out" / "checkpoints").exists()


# ---- processes: exact resume after SIGKILL, two processes -----------------------------------------------------
def _write_config(path, workspace, **training):
    path.write_text(yaml.safe_dump(tiny_project_config(workspace, **training)))
    return str(path)


def _cli(*args) -> list:
    return [sys.executable, "-m", "tinylm_cli", "train", *args]


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(os.path.join(folder, "model.safetensors"))


def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_result(tmp_path, workspace):
    config = _write_config(tmp_path / "run.yaml", workspace, max_steps=40, save_steps=10, eval_steps=20)
    env = {**os.environ, "PYTHONPATH": REPO}
    whole = subprocess.run(_cli(config, "--output", str(tmp_path / "whole")), env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-3000:]

    killed = tmp_path / "killed"
    process = subprocess.Popen(_cli(config, "--output", str(killed)), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    # The run writes into .killed.run beside --output; killed appears only when the run is complete.
    checkpoint = tmp_path / ".killed.run" / "checkpoints" / "checkpoint-20"
    deadline = time.monotonic() + 300
    while not checkpoint.is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.is_dir() and not killed.exists()

    again = subprocess.run(_cli(config, "--output", str(killed)), env=env, capture_output=True, text=True)
    lines = again.stderr.strip().splitlines()
    assert again.returncode == 2 and len(lines) == 1 and "--resume to continue it" in lines[0], again.stderr[-2000:]
    resumed = subprocess.run(_cli(config, "--output", str(killed), "--resume"), env=env, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []  # no debris
    expected = json.loads((tmp_path / "whole" / "final_metrics.json").read_text())
    got = json.loads((killed / "final_metrics.json").read_text())
    for key in ("train_loss", "eval_loss", "eval_bits_per_byte"):
        assert abs(got[key] - expected[key]) <= 1e-6, (key, got[key], expected[key])
    assert got["steps"] == expected["steps"] == 40
    whole_weights, resumed_weights = _weights(tmp_path / "whole"), _weights(killed)
    for name, tensor in whole_weights.items():
        torch.testing.assert_close(resumed_weights[name], tensor, rtol=0, atol=1e-6)


def test_an_existing_output_is_kept_until_a_forced_run_completes(tmp_path, workspace):
    config = _write_config(tmp_path / "run.yaml", workspace, max_steps=40, save_steps=10, eval_steps=40)
    env = {**os.environ, "PYTHONPATH": REPO}
    out = tmp_path / "out"
    out.mkdir()
    (out / "marker").write_text("old")
    refused = subprocess.run(_cli(config, "--output", str(out)), env=env, capture_output=True, text=True)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1 and "--force" in lines[0] and refused.stdout == ""
    assert os.listdir(out) == ["marker"]

    # Ctrl-C after the first checkpoint of a --force run: the old folder is intact, the run kept for --resume.
    process = subprocess.Popen(_cli(config, "--output", str(out), "--force"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    checkpoint = tmp_path / ".out.run" / "checkpoints" / "checkpoint-10"
    deadline = time.monotonic() + 300
    while not checkpoint.is_dir() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    if process.returncode == 0:  # finished before the signal landed: then it is whole
        assert (out / "final_metrics.json").is_file()
        return
    # (tqdm's bar may be redrawn after it, from its own thread)
    assert process.returncode == 130 and "interrupted; the run so far is kept in" in err and "--resume" in err, err[-2000:]
    assert os.listdir(out) == ["marker"] and checkpoint.is_dir()
    forced = subprocess.run(_cli(config, "--output", str(out), "--force"), env=env, capture_output=True, text=True)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert (out / "final_metrics.json").is_file() and not (out / "marker").exists()
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_signal_before_the_first_checkpoint_leaves_the_old_output_and_no_debris(tmp_path, workspace, sig):
    config = _write_config(tmp_path / "run.yaml", workspace, max_steps=40, save_steps=20, eval_steps=40)
    env = {**os.environ, "PYTHONPATH": REPO}
    out = tmp_path / "out"
    out.mkdir()
    (out / "marker").write_text("old")
    process = subprocess.Popen(_cli(config, "--output", str(out), "--force"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    run_folder = tmp_path / ".out.run"
    deadline = time.monotonic() + 120
    while not run_folder.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(sig)
    _, err = process.communicate(timeout=300)
    if process.returncode == 0:  # finished before the signal landed: then it is whole
        assert (out / "final_metrics.json").is_file()
        return
    assert os.listdir(out) == ["marker"]
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "tinylm train: interrupted" in err and not run_folder.exists(), err[-2000:]
    refused = subprocess.run(_cli(config, "--output", str(out)), env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "--force" in refused.stderr and os.listdir(out) == ["marker"]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


def test_two_processes_match_one_at_the_same_global_batch(tmp_path, workspace):
    config = _write_config(tmp_path / "run.yaml", workspace, max_steps=8, save_steps=100, eval_steps=100)
    env = {**os.environ, "PYTHONPATH": REPO}
    one = subprocess.run(_cli(config, "--output", str(tmp_path / "one")), env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         "-m", "tinylm_cli", "train", config, "--output", str(tmp_path / "two"),
         "--set", "training.per_device_train_batch_size=2", "--set", "training.per_device_eval_batch_size=4"],
        env=env, capture_output=True, text=True,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    expected = json.loads((tmp_path / "one" / "final_metrics.json").read_text())
    got = json.loads((tmp_path / "two" / "final_metrics.json").read_text())
    assert (got["world_size"], got["global_batch_size"]) == (2, expected["global_batch_size"])
    # Same samples in every global batch; gradients averaged over two halves instead of one batch: rounding only.
    assert got["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-5)
    assert got["eval_loss"] == pytest.approx(expected["eval_loss"], rel=1e-5)
    one_weights, two_weights = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for name, tensor in one_weights.items():
        torch.testing.assert_close(two_weights[name], tensor, rtol=1e-4, atol=1e-5)


def test_a_failed_checkpoint_save_leaves_the_last_good_one_and_resume_skips_it(tmp_path, workspace, monkeypatch):
    import errno

    from hf_tinylm.training.trainer import TinyLMTrainer

    config = tiny_project_config(workspace, max_steps=20, save_steps=10, eval_steps=100)
    real_save = TinyLMTrainer._save_optimizer_and_scheduler

    def disk_full_at_step_20(self, output_dir):
        if self.state.global_step == 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, output_dir)

    monkeypatch.setattr(TinyLMTrainer, "_save_optimizer_and_scheduler", disk_full_at_step_20)
    with pytest.raises(OSError, match="No space left"):
        train(config, output_dir=tmp_path, report=lambda line: None)
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [".staging", "checkpoint-10"]  # debris, never picked
    assert not (tmp_path / "final_metrics.json").exists()

    monkeypatch.setattr(TinyLMTrainer, "_save_optimizer_and_scheduler", real_save)
    lines = []
    result = train(config, output_dir=tmp_path, resume=True, report=lines.append)
    assert any("checkpoint-10" in line for line in lines)
    assert result.metrics["steps"] == 20
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["checkpoint-10", "checkpoint-20"]


def test_a_bpe_tokenizer_is_trained_on_the_fly_or_read_from_its_folder(tmp_path, workspace):
    from hf_tinylm.training.trainer import build_model_and_tokenizer

    config = tiny_project_config(workspace)
    config["tokenizer"] = {"type": "bpe", "vocab_size": 300, "pre_split": "gpt2"}
    model, tokenizer = build_model_and_tokenizer(load_train_config(config), str(tmp_path))
    assert len(tokenizer) == 300 and model.config.vocab_size == 300
    assert (tmp_path / "tokenizer" / "tokenizer.json").is_file()
    text = "The house of Sherlock Holmes."
    config["tokenizer"] = {"type": "bpe", "path": str(tmp_path / "tokenizer")}
    _, again = build_model_and_tokenizer(load_train_config(config), str(tmp_path / "other"))
    assert again.encode(text, add_special_tokens=False) == tokenizer.encode(text, add_special_tokens=False)
    assert not (tmp_path / "other" / "tokenizer").exists()  # read, not trained again
