"""`tinylm demo --out DIR` writes DIR atomically (tokenizers_ext.atomic_files): an existing DIR (or a file) is refused
before any work, --force keeps the old DIR until the new one is complete, and Ctrl-C or SIGKILL while it writes
leaves the old DIR or none, with no staging debris after the next run. The demo takes ~12 s, so two signal cases."""

import os
import signal

import pytest

from atomic_helpers import is_old, leftovers, old_folder, run_tinylm, start_tinylm, stop_at


def is_complete_model(path) -> bool:
    from transformers import AutoModelForCausalLM

    names = set(os.listdir(path))
    if not {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names:
        return False
    AutoModelForCausalLM.from_pretrained(path)  # raises if the folder is not a whole model
    return True


def test_an_existing_folder_or_file_is_refused_before_any_work(tmp_path):
    out = old_folder(tmp_path / "model")
    result = run_tinylm("demo", "--out", out)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and str(out) in lines[0] and "--force" in lines[0]
    assert result.stdout == "" and is_old(out) and leftovers(out) == []
    (tmp_path / "afile").write_text("keep")
    result = run_tinylm("demo", "--out", tmp_path / "afile")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "not a plain folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and (tmp_path / "afile").read_text() == "keep"


def test_the_help_documents_force():
    result = run_tinylm("demo", "--help")
    assert result.returncode == 0 and "--force" in result.stdout and "must not exist" in result.stdout


@pytest.mark.parametrize("sig, with_old", [(signal.SIGINT, False), (signal.SIGKILL, True)], ids=["SIGINT", "SIGKILL"])
def test_a_signal_while_writing_leaves_the_old_folder_or_none(tmp_path, sig, with_old):
    out = tmp_path / "model"
    if with_old:
        old_folder(out)
    process = start_tinylm("demo", "--out", out, "--max-new-tokens", "1", *(["--force"] if with_old else []))
    code = stop_at(process, out, "writing", sig)
    if code == 0:  # finished before the signal landed: then it must be whole
        assert is_complete_model(out)
    elif with_old:
        assert is_old(out) or is_complete_model(out)
    else:
        assert not out.exists() or is_complete_model(out)
        assert leftovers(out) == []  # Ctrl-C: the command removed its own staging folder
    if with_old:  # the next run (refused: DIR exists) first tidies what the killed one left
        result = run_tinylm("demo", "--out", out)
        assert result.returncode == 2 and leftovers(out) == []
        assert is_old(out) or is_complete_model(out)
