"""Training with transformers' ``Trainer``: ``train(config) -> TrainResult`` (what ``tinylm train`` runs).

- ``config``: an original STLM full config or the project's own YAML → ``TrainConfig`` (``load_train_config``);
- ``data``: text sources → train/validation documents → packed token blocks (``datasets``, cached);
- ``schedules``: the original's learning-rate and dropout schedules;
- ``trainer``: the Trainer glue (atomic checkpoints, bits per byte, LoRA, outputs).
docs/training.md describes the YAML, the outputs and multi-process recipes.
"""

from .config import TrainConfig, TrainConfigError, load_train_config
from .trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainConfigError", "TrainResult", "load_train_config", "train"]
