"""`resumable_output_dir`: a long job's output appears only when complete, an existing one is replaced only with
force/resume (and only once the new one is complete), and an interrupted job keeps what can be continued."""

import os

import pytest

from tokenizers_ext.atomic_files import resumable_output_dir, run_folder_of


def has_checkpoint(folder) -> bool:
    return os.path.isfile(os.path.join(folder, "checkpoint"))


def finished(path, text):
    path.mkdir()
    (path / "result").write_text(text)
    return path


def test_a_fresh_job_appears_only_when_complete(tmp_path):
    out = tmp_path / "out"
    with resumable_output_dir(out, resumable=has_checkpoint) as run:
        assert run == run_folder_of(out) == str(tmp_path / ".out.run")
        (tmp_path / ".out.run" / "result").write_text("new")
        assert not out.exists()
    assert (out / "result").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["out"]


def test_an_existing_output_is_refused_then_replaced_with_force_only_once_complete(tmp_path):
    out = finished(tmp_path / "out", "old")
    with pytest.raises(FileExistsError, match="already exists; pass --force to replace it or --resume"):
        with resumable_output_dir(out, resumable=has_checkpoint):
            pass
    assert (out / "result").read_text() == "old" and sorted(os.listdir(tmp_path)) == ["out"]
    with resumable_output_dir(out, force=True, resumable=has_checkpoint) as run:
        assert os.listdir(run) == [] and (out / "result").read_text() == "old"
        (tmp_path / ".out.run" / "result").write_text("new")
    assert (out / "result").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["out"]


def test_a_failure_before_anything_worth_keeping_leaves_no_debris(tmp_path):
    out = finished(tmp_path / "out", "old")
    with pytest.raises(KeyboardInterrupt):
        with resumable_output_dir(out, force=True, resumable=has_checkpoint) as run:
            open(os.path.join(run, "half"), "w").close()
            raise KeyboardInterrupt
    assert (out / "result").read_text() == "old" and sorted(os.listdir(tmp_path)) == ["out"]
    # A killed job cannot clean up: its run folder, with nothing to continue, goes on the next run.
    os.makedirs(run_folder_of(out))
    with resumable_output_dir(out, force=True, resumable=has_checkpoint) as run:
        assert os.listdir(run) == []
        open(os.path.join(run, "result"), "w").close()
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_an_interrupted_job_keeps_its_work_for_resume(tmp_path):
    out = finished(tmp_path / "out", "old")
    with pytest.raises(KeyboardInterrupt):
        with resumable_output_dir(out, force=True, resumable=has_checkpoint) as run:
            open(os.path.join(run, "checkpoint"), "w").close()
            raise KeyboardInterrupt
    assert (out / "result").read_text() == "old" and has_checkpoint(run_folder_of(out))
    with pytest.raises(FileExistsError, match="unfinished run of .* pass --resume to continue it or --force"):
        with resumable_output_dir(out, resumable=has_checkpoint):
            pass
    with resumable_output_dir(out, resume=True, resumable=has_checkpoint) as run:
        assert has_checkpoint(run)  # the interrupted work, not a copy of the old result
        (tmp_path / ".out.run" / "result").write_text("new")
    assert (out / "result").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["out"]


def test_force_starts_over_instead_of_resuming(tmp_path):
    out = tmp_path / "out"
    os.makedirs(run_folder_of(out))
    open(os.path.join(run_folder_of(out), "checkpoint"), "w").close()
    with resumable_output_dir(out, force=True, resumable=has_checkpoint) as run:
        assert os.listdir(run) == []


def test_resume_of_a_finished_output_works_on_a_copy(tmp_path):
    out = finished(tmp_path / "out", "old")
    (out / "checkpoint").write_text("step 10")
    with resumable_output_dir(out, resume=True, resumable=has_checkpoint) as run:
        assert sorted(os.listdir(run)) == ["checkpoint", "result"]
        (tmp_path / ".out.run" / "result").write_text("continued")
        assert (out / "result").read_text() == "old"
    assert (out / "result").read_text() == "continued" and sorted(os.listdir(tmp_path)) == ["out"]
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        with resumable_output_dir(tmp_path / "never", resume=True, resumable=has_checkpoint):
            pass


def test_a_file_in_the_way_is_refused_even_with_force(tmp_path):
    (tmp_path / "out").write_text("keep")
    with pytest.raises(FileExistsError, match="not a plain folder"):
        with resumable_output_dir(tmp_path / "out", force=True):
            pass
    assert (tmp_path / "out").read_text() == "keep"
