"""Training with transformers' ``Trainer``: ``train(config) -> TrainResult`` (what ``tinylm train`` runs).

- ``config``: an original STLM full config or the project's own YAML → ``TrainConfig`` (``load_train_config``);
- ``data``: text sources → train/validation documents → packed token blocks (``datasets``, cached);
- ``schedules``: the original's learning-rate and dropout schedules;
- ``trainer``: the Trainer glue (atomic checkpoints, bits per byte, LoRA, outputs).
docs/training.md describes the YAML, the outputs and multi-process recipes.
"""

import importlib

# Imported on first use: the command line reads this package to build its parser, and datasets / Trainer are slow
# to import.
_EXPORTS = {"TrainConfig": "config", "TrainConfigError": "config", "load_train_config": "config",
            "TrainResult": "trainer", "train": "trainer"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
