"""The `tinylm` command line: the main job and the subcommands wired in from the other packages."""

import os
import subprocess
import sys

import pytest
from transformers import AutoModelForCausalLM

from tinylm_cli.main import SUBCOMMANDS, build_parser, main, named_subcommand

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


# ---- start-up: a subcommand's module is imported only when it runs ---------------------------------------------
def test_help_and_argument_errors_import_neither_torch_nor_our_packages():
    env = {**os.environ, "PYTHONPATH": REPO}
    for argv, code in ((["--help"], 0), (["no-such-command"], 2), ([], 2)):
        run = subprocess.run([sys.executable, "-X", "importtime", "-m", "tinylm_cli", *argv], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == code, (argv, run.stderr[-2000:])
        imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in run.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "tinylm_cli" in imported and "argparse" in imported, argv  # the check sees what it should
        heavy = imported & {"torch", "transformers", "hf_tinylm", "tokenizers_ext", "conversion", "experimental"}
        assert heavy == set(), (argv, heavy)
        if argv == ["--help"]:
            assert all(name in run.stdout for name, _, _ in SUBCOMMANDS)


def test_the_placeholders_read_as_the_real_subcommands():
    lazy, full = build_parser(load=()).format_help(), build_parser().format_help()
    assert lazy == full


def test_the_named_subcommand_is_built_for_real(capsys):
    assert named_subcommand(["--help"]) == () and named_subcommand(["no-such-command", "generate"]) == ()
    assert named_subcommand(["-h", "generate", "--prompt", "x"]) == ("generate",)
    with pytest.raises(SystemExit) as exit:
        main(["generate", "--help"])
    assert exit.value.code == 0 and "--top-k" in capsys.readouterr().out
    assert callable(build_parser(load=("convert",)).parse_args(["convert", "to-llama", "SRC", "OUT"]).handler)


def test_the_console_script_is_main():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as file:
        assert tomllib.load(file)["project"]["scripts"]["tinylm"] == "tinylm_cli.main:main"


def test_failures_are_one_line_with_documented_exit_codes(capsys, monkeypatch, tmp_path):
    import hf_tinylm.generation.cli as generate_cli

    def raising(error):
        def handler(args):
            raise error
        return handler

    cases = [
        (ValueError("vocab_size=0 is invalid;\n allowed: a positive integer"), 2,
         "tinylm generate: error: vocab_size=0 is invalid; allowed: a positive integer"),
        (RuntimeError("boom"), 1, "tinylm generate: unexpected RuntimeError: boom (run with --debug for the traceback)"),
        (KeyboardInterrupt(), 130, "tinylm generate: interrupted"),
    ]
    for error, code, line in cases:
        monkeypatch.setattr(generate_cli, "run_generate", raising(error))
        assert main(["generate", str(tmp_path), "--prompt", "x"]) == code
        err = capsys.readouterr().err
        assert err.strip() == line and "Traceback" not in err
    monkeypatch.setattr(generate_cli, "run_generate", raising(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "generate", str(tmp_path), "--prompt", "x"])
