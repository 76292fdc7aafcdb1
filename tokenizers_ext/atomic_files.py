"""Write files so that a crash or a full disk never leaves a half-written file behind.

Each file is written to a temporary name in the destination folder, flushed to disk, then moved over
the destination with `os.replace`, which is atomic on POSIX and Windows: readers see the old file or
the new one, never a truncated mix (a half-written cache that breaks every later run is a classic).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically (newlines written exactly as given)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates the file readable by its owner only; give it the usual permissions.
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise


def save_into_directory_atomically(
    save_directory: str | os.PathLike, write_files: Callable[[str], Iterable[str]]
) -> tuple[str, ...]:
    """Let `write_files(staging_dir)` write its files, then move each into `save_directory` atomically.

    The staging folder lives inside `save_directory` so every move stays on one file system (a rename,
    not a copy). Returns the final paths.
    """
    save_directory = os.fspath(save_directory)
    os.makedirs(save_directory, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".saving-", dir=save_directory)
    try:
        final_paths = []
        for written in write_files(staging):
            final = os.path.join(save_directory, os.path.relpath(written, staging))
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(written, final)
            final_paths.append(final)
        return tuple(final_paths)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
