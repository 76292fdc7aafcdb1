"""`tinylm compare` writes --out atomically (a `.OUT.run` folder renamed into place when the comparison is
complete): an existing --out is refused unless --force or --resume, stays intact until the new one is complete,
and an interrupted comparison keeps its finished models for --resume. The comparison itself is replaced by a fake
that writes what the real one writes, model by model (the real one is tested in test_compare.py)."""

import json
import os

import pytest

import hf_tinylm.compare.runner as runner
from tinylm_cli.main import main


@pytest.fixture
def fake_compare(monkeypatch):
    """A compare that finishes the models of ``--models`` one by one, interrupted (Ctrl-C) before ``stop_before``."""
    state = {"stop_before": None, "options": []}

    def compare(options):
        state["options"].append(options)
        rows = []
        for name in options.models:
            if name == state["stop_before"]:
                raise KeyboardInterrupt
            folder = os.path.join(options.out, "models", name)
            os.makedirs(folder, exist_ok=True)
            reused = os.path.isfile(os.path.join(folder, "eval.json"))
            if not reused:
                with open(os.path.join(folder, "eval.json"), "w") as handle:
                    json.dump({"name": name}, handle)
            published = os.path.join(os.path.abspath(options.published_out), "models", name)
            rows.append({"name": name, "path": published, "reused": reused})
        report = {"models": rows}
        with open(os.path.join(options.out, "report.json"), "w") as handle:
            json.dump(report, handle)
        return report

    monkeypatch.setattr(runner, "compare", compare)
    monkeypatch.setattr("hf_tinylm.compare.report.markdown_table", lambda report: "table")
    return state


def dotted(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_an_existing_out_is_refused_and_replaced_only_with_force(tmp_path, fake_compare, capsys):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "marker").write_text("old")
    assert main(["compare", "--out", str(out), "--models", "llama"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--force" in err and "--resume" in err
    assert os.listdir(out) == ["marker"] and fake_compare["options"] == []
    assert main(["compare", "--out", str(out), "--models", "llama", "--force"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["models"][0]["path"] == str(out / "models" / "llama")  # where it is now, not the run folder
    assert not (out / "marker").exists() and dotted(tmp_path) == []


def test_an_interrupted_compare_keeps_finished_models_for_resume(tmp_path, fake_compare, capsys):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "marker").write_text("old")
    fake_compare["stop_before"] = "gpt2"
    assert main(["compare", "--out", str(out), "--models", "llama", "gpt2", "--force"]) == 130
    err = capsys.readouterr().err.strip()
    assert "interrupted" in err and "--resume continues" in err and len(err.splitlines()) == 1
    assert os.listdir(out) == ["marker"]  # the old --out is intact
    assert dotted(tmp_path) == [".cmp.run"]
    assert main(["compare", "--out", str(out), "--models", "llama", "gpt2"]) == 2  # neither resumed nor forced
    assert "--resume to continue it" in capsys.readouterr().err
    fake_compare["stop_before"] = None
    assert main(["compare", "--out", str(out), "--models", "llama", "gpt2", "--resume"]) == 0
    rows = json.loads((out / "report.json").read_text())["models"]
    assert [(row["name"], row["reused"]) for row in rows] == [("llama", True), ("gpt2", False)]
    assert not (out / "marker").exists() and dotted(tmp_path) == []


def test_an_interruption_before_any_finished_model_leaves_nothing(tmp_path, fake_compare, capsys):
    out = tmp_path / "cmp"
    fake_compare["stop_before"] = "llama"
    assert main(["compare", "--out", str(out), "--models", "llama"]) == 130
    assert capsys.readouterr().err.strip() == "tinylm compare: interrupted"
    assert os.listdir(tmp_path) == []


def test_bad_options_touch_no_folder(tmp_path, fake_compare, capsys):
    assert main(["compare", "--out", str(tmp_path / "cmp"), "--budget", "lots"]) == 2
    assert "--budget='lots' is invalid" in capsys.readouterr().err and os.listdir(tmp_path) == []


# ---- real processes, signalled early (before any model is finished): the old --out stays, nothing else remains ----
@pytest.mark.parametrize("sig", ["SIGINT", "SIGKILL"])
def test_a_signal_early_in_a_real_compare_leaves_the_old_out_and_no_debris(tmp_path, sig):
    import time

    from atomic_helpers import SIGNALS, is_old, old_folder, run_tinylm, start_tinylm

    out = old_folder(tmp_path / "cmp")
    process = start_tinylm("compare", "--out", out, "--force", "--quick", "--models", "llama")
    run_folder = tmp_path / ".cmp.run"
    deadline = time.monotonic() + 120
    while not run_folder.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run_folder.exists(), process.communicate()[1][-2000:]
    process.send_signal(SIGNALS[sig])
    _, err = process.communicate(timeout=120)
    assert process.returncode == (130 if sig == "SIGINT" else -9) and is_old(out), err[-2000:]
    # The next run (refused: --out exists) first deletes a run folder that holds nothing worth continuing.
    again = run_tinylm("compare", "--out", out, "--quick")
    assert again.returncode == 2 and "--force" in again.stderr and is_old(out)
    assert dotted(tmp_path) == []
