"""Write an output folder all at once: a converted model is either complete at ``OUT`` or absent.

Everything is written into a hidden staging folder beside ``OUT`` (same parent, so the final step is a rename on one
file system, not a copy) and renamed to ``OUT`` only after every file is written and checked. A crash or Ctrl-C
leaves at worst a ``.OUT.partial-*`` folder, which no loader mistakes for a model; failures caught in Python remove
it. An existing ``OUT`` is replaced only when ``force`` is given, and then only after the new folder is complete.
"""

import contextlib
import os
import shutil
import tempfile

_STAGING_MARK = ".partial-"
_OLD_MARK = ".replaced-"


def check_output_dir(out_dir, force: bool = False, sources=()) -> str:
    """The absolute output path, after refusing an existing ``out_dir`` (without ``force``) or one that is a source."""
    out = os.path.abspath(os.fspath(out_dir))
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
def atomic_output_dir(out_dir, force: bool = False, sources=()):
    """Yield a fresh staging folder; on a clean exit it becomes ``out_dir``, on any exception it is deleted."""
    out = check_output_dir(out_dir, force, sources)
    parent, name = os.path.split(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}{_STAGING_MARK}", dir=parent)
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private to its owner; a model folder is ordinarily readable
        yield staging
        _publish(staging, out, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: str, out: str, force: bool):
    """Rename ``staging`` to ``out``, moving an existing ``out`` aside first (``force``) and deleting it after."""
    check_output_dir(out, force)  # again: something may have created OUT while we were writing
    if not os.path.lexists(out):
        os.rename(staging, out)
        return
    parent, name = os.path.split(out)
    old = tempfile.mkdtemp(prefix=f".{name}{_OLD_MARK}", dir=parent)
    os.rmdir(old)  # only the unique name is wanted: rename needs the target to be absent (or an empty folder)
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(old, out)  # put the previous folder back rather than leave nothing
        raise
    shutil.rmtree(old, ignore_errors=True)
