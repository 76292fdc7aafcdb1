"""``tinylm compare``: our models and transformers baselines trained the same way and evaluated side by side.

- ``roster``: the models (the original's baseline scaled to the CPU, variants, GPT-2 and Llama at matched
  non-embedding parameters);
- ``runner``: ``compare(CompareOptions(...))`` trains (``hf_tinylm.training``), reloads, evaluates
  (``hf_tinylm.evaluation``) and writes the report;
- ``report``: report.md and the plots; ``lm_eval_tasks``: lm-eval on saved folders.
"""

import importlib

# Imported on first use, as hf_tinylm.training: the command line reads this package to build its parser.
__all__ = ["CompareError", "CompareOptions", "compare", "parse_budget"]


def __getattr__(name):
    if name in __all__:
        return getattr(importlib.import_module(".runner", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
