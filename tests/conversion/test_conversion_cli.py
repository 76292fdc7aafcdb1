"""``tinylm convert …``: exit codes, one-line errors, atomic output folders and --force."""

import argparse
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoTokenizer, GPT2LMHeadModel, LlamaForCausalLM

from conversion.cli import add_convert_subparser, main
from hf_tinylm import TinyLMForCausalLM
from model_factory import tiny_model
from test_conversion_gpt2 import gpt2_like_tinylm
from test_conversion_llama import TOLERANCE, logit_diff, randomized
from test_conversion_stlm import (
    _RunsCode,
    llama_original_config,
    llama_original_state_dict,
    random_llama,
    write_checkpoint,
    write_merges,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``tinylm convert …`` run through the module's own parser."""
    code = main(["convert", *map(os.fspath, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tinylm convert") and "error:" in lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def leftovers(folder) -> list:
    """Staging or set-aside folders a conversion left behind."""
    return [name for name in os.listdir(folder) if ".partial-" in name or ".replaced-" in name]


@pytest.fixture
def stlm_checkpoint(tmp_path):
    llama = random_llama(tied=True)
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", llama_original_config(llama), llama_original_state_dict(llama))
    return ckpt, write_merges(tmp_path / "tokenizer.model")


@pytest.fixture
def tinylm_folder(tmp_path):
    """A saved Llama-shaped TinyLM with a tokenizer."""
    from tokenizers_ext import BPETokenizer

    folder = tmp_path / "tiny"
    model = randomized(tiny_model(vocab_size=256 + 12 + 2))
    model.save_pretrained(folder)
    BPETokenizer.from_stlm_merges(write_merges(tmp_path / "t.model")).save_pretrained(folder)
    return folder, model


def test_the_convert_command_plugs_into_a_host_parser():
    parser = argparse.ArgumentParser(prog="tinylm")
    add_convert_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["convert", "stlm", "ckpt.pt", "out", "--tokenizer-merges", "t.model", "--force"])
    assert (args.checkpoint, args.out, args.tokenizer_merges, args.force) == ("ckpt.pt", "out", "t.model", True)
    args = parser.parse_args(["convert", "from-gpt2", "src", "out"])
    assert (args.convert_kind, args.src, args.out, args.force) == ("from-gpt2", "src", "out", False)
    assert callable(args.handler)


def test_stlm_conversion_and_force(tmp_path, capsys, stlm_checkpoint):
    ckpt, merges = stlm_checkpoint
    out = tmp_path / "out"
    code, stdout, _ = run_cli(capsys, "stlm", ckpt, out, "--tokenizer-merges", merges)
    assert code == 0 and "reloaded logits match" in stdout
    assert isinstance(TinyLMForCausalLM.from_pretrained(out), TinyLMForCausalLM)

    (out / "marker").write_text("from the first run")
    code, _, err = run_cli(capsys, "stlm", ckpt, out, "--tokenizer-merges", merges)
    assert_one_line_error(code, err, "already exists", "--force")
    assert (out / "marker").exists()  # untouched

    code, _, _ = run_cli(capsys, "stlm", ckpt, out, "--tokenizer-merges", merges, "--force")
    assert code == 0 and not (out / "marker").exists()
    assert leftovers(tmp_path) == []


def test_a_failure_mid_write_leaves_no_output(tmp_path, capsys, monkeypatch, stlm_checkpoint):
    ckpt, merges = stlm_checkpoint
    from tokenizers_ext import BPETokenizer

    def disk_full(self, *args, **kwargs):  # the model files are written by now; the tokenizer never is
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BPETokenizer, "save_pretrained", disk_full)
    code, _, err = run_cli(capsys, "stlm", ckpt, tmp_path / "out", "--tokenizer-merges", merges)
    assert_one_line_error(code, err, "No space left on device")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []

    # With --force, a failed conversion keeps the folder it was meant to replace.
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "previous").write_text("still here")
    code, _, err = run_cli(capsys, "stlm", ckpt, tmp_path / "out", "--tokenizer-merges", merges, "--force")
    assert code != 0 and (tmp_path / "out" / "previous").read_text() == "still here"


def test_an_interrupted_conversion_leaves_no_output(tmp_path, capsys, monkeypatch, stlm_checkpoint):
    ckpt, merges = stlm_checkpoint
    from tokenizers_ext import BPETokenizer

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(BPETokenizer, "save_pretrained", interrupted)
    code, _, err = run_cli(capsys, "stlm", ckpt, tmp_path / "out", "--tokenizer-merges", merges)
    assert code == 130 and "was not written" in err
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_code_carrying_checkpoint_fails_cleanly(tmp_path, capsys):
    sentinel = tmp_path / "pwned"
    torch.save({"model": {}, "config": {}, "optimizer": _RunsCode(sentinel)}, tmp_path / "evil.pt")
    code, _, err = run_cli(capsys, "stlm", tmp_path / "evil.pt", tmp_path / "out")
    assert_one_line_error(code, err, "refused to load", "posix.system")
    assert not sentinel.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("there", "back", "reference_class"),
                         [("to-llama", "from-llama", LlamaForCausalLM), ("to-gpt2", "from-gpt2", GPT2LMHeadModel)])
def test_model_conversions_round_trip_through_folders(tmp_path, capsys, tinylm_folder, there, back, reference_class):
    src, model = tinylm_folder
    if reference_class is GPT2LMHeadModel:
        model = gpt2_like_tinylm(vocab_size=270)
        model.save_pretrained(src)  # same folder, tokenizer kept
    code, stdout, _ = run_cli(capsys, there, src, tmp_path / "ref")
    assert code == 0 and "logits match the source" in stdout
    reference = reference_class.from_pretrained(tmp_path / "ref").eval()
    assert logit_diff(model, reference) <= TOLERANCE
    copied, original = AutoTokenizer.from_pretrained(tmp_path / "ref"), AutoTokenizer.from_pretrained(src)
    assert copied.encode("hello") == original.encode("hello")

    code, _, _ = run_cli(capsys, back, tmp_path / "ref", tmp_path / "back")
    assert code == 0
    returned = TinyLMForCausalLM.from_pretrained(tmp_path / "back").eval()
    assert logit_diff(model, returned) <= TOLERANCE


def test_model_conversion_failures_are_one_line(tmp_path, capsys, tinylm_folder):
    src, _ = tinylm_folder
    code, _, err = run_cli(capsys, "from-llama", src, tmp_path / "out")
    assert_one_line_error(code, err, "holds a TinyLM model, not a Llama one", "tinylm convert to-llama or to-gpt2")

    code, _, err = run_cli(capsys, "to-llama", tmp_path / "missing", tmp_path / "out")
    assert_one_line_error(code, err, "does not exist")

    code, _, err = run_cli(capsys, "to-llama", src, src, "--force")
    assert_one_line_error(code, err, "is (or contains) the source")

    shaw = tmp_path / "shaw"
    tiny_model(positional_encoding_type="shaw_relative").save_pretrained(shaw)
    code, _, err = run_cli(capsys, "to-llama", shaw, tmp_path / "out")
    assert_one_line_error(code, err, "shaw_relative positions have no Llama equivalent")
    assert not (tmp_path / "out").exists()

    code, _, err = run_cli(capsys)
    assert_one_line_error(code, err.splitlines()[-1], "say what to convert")


def test_a_wrong_mapping_is_caught_before_anything_is_written(tmp_path, capsys, monkeypatch, tinylm_folder):
    import conversion.llama

    correct = conversion.llama.tinylm_to_llama_state_dict

    def off_by_a_little(model):
        state = correct(model)
        state["model.norm.weight"] = state["model.norm.weight"] * 1.01
        return state

    monkeypatch.setattr(conversion.llama, "tinylm_to_llama_state_dict", off_by_a_little)
    src, _ = tinylm_folder
    code, _, err = run_cli(capsys, "to-llama", src, tmp_path / "out")
    assert_one_line_error(code, err, "TinyLM → Llama: logits differ from the source", "nothing was written")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_a_fresh_process_prints_one_line_and_no_traceback(tmp_path):
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    program = "import sys; from conversion.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", program, "convert", "stlm", str(tmp_path / "broken.pt"), str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": REPO_ROOT}, timeout=120,
    )
    assert result.returncode == 2  # a bad input file
    assert_one_line_error(result.returncode, result.stderr, "could not read", "torch.save")
