"""The `tinylm` command line: the main job and the subcommands wired in from the other packages."""

import pytest
from transformers import AutoModelForCausalLM

from hf_tinylm.cli import build_parser, main


def test_demo_builds_saves_reloads_and_generates(tmp_path, capsys):
    out = tmp_path / "baseline"
    assert main(["demo", "--out", str(out), "--max-new-tokens", "3"]) == 0
    printed = capsys.readouterr().out
    assert "47.2M parameters" in printed and "logits identical: True" in printed and "generated 3 tokens" in printed
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.to_stlm()["hidden_dim"] == 512 and model.tokenizer.decode([15496, 995]) == "Hello world"


def test_every_subcommand_is_registered():
    parser = build_parser()
    for argv in (["demo"], ["generate", "DIR", "--prompt", "x"], ["tokenizer", "train", "--files", "f",
                 "--vocab-size", "300", "--out", "o"], ["convert", "to-llama", "SRC", "OUT"]):
        assert callable(parser.parse_args(argv).handler), argv


def test_failures_exit_non_zero_with_one_line(tmp_path, capsys):
    code = main(["convert", "to-llama", str(tmp_path / "missing"), str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["no-such-command"])
