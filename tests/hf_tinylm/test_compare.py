"""``tinylm compare``: bad input before any work, matched baselines, a small real run, its report, reuse."""

import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from hf_tinylm.compare import CompareError, CompareOptions, compare, parse_budget
from hf_tinylm.compare import runner
from hf_tinylm.compare.roster import DEFAULT_MODELS, roster
from hf_tinylm.evaluation.harness import TaskFormatError, parameter_counts
from hf_tinylm.training.trainer import build_model_and_tokenizer
from hf_tinylm.training.config import load_train_config

SMALL = {"vocab": 512, "cloze_items": 20, "validation_chars": 6000, "generate_tokens": 8}
REPORT_MODEL_KEYS = {"name", "path", "family", "params", "non_embedding_params", "val_loss", "perplexity",
                     "bits_per_byte", "mcq_accuracy", "train_tokens_per_s", "generate_tokens_per_s",
                     "peak_memory_mb"}
REPORT_KEYS = {"models", "budget", "data", "validation_bytes", "hardware", "versions", "command", "seeds"}


def test_budgets_are_tokens_or_time():
    assert parse_budget("400000") == ("tokens", 400000)
    assert parse_budget("400k") == ("tokens", 400000) and parse_budget("1.5M") == ("tokens", 1500000)
    assert parse_budget("5min") == ("seconds", 300) and parse_budget("2m") == ("seconds", 120)
    assert parse_budget("90s") == ("seconds", 90)
    with pytest.raises(CompareError, match="--budget='lots' is invalid"):
        parse_budget("lots")


@pytest.fixture()
def bigbench_task(tmp_path):
    task = {"name": "tiny_choice", "examples": [
        {"input": "The cat sat on the", "target_scores": {" mat": 1, " moon": 0}},
        {"input": "One, two,", "target_scores": {" three": 1, " seven": 0}},
    ]}
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    return str(path)


def test_bad_arguments_fail_before_any_work(tmp_path, bigbench_task):
    out = tmp_path / "out"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"examples": [{"input": "x"}]}))
    cases = [
        (dict(models=("stlm-baseline", "gpt3")), CompareError, "'gpt3' is not a known model"),
        (dict(pretrained=(str(tmp_path / "nowhere"),)), CompareError, "nowhere: not a model folder"),
        (dict(bigbench_tasks=(str(broken),)), TaskFormatError, "broken.json"),
        (dict(budget="10k"), CompareError, "too small to train"),
        (dict(budget="5s"), CompareError, "too small to train"),
        (dict(seeds=0), CompareError, "--seeds=0 is invalid"),
        (dict(models=()), CompareError, "nothing to compare"),
    ]
    for change, error, words in cases:
        with pytest.raises(error, match=words):
            compare(CompareOptions(out=str(out), **change))
    assert not out.exists()


def test_transformers_baselines_match_the_baseline_non_embedding_parameters(tmp_path):
    from model_factory import char_tokenizer

    tokenizer_dir = tmp_path / "tok"
    char_tokenizer().save_pretrained(tokenizer_dir)
    counts = {}
    for name, candidate in roster(4096, 128).items():
        config = load_train_config({"model": candidate.model,
                                    "tokenizer": {"type": "pretrained", "path": str(tokenizer_dir)}})
        model, _ = build_model_and_tokenizer(config, str(tmp_path))
        counts[name] = parameter_counts(model)
    baseline = counts["stlm-baseline"]["non_embedding_params"]
    for name in ("gpt2", "llama"):
        assert abs(counts[name]["non_embedding_params"] - baseline) <= 0.1 * baseline, (name, counts[name])
    assert counts["stlm-ffn-sharing"]["non_embedding_params"] < baseline  # one FFN for all layers


@pytest.fixture(scope="module")
def small_pretrained(tmp_path_factory):
    """A tiny random Llama with GPT-2's tokenizer, as a local pretrained folder."""
    from tokenizers_ext import GPT2Tokenizer

    folder = tmp_path_factory.mktemp("pretrained") / "tiny-llama"
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=50257, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                                 bos_token_id=50256, eos_token_id=50256)).save_pretrained(folder)
    GPT2Tokenizer().save_pretrained(folder)
    return str(folder)


def test_a_small_compare_trains_evaluates_reports_and_resumes(tmp_path, bigbench_task, small_pretrained, monkeypatch):
    out = tmp_path / "out"
    options = CompareOptions(out=str(out), budget="20k", models=("stlm-baseline", "gpt2"), quick=True,
                             pretrained=(small_pretrained,), bigbench_tasks=(bigbench_task,),
                             mode_overrides=SMALL, command="tinylm compare --quick (test)", report=lambda line: None)
    # Interrupted after the first model: a partial report says what is missing.
    real = runner._train_and_evaluate
    calls = []

    def interrupted(candidate, *args, **kwargs):
        calls.append(candidate.name)
        if candidate.name == "gpt2":
            raise KeyboardInterrupt
        return real(candidate, *args, **kwargs)

    monkeypatch.setattr(runner, "_train_and_evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compare(options)
    partial = json.loads((out / "report.json").read_text())
    assert [row["name"] for row in partial["models"]] == ["stlm-baseline"]
    assert partial["missing"] == ["gpt2 (seed 0)"]
    assert "Partial report" in (out / "report.md").read_text()
    first_eval = out / "models" / "stlm-baseline" / "eval.json"
    stamp = first_eval.stat().st_mtime_ns

    monkeypatch.setattr(runner, "_train_and_evaluate", real)
    report = compare(options)
    assert first_eval.stat().st_mtime_ns == stamp  # reused, not retrained
    assert REPORT_KEYS <= set(report) and report["missing"] == []
    names = [row["name"] for row in report["models"]]
    assert names == ["stlm-baseline", "gpt2", "tiny-llama"]
    for row in report["models"]:
        assert REPORT_MODEL_KEYS <= set(row), row["name"]
        assert set(row["mcq_accuracy"]) == {"cloze", "tiny_choice"}
        assert row["bits_per_byte"] > 0 and row["generate_tokens_per_s"] > 0
    trained = {row["name"]: row for row in report["models"] if row["family"] != "pretrained"}
    assert 0 < report["unigram_entropy"]["nats_per_token"] < math.log(SMALL["vocab"])
    for row in trained.values():
        assert row["train_tokens_per_s"] > 0 and row["peak_memory_mb"] > 0
        assert row["val_loss"] < math.log(SMALL["vocab"]) - 0.5  # learned: well below a uniform guess
    assert json.loads((out / "report.json").read_text()) == report
    text = (out / "report.md").read_text()
    for name in ("stlm-baseline", "gpt2", "tiny-llama", "loss_vs_tokens.png", "quality_vs_params.png", "speed.png"):
        assert name in text
    for plot in ("loss_vs_tokens.png", "quality_vs_params.png", "speed.png"):
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"
    assert (out / "validation.txt").read_text(encoding="utf-8")
    # The transformers baseline is a plain transformers folder: no custom code needed to load it.
    config = json.loads((out / "models" / "gpt2" / "config.json").read_text())
    assert "auto_map" not in config and config["model_type"] == "gpt2"
    reloaded = AutoModelForCausalLM.from_pretrained(out / "models" / "gpt2")
    assert type(reloaded).__name__ == "GPT2LMHeadModel"


def test_the_defaults_name_every_model():
    assert set(DEFAULT_MODELS) <= set(roster(4096, 128))


def test_several_seeds_give_mean_and_standard_deviation():
    records = [
        {"name": "m", "path": "p", "family": "tinylm", "description": "d", "params": 10, "non_embedding_params": 4,
         "seed": seed, "val_loss": loss, "perplexity": math.exp(loss), "bits_per_byte": loss / 2,
         "train_tokens_per_s": 100.0, "generate_tokens_per_s": 10.0, "peak_memory_mb": 5.0, "tokens_seen": 64,
         "mcq_accuracy": {"cloze": accuracy}, "eval_curve": [(64, loss)]}
        for seed, loss, accuracy in ((0, 2.0, 0.5), (1, 4.0, 0.7))
    ]
    row = runner._aggregate(records)
    assert row["seeds"] == [0, 1] and row["val_loss"] == 3.0 and row["mcq_accuracy"]["cloze"] == pytest.approx(0.6)
    assert row["std"]["val_loss"] == pytest.approx(math.sqrt(2)) and "train_tokens_per_s" in row["std"]
    assert row["std"]["mcq_accuracy.cloze"] == pytest.approx(math.sqrt(0.02))
    from hf_tinylm.compare.report import markdown_table

    table = markdown_table({"models": [row]})
    assert "3.000 ± 1.414" in table and "60.0% ± 14.1" in table
