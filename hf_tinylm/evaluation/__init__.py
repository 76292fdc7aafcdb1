"""Evaluation used the same way for every model: TinyLM families, plain transformers causal LMs, wrapped ones.

- ``hf_tinylm.evaluation.metrics``: bits per byte (the formula, and the NLL of a text summed over windows);
- ``hf_tinylm.evaluation.harness``: validation loss / perplexity / bits per byte, multiple-choice accuracy by
  log-likelihood (cloze items built from held-out text, BIG-bench ``task.json`` files), generation speed and
  parameter counts.
"""

from .harness import (
    TaskFormatError,
    cloze_items,
    generation_speed,
    load_bigbench_task,
    mcq_accuracy,
    mcq_scores,
    parameter_counts,
    validation_metrics,
)
from .metrics import LN2, bits_per_byte, evaluate_bits_per_byte, token_negative_log_likelihood

__all__ = [
    "LN2",
    "bits_per_byte",
    "token_negative_log_likelihood",
    "evaluate_bits_per_byte",
    "validation_metrics",
    "mcq_scores",
    "mcq_accuracy",
    "cloze_items",
    "TaskFormatError",
    "load_bigbench_task",
    "generation_speed",
    "parameter_counts",
]
