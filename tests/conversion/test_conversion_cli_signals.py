"""`tinylm convert` as a real process: an existing OUT is refused with exit 2 (like the other commands' refusals),
and Ctrl-C or SIGKILL at a few moments leaves OUT absent/old or complete, with no staging debris after the next
run (tokenizers_ext.atomic_files)."""

import os
import signal

import pytest

from conversion.cli import main
from atomic_helpers import is_old, leftovers, old_folder, run_tinylm, start_tinylm, stop_at
from model_factory import tiny_model
from test_conversion_llama import randomized
from test_conversion_stlm import write_merges


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A saved Llama-shaped TinyLM with a tokenizer."""
    from tokenizers_ext import BPETokenizer

    root = tmp_path_factory.mktemp("source")
    folder = root / "tiny"
    randomized(tiny_model(vocab_size=256 + 12 + 2)).save_pretrained(folder)
    BPETokenizer.from_stlm_merges(write_merges(root / "t.model")).save_pretrained(folder)
    return folder


def is_complete_llama(path) -> bool:
    from transformers import LlamaForCausalLM

    if not {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(path)):
        return False
    LlamaForCausalLM.from_pretrained(path)  # raises if the folder is not a whole model
    return True


def test_an_existing_folder_or_file_is_refused_with_exit_2(tmp_path, source, capsys):
    out = old_folder(tmp_path / "out")
    assert main(["convert", "to-llama", str(source), str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and "already exists" in lines[0] and "--force" in lines[0]
    assert is_old(out) and leftovers(out) == []
    (tmp_path / "afile").write_text("keep")
    assert main(["convert", "to-llama", str(source), str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "not a plain folder" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "afile").read_text() == "keep"


@pytest.mark.parametrize("sig, moment, with_old", [
    (signal.SIGINT, "writing", False),
    (signal.SIGKILL, "start", True),
    (signal.SIGKILL, "writing", True),
], ids=["SIGINT-writing", "SIGKILL-start-old", "SIGKILL-writing-old"])
def test_a_signal_at_any_moment_leaves_the_old_or_the_complete_new_folder(tmp_path, source, sig, moment, with_old):
    out = tmp_path / "out"
    if with_old:
        old_folder(out)
    code = stop_at(start_tinylm("convert", "to-llama", source, out, *(["--force"] if with_old else [])), out,
                   moment, sig)
    if code == 0:
        assert is_complete_llama(out)
    elif with_old:
        assert is_old(out) or is_complete_llama(out)
    else:
        assert not out.exists() or is_complete_llama(out)
    if sig == signal.SIGINT:
        assert leftovers(out) == []
    result = run_tinylm("convert", "to-llama", source, out)  # the next run tidies what a killed one left
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr
    assert leftovers(out) == [] and (is_old(out) or is_complete_llama(out))
