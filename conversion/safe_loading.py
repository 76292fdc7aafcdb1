"""Load a ``torch.save`` checkpoint without running any code it might carry.

A bare ``torch.load`` unpickles: a checkpoint can name any importable callable (``os.system``, ``eval``) and have
it called while loading. Here the file is loaded with ``weights_only=True``, torch's restricted unpickler, which
only rebuilds tensors and plain containers; on top of those we allow exactly the classes an OmegaConf
``DictConfig`` needs (found by pickling Hydra-style configs and listing what they reference). Before loading, a zip
checkpoint is scanned for the globals it references, without executing anything, so that a refusal can name them.
"""

import collections
import os
import pickle
import re
import typing
import warnings
import zipfile

import torch

from .errors import ConversionError, UnsafeCheckpointError, format_key_list

# Beyond torch's own weights-only allowlist (tensors, storages, OrderedDict, ...): plain Python values that appear
# as OmegaConf node values and as its metadata (``ref_type``/``key_type`` are ``typing.Any`` or a builtin type).
_PLAIN_GLOBALS = [dict, list, tuple, set, int, float, str, bool, bytes, collections.defaultdict, typing.Any,
                  typing.Dict, typing.List, typing.Tuple]


def _omegaconf_globals() -> list:
    try:
        from omegaconf import DictConfig, ListConfig
        from omegaconf.base import ContainerMetadata, Metadata
        from omegaconf.nodes import AnyNode, BooleanNode, BytesNode, FloatNode, IntegerNode, StringNode
    except ImportError:
        return []
    return [DictConfig, ListConfig, ContainerMetadata, Metadata,
            AnyNode, StringNode, IntegerNode, FloatNode, BooleanNode, BytesNode]


def allowed_globals() -> list:
    """The classes and callables a checkpoint may reference beyond torch's weights-only defaults."""
    return _PLAIN_GLOBALS + _omegaconf_globals()


def _global_name(obj) -> str:
    if obj is typing.Any:
        return "typing.Any"
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "_name", None) or getattr(obj, "__name__", None)
    return f"{module}.{name}"


def _refused_globals(path: str, allowed: list) -> list:
    """Globals the checkpoint's pickle names that are neither torch's defaults nor ``allowed`` (zip format only)."""
    names = {_global_name(obj) for obj in allowed}
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    return sorted(name for name in unsafe if name not in names)


def _refusal(path: str, refused: list) -> UnsafeCheckpointError:
    if refused and all(name.startswith("omegaconf.") for name in refused) and not _omegaconf_globals():
        return UnsafeCheckpointError(
            f"{path} stores its config as an OmegaConf object ({format_key_list(refused)}), but omegaconf is not "
            f"installed; run `pip install omegaconf` and convert again"
        )
    return UnsafeCheckpointError(
        f"refused to load {path}: its pickle references {format_key_list(refused)}, which is neither a tensor nor a "
        f"config container, so loading it could run code; nothing in it was run. If you trust the file, re-save it "
        f"as a dict of tensors with a plain-dict config (OmegaConf.to_container) and convert that"
    )


def load_checkpoint(path) -> object:
    """``torch.load(path, weights_only=True)`` allowing OmegaConf containers; tensors are mapped to the CPU.

    Raises ``FileNotFoundError`` for a missing file, ``UnsafeCheckpointError`` for a pickle that references anything
    else (nothing from it is executed) and ``ConversionError`` for a file that is not a torch checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist or is not a file; check the path")
    allowed = allowed_globals()
    if zipfile.is_zipfile(path):
        try:
            refused = _refused_globals(path, allowed)
        except Exception as error:  # a damaged archive: report it as unreadable below, never load it blindly
            raise ConversionError(f"could not read {path} as a torch checkpoint ({_one_line(error)}); "
                                  f"check that the file is complete") from None
        if refused:
            raise _refusal(path, refused)
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            # Plain pickles of protocol > 2 make torch warn before it refuses them; the refusal says enough.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's restricted unpickler stopped: at a global it does not allow (legacy, non-zip files land here), or at
        # something it cannot read at all (a damaged file, a plain pickle with opcodes torch.save never writes).
        refused = _refused_global(error)
        if refused:
            raise _refusal(path, [refused]) from None
        raise UnsafeCheckpointError(
            f"could not read {path} safely: torch's weights-only loader rejected it ({_rejection_reason(error)}); "
            f"nothing in it was run. The file is damaged, was not written by torch.save, or holds objects other than "
            f"tensors and configs; re-save it with torch.save as a dict of tensors with a plain-dict config"
        ) from None
    except Exception as error:
        raise ConversionError(f"could not read {path} as a torch checkpoint ({_one_line(error)}); "
                              f"check that it was written with torch.save and is complete") from None


def _refused_global(error: Exception):
    """The global torch refused, from its message ("Unsupported global: GLOBAL x.y" or "unsupported GLOBAL x.y …")."""
    match = re.search(r"GLOBAL (\S+)", str(error))
    return match.group(1) if match else None


def _rejection_reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and "documentation" not in line]
    return lines[-1][:200] if len(lines) > 1 else "unknown reason"


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"
