"""`tinylm tokenizer train` writes its folder atomically (tokenizers_ext.atomic_files): an existing folder is refused
unless --force, --force keeps the old one until the new one is complete, and a Ctrl-C or SIGKILL at any moment
leaves the old folder or the complete new one, with no staging debris after the next run."""

import os
import random
import subprocess
import sys

import pytest

from atomic_helpers import SIGNALS, leftovers, run_tinylm, start_tinylm, stop_at
from tokenizers_ext import BPETokenizer
from tokenizers_ext import atomic_files
from tokenizers_ext.cli import STLM_MERGES_FILE, train_command


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Enough text for training to take about a second, so a signal can land mid-way."""
    rng = random.Random(0)
    words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "home", "blue", "red", "quick", "fox"]
    lines = [" ".join(rng.choice(words) + rng.choice(["", "s", "ed", "ing"]) for _ in range(12)) for _ in range(3000)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def old_folder(path):
    path.mkdir()
    (path / "marker").write_text("old")
    return path


def is_old(path) -> bool:
    return (path / "marker").is_file() and (path / "marker").read_text() == "old"


def is_complete_tokenizer(path) -> bool:
    names = sorted(p.name for p in path.iterdir())
    if names != [STLM_MERGES_FILE, "tokenizer.json", "tokenizer_config.json"]:
        return False
    return BPETokenizer.from_pretrained(path).vocab_size == 400


def test_an_existing_folder_is_refused_and_untouched(tmp_path, corpus, capsys):
    out = old_folder(tmp_path / "tok")
    assert train_command([str(corpus)], 300, str(out), show_progress=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--force" in err[0]
    assert is_old(out) and sorted(os.listdir(out)) == ["marker"] and leftovers(out) == []


def test_an_existing_file_is_refused_plainly(tmp_path, corpus):
    (tmp_path / "afile").write_text("keep")
    result = run_tinylm("tokenizer", "train", "--files", corpus, "--vocab-size", "300", "--out", tmp_path / "afile")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "not a plain folder" in result.stderr
    assert (tmp_path / "afile").read_text() == "keep"


def test_force_replaces_only_once_the_new_folder_is_complete(tmp_path, corpus, monkeypatch):
    out = old_folder(tmp_path / "tok")
    seen = []

    def failing_merges(self, path):  # the second file of the save: the old folder must still be whole here
        seen.append(is_old(out))
        raise OSError("disk full")

    monkeypatch.setattr(BPETokenizer, "save_stlm_merges", failing_merges)
    assert train_command([str(corpus)], 400, str(out), show_progress=False, force=True) == 2
    assert seen == [True] and is_old(out) and leftovers(out) == []
    monkeypatch.undo()
    assert train_command([str(corpus)], 400, str(out), show_progress=False, force=True) == 0
    assert is_complete_tokenizer(out) and leftovers(out) == []


def test_the_help_documents_force():
    result = run_tinylm("tokenizer", "train", "--help")
    assert "--force" in result.stdout and "must not exist" in result.stdout


@pytest.mark.parametrize("signal_name, moment, with_old", [
    ("SIGINT", "start", False),
    ("SIGINT", "writing", True),
    ("SIGKILL", "writing", False),
    ("SIGKILL", "writing", True),
    ("SIGKILL", "3.5", True),
])
def test_a_signal_at_any_moment_leaves_the_old_or_the_complete_new_folder(tmp_path, corpus, signal_name, moment,
                                                                           with_old):
    out = tmp_path / "tok"
    if with_old:
        old_folder(out)
    argv = ["tokenizer", "train", "--files", corpus, "--vocab-size", "400", "--out", out, "--quiet"]
    code = stop_at(start_tinylm(*argv, *(["--force"] if with_old else [])), out, moment, SIGNALS[signal_name])
    if code == 0:
        assert is_complete_tokenizer(out)
    elif with_old:
        assert is_old(out) or is_complete_tokenizer(out)
    else:
        assert not out.exists() or is_complete_tokenizer(out)
    if signal_name == "SIGINT":  # Python's own handler ran: it removes its staging folder itself
        assert leftovers(out) == []
    # The next run tidies whatever a killed one left (here: refused, since OUT exists, or written afresh).
    result = run_tinylm(*argv)
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr
    assert leftovers(out) == []
    assert is_old(out) or is_complete_tokenizer(out)


def _dead_pid() -> int:
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(process.stdout)


def test_a_run_killed_between_the_two_renames_gets_its_old_folder_back(tmp_path):
    """With --force the old folder is renamed aside before the new one is renamed in: killed in between, OUT is
    missing; the next write puts the old folder back (and drops the dead run's staging folder)."""
    pid = _dead_pid()
    aside = old_folder(tmp_path / f".tok.replaced-{pid}-abc123")
    (tmp_path / f".tok.partial-{pid}-def456").mkdir()
    (tmp_path / f".other.partial-{pid}-xyz").mkdir()  # another target's: not ours to touch
    (tmp_path / f".tok.partial-{os.getpid()}-live").mkdir()  # a live process's: still being written
    with pytest.raises(FileExistsError, match="pass --force"):
        atomic_files.check_output_dir(tmp_path / "tok")
    assert is_old(tmp_path / "tok") and not aside.exists()
    assert sorted(os.listdir(tmp_path)) == [f".other.partial-{pid}-xyz", f".tok.partial-{os.getpid()}-live", "tok"]
