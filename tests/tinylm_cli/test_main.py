"""The `tinylm` command line: the main job and the subcommands wired in from the other packages."""

import os
import subprocess
import sys

import pytest
from transformers import AutoModelForCausalLM

from tinylm_cli.main import build_parser, main

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


# ---- start-up: parsing imports nothing heavy; a subcommand's package is imported only when it runs ----------------
HEAVY = {"torch", "transformers", "hf_tinylm", "experimental", "tokenizers_ext.bpe", "tokenizers_ext.gpt2",
         "conversion.llama", "conversion.gpt2", "conversion.stlm"}


@pytest.mark.parametrize("argv, code, says", [
    (["--help"], 0, "generate"),
    (["no-such-command"], 2, "invalid choice"),
    ([], 2, "required"),
    (["generate", "--help"], 0, "--top-k"),
    (["generate"], 2, "required: DIR, --prompt"),
    (["generate", "DIR", "--prompt", "x", "--top-p", "1.5"], 2, "--top-p: 1.5 is invalid; allowed: a number in (0, 1]"),
    (["generate", "DIR", "--prompt", "x", "--max-new-tokens", "many"], 2, "'many' is not an integer"),
    (["generate", "DIR", "--prompt", "x", "--temperature", "nan"], 2, "a finite number"),
    (["generate", "DIR", "--prompt", b"caf\xe9".decode("utf-8", "surrogateescape")], 2, "not UTF-8 at byte 3"),
    (["demo", "--max-new-tokens", "-1"], 2, "an integer >= 0"),
    (["train"], 2, "required: config"),
    (["train", "c.yaml", "--max-steps", "0"], 2, "--max-steps: 0 is invalid"),
    (["compare", "--models", "nope"], 2, "invalid choice: 'nope'"),
    (["compare", "--seeds", "0"], 2, "--seeds: 0 is invalid"),
    (["tokenizer", "train"], 2, "required: --files"),
    (["tokenizer", "train", "--files", "f", "--out", "o", "--vocab-size", "100"], 2, "an integer >= 258"),
    (["convert"], 2, "say what to convert"),
    (["convert", "to-llama", "SRC"], 2, "required: OUT"),
])
def test_help_and_argument_errors_are_one_line_and_import_no_torch(argv, code, says):
    env = {**os.environ, "PYTHONPATH": REPO}
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "tinylm_cli", *argv], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=120, errors="surrogateescape")
    assert run.returncode == code, (argv, run.stderr[-2000:])
    timing = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip() for line in timing}
    assert "tinylm_cli" in imported and "argparse" in imported, argv  # the check sees what it should
    heavy = {name for name in imported if name in HEAVY or name.split(".")[0] in HEAVY}
    assert heavy == set(), (argv, heavy)
    if code == 0:
        assert says in run.stdout
    else:
        message = [line for line in run.stderr.splitlines() if not line.startswith("import time:")]
        assert len(message) == 1 and says in message[0] and "Traceback" not in run.stderr, (argv, message)
        assert message[0].startswith("tinylm"), message


def test_the_parsers_choices_are_the_librarys():
    # Spelled out in tinylm_cli so that parsing imports no torch; the library's own lists are the truth.
    from hf_tinylm.compare.roster import DEFAULT_MODELS, roster
    from hf_tinylm.generation.decoding import COMPILE_MODES
    from tinylm_cli import compare, generate

    assert generate.COMPILE_MODES == COMPILE_MODES
    assert compare.DEFAULT_MODELS == DEFAULT_MODELS and set(roster(4096, 128)) == set(DEFAULT_MODELS)


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


def test_a_ctrl_c_that_a_library_wraps_in_its_own_error_is_still_an_interruption(capsys, monkeypatch, tmp_path):
    import signal
    import time

    import hf_tinylm.generation.cli as generate_cli

    def wrapping_library(args):  # what an extension's init or a worker pool may do with the KeyboardInterrupt
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler runs at once; sleep is where it would run at the latest
        except KeyboardInterrupt as interrupt:
            raise RuntimeError("worker failed") from interrupt
        raise AssertionError("SIGINT did not raise KeyboardInterrupt")

    monkeypatch.setattr(generate_cli, "run_generate", wrapping_library)
    assert main(["generate", str(tmp_path), "--prompt", "x"]) == 130
    assert capsys.readouterr().err.strip() == "tinylm generate: interrupted (RuntimeError: worker failed)"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after the command
    # The same error without a SIGINT is a failure, and a SIGINT the caller ignores stays ignored.
    monkeypatch.setattr(generate_cli, "run_generate", lambda args: (_ for _ in ()).throw(RuntimeError("worker failed")))
    assert main(["generate", str(tmp_path), "--prompt", "x"]) == 1
    capsys.readouterr()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert main(["generate", str(tmp_path), "--prompt", "x"]) == 1
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
