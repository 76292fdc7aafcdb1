"""Atomic writes: a crash, Ctrl-C or a full disk never leaves a half-written file or folder behind.

The project's one helper for it. It lives here because `tokenizers_ext` imports no other package of ours, so
every package (`hf_tinylm`, `conversion`, `experimental`, the command line) can import it without a cycle.

- One file (`staged_file`, `atomic_write_text`, `atomic_write_json`): written to a temporary name in the
  destination folder, flushed to disk, then moved over the destination with `os.replace`, which is atomic on
  POSIX and Windows: readers see the old file or the new one, never a truncated mix.
- The files of a save (`save_into_directory_atomically`): written into a staging folder inside the destination,
  then each moved into place the same way.
- A long job's output folder (`resumable_output_dir`): the same, but its unfinished `.NAME.run` folder is kept
  when it holds work worth continuing, for `--resume`.
- A whole output folder (`atomic_output_dir`): written into a hidden staging folder beside it and renamed into
  place only when complete; a crash leaves at worst a `.NAME.partial-*` folder, which no loader mistakes for a
  model. An existing folder is replaced only with `force`, and then only after the new one is complete: it is
  renamed aside (`.NAME.replaced-*`), the new one renamed in, the old one deleted. The next write of the same
  folder (`clean_leftovers`) deletes the staging and aside folders of killed runs, and if a run was killed between
  the two renames (NAME missing, the old one aside) puts the old folder back first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator

_STAGING_MARK = ".partial-"
_OLD_MARK = ".replaced-"
# `.NAME.partial-PID-RANDOM` / `.NAME.replaced-PID-RANDOM`: the pid says whether the run that made it still lives.
_LEFTOVER = re.compile(r"\.(?P<name>.+)(?P<mark>\.partial-|\.replaced-)(?P<pid>\d+)-[^-]+\Z")


# ---- one file ------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def staged_file(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside `path` for the caller to write; on a clean exit it is flushed to disk and
    renamed over `path`, on an exception deleted. The temporary name keeps the extension (`savefig` reads it)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(path)
    handle, staged = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp" + os.path.splitext(name)[1], dir=directory)
    os.close(handle)
    try:
        yield staged
        descriptor = os.open(staged, os.O_RDWR)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        # mkstemp creates the file readable by its owner only; give it the usual permissions.
        os.chmod(staged, 0o644)
        os.replace(staged, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically (newlines written exactly as given)."""
    with staged_file(path) as staged, open(staged, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, payload) -> None:
    """Write `payload` as indented JSON with sorted keys and a final newline, atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


# ---- the files of a save -------------------------------------------------------------------------------------------
def save_into_directory_atomically(
    save_directory: str | os.PathLike, write_files: Callable[[str], Iterable[str] | None]
) -> tuple[str, ...]:
    """Let `write_files(staging_dir)` write its files, then move each into `save_directory` atomically.

    `write_files` returns the paths it wrote, or None to move every file under the staging folder (a library's
    `save_pretrained` that returns nothing). The staging folder lives inside `save_directory` so every move stays
    on one file system (a rename, not a copy). Returns the final paths.
    """
    save_directory = os.fspath(save_directory)
    os.makedirs(save_directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".saving-", dir=save_directory)
    try:
        written = write_files(staging)
        if written is None:
            written = [os.path.join(root, name) for root, _, names in os.walk(staging) for name in names]
        final_paths = []
        for path in written:
            final = os.path.join(save_directory, os.path.relpath(path, staging))
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(path, final)
            final_paths.append(final)
        return tuple(final_paths)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---- a whole output folder -----------------------------------------------------------------------------------------
def check_output_dir(out_dir, force: bool = False, sources=()) -> str:
    """The absolute output path, after refusing an existing `out_dir` (without `force`) or one that is a source.

    Tidies the leftovers of killed writes first (`clean_leftovers`): it may put back a folder a killed `force` run
    had moved aside, which is then refused like any existing folder."""
    out = os.path.abspath(os.fspath(out_dir))
    clean_leftovers(out)
    for source in sources:
        source = os.path.abspath(os.fspath(source))
        if out == source or source.startswith(out + os.sep):
            raise FileExistsError(f"output folder {out_dir} is (or contains) the source {source}; "
                                  f"choose another output")
    if os.path.lexists(out):
        if not os.path.isdir(out) or os.path.islink(out):
            raise FileExistsError(f"output path {out_dir} exists and is not a plain folder (a file or a link); choose "
                                  f"another output path")
        if not force:
            raise FileExistsError(f"output folder {out_dir} already exists; pass --force to replace it")
    return out


@contextlib.contextmanager
def atomic_output_dir(out_dir, force: bool = False, sources=()) -> Iterator[str]:
    """Yield a fresh staging folder; on a clean exit it becomes `out_dir`, on any exception it is deleted."""
    out = check_output_dir(out_dir, force, sources)
    parent, name = os.path.split(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}{_STAGING_MARK}{os.getpid()}-", dir=parent)
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private to its owner; a model folder is ordinarily readable
        yield staging
        _publish(staging, out, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


_RUN_MARK = ".run"


def run_folder_of(out_dir) -> str:
    """Where a resumable job writes `out_dir` until it is complete: `.NAME.run` beside it."""
    parent, name = os.path.split(os.path.abspath(os.fspath(out_dir)))
    return os.path.join(parent, f".{name}{_RUN_MARK}")


@contextlib.contextmanager
def resumable_output_dir(out_dir, force: bool = False, resume: bool = False,
                         resumable: Callable[[str], bool] = lambda folder: False) -> Iterator[str]:
    """`atomic_output_dir` for long jobs that can continue after an interruption (training, comparisons).

    The job writes into `.NAME.run` beside `out_dir` (a stable name, so a later run can find it), renamed into
    place when the job completes; an existing `out_dir` is refused unless `force` or `resume`, and stays intact
    until the new one is complete. `resumable(folder)` says whether an unfinished run folder holds work worth
    continuing (a checkpoint, a finished model): an interrupted job keeps such a folder for `resume` and names it
    on the next run; one holding nothing worth keeping is deleted then, like any other debris.

    - `resume`: continue the unfinished run folder, else a copy of the finished `out_dir` (which stays as it is
      until the continued job completes); neither → FileNotFoundError.
    - `force`: start over: the unfinished run folder is deleted and `out_dir` replaced once the new one is complete.
    """
    out = check_output_dir(out_dir, force=True)  # a file or a link at `out_dir` is refused even with force
    run = run_folder_of(out)
    if os.path.lexists(run):
        worth_keeping = resumable(run)
        if not worth_keeping or (force and not resume):
            shutil.rmtree(run)  # starting over, or only debris of a run killed before it had anything to keep
    if resume:
        if not os.path.isdir(run):
            if not os.path.isdir(out):
                raise FileNotFoundError(f"nothing to resume: neither {out_dir} nor an unfinished run of it "
                                        f"({os.path.basename(run)}) exists; run without --resume")
            copy = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}{_STAGING_MARK}{os.getpid()}-",
                                    dir=os.path.dirname(out))
            try:
                shutil.copytree(out, copy, dirs_exist_ok=True, symlinks=True)
                os.rename(copy, run)
            except BaseException:
                shutil.rmtree(copy, ignore_errors=True)
                raise
    elif os.path.isdir(run):
        raise FileExistsError(f"an unfinished run of {out_dir} is kept in {run}; pass --resume to continue it or "
                              f"--force to start over")
    elif os.path.lexists(out) and not force:
        raise FileExistsError(f"output folder {out_dir} already exists; pass --force to replace it or --resume to "
                              f"continue it")
    else:
        os.makedirs(run)
    try:
        yield run
    except BaseException:
        if not resumable(run):
            shutil.rmtree(run, ignore_errors=True)
        raise
    _publish(run, out, force=True)  # replacing `out` was allowed above (force, or resume of this very run)


def _publish(staging: str, out: str, force: bool) -> None:
    """Rename `staging` to `out`, moving an existing `out` aside first (`force`) and deleting it after."""
    check_output_dir(out, force)  # again: something may have created OUT while we were writing
    if not os.path.lexists(out):
        os.rename(staging, out)
        return
    parent, name = os.path.split(out)
    old = tempfile.mkdtemp(prefix=f".{name}{_OLD_MARK}{os.getpid()}-", dir=parent)
    os.rmdir(old)  # only the unique name is wanted: rename needs the target to be absent (or an empty folder)
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(old, out)  # put the previous folder back rather than leave nothing
        raise
    shutil.rmtree(old, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but is someone else's, or we cannot tell: leave its folders alone
    return True


def clean_leftovers(out_dir) -> list[str]:
    """Tidy what killed writes of `out_dir` left beside it; returns the paths removed or restored.

    Only folders named by `atomic_output_dir` for this very target, whose process is gone, are touched: a
    `.NAME.partial-PID-*` staging folder is deleted; a `.NAME.replaced-PID-*` folder (the previous NAME, moved
    aside by a `force` run) is renamed back to NAME when NAME is missing (the run died between its two renames),
    and deleted otherwise.
    """
    out = os.path.abspath(os.fspath(out_dir))
    parent, name = os.path.split(out)
    try:
        entries = sorted(os.listdir(parent))
    except (FileNotFoundError, NotADirectoryError):
        return []
    touched = []
    for entry in entries:
        match = _LEFTOVER.match(entry)
        if match is None or match["name"] != name or _process_alive(int(match["pid"])):
            continue
        path = os.path.join(parent, entry)
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        if match["mark"] == _OLD_MARK and not os.path.lexists(out):
            os.rename(path, out)
        else:
            shutil.rmtree(path, ignore_errors=True)
        touched.append(path)
    return touched
