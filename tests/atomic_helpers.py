"""Test helpers for atomic output folders: run a `tinylm` command as a real process and interrupt or kill it."""

import os
import signal
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def leftovers(out) -> list:
    """The staging (`.NAME.partial-*`) and set-aside (`.NAME.replaced-*`) folders of `out` beside it."""
    parent, name = os.path.split(os.path.abspath(out))
    return sorted(entry for entry in os.listdir(parent)
                  if entry.startswith(f".{name}.partial-") or entry.startswith(f".{name}.replaced-"))


def start_tinylm(*argv) -> subprocess.Popen:
    """`tinylm ARGV...` in a fresh process (this checkout first on the path), output captured."""
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, "-m", "tinylm_cli.main", *map(os.fspath, argv)], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_tinylm(*argv, timeout: float = 300) -> subprocess.CompletedProcess:
    process = start_tinylm(*argv)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def stop_at(process: subprocess.Popen, out, moment: str, sig: int, timeout: float = 300) -> int:
    """Send `sig` to `process` at `moment` ('start': at once; a number: after that many seconds; 'writing': as soon as
    the command starts writing, i.e. the staging folder of `out` appears, or `out` itself changes (which it must not
    do before it is complete). Returns the exit code (the process may have finished first)."""
    if moment == "writing":
        before = _listing(out)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if any(".partial-" in entry for entry in leftovers(out)) or _listing(out) != before:
                break
            time.sleep(0.001)
    elif moment != "start":
        time.sleep(float(moment))
    if process.poll() is None:
        process.send_signal(sig)
    process.communicate(timeout=timeout)
    return process.returncode


def _listing(out):
    try:
        return sorted(os.listdir(out))
    except OSError:
        return None


SIGNALS = {"SIGINT": signal.SIGINT, "SIGKILL": signal.SIGKILL}


def old_folder(path):
    """A target that already exists: one marker file, so a test can tell it is untouched."""
    path.mkdir()
    (path / "marker").write_text("old")
    return path


def is_old(path) -> bool:
    return sorted(os.listdir(path)) == ["marker"] and (path / "marker").read_text() == "old"
