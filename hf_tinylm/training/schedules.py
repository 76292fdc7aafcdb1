"""Learning-rate and dropout schedules of the original STLM trainer, for transformers' ``Trainer``.

Learning rate (``lr_scheduler: cosine``, nanoGPT's): linear warm-up from 0 to ``lr`` over ``warmup_iters`` steps,
then a half cosine from ``lr`` down to ``min_lr`` reached at step ``lr_decay_iters``, then ``min_lr``. With
``decay_lr: false`` (or ``lr_scheduler: constant``) the rate stays at ``lr`` after the warm-up. It is a
``LambdaLR`` on the optimizer, so Trainer saves and restores it with every checkpoint.

Dropout (``dropout_scheduler``): every ``nn.Dropout`` of the model gets the scheduled probability before each
optimizer step (``DropoutScheduleCallback``); the probability is a pure function of the step, so a resumed run
continues the schedule exactly.
- ``constant``: ``dropout`` throughout;
- ``linear_up`` (the original's files also say ``linear``): ``start_dropout_p`` until ``start_iter``, linear to
  ``end_dropout_p`` at ``end_iter``, then ``end_dropout_p``;
- ``triangle``: ``num_cycles`` (default 4) cycles over ``num_iterations`` steps (default: the run's steps), each
  rising linearly from ``dropout_trough`` to ``dropout_peak`` and back.
"""

import dataclasses
import math

from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from transformers import TrainerCallback


@dataclasses.dataclass(frozen=True)
class LRSchedule:
    """The original's learning-rate schedule, as multipliers of the peak rate ``lr``."""

    lr: float
    min_lr: float
    warmup_iters: int
    lr_decay_iters: int
    decay_lr: bool = True

    def rate(self, step: int) -> float:
        if step < self.warmup_iters:
            return self.lr * step / self.warmup_iters
        if not self.decay_lr:
            return self.lr
        if step >= self.lr_decay_iters:
            return self.min_lr
        progress = (step - self.warmup_iters) / max(1, self.lr_decay_iters - self.warmup_iters)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * progress))

    def scheduler(self, optimizer) -> LambdaLR:
        """A LambdaLR for an optimizer whose groups start at ``lr``."""
        return LambdaLR(optimizer, lambda step: self.rate(step) / self.lr)


DROPOUT_TYPES = ("constant", "linear_up", "triangle")
DROPOUT_ALIASES = {"linear": "linear_up"}


@dataclasses.dataclass(frozen=True)
class DropoutSchedule:
    dropout_type: str = "constant"
    dropout: float = 0.0
    start_dropout_p: float = 0.0
    end_dropout_p: float = 0.0
    start_iter: int = 0
    end_iter: int = 0
    dropout_trough: float = 0.0
    dropout_peak: float = 0.0
    num_iterations: int = 0
    num_cycles: int = 4

    def probability(self, step: int) -> float:
        if self.dropout_type == "constant":
            return self.dropout
        if self.dropout_type == "linear_up":
            if step < self.start_iter:
                return self.start_dropout_p
            if step >= self.end_iter:
                return self.end_dropout_p
            fraction = (step - self.start_iter) / (self.end_iter - self.start_iter)
            return self.start_dropout_p + fraction * (self.end_dropout_p - self.start_dropout_p)
        cycle = max(2, self.num_iterations // self.num_cycles)
        position = (step % cycle) / (cycle / 2)  # 0 → 2 over one cycle
        rise = position if position < 1 else 2 - position
        return self.dropout_trough + (self.dropout_peak - self.dropout_trough) * rise


def set_dropout(model: nn.Module, probability: float):
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability


class DropoutScheduleCallback(TrainerCallback):
    """Sets the scheduled dropout probability before every optimizer step."""

    def __init__(self, schedule: DropoutSchedule):
        self.schedule = schedule

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if model is not None:
            set_dropout(model, self.schedule.probability(state.global_step))
