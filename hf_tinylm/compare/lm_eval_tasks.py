"""lm-eval (EleutherAI's evaluation harness) on a saved model folder: ``tinylm compare --lm-eval-tasks``.

A task is a name lm-eval knows (its data then come from the Hub: offline only what the datasets cache holds) or
the path of a local task YAML (``dataset_path: json``, ``dataset_kwargs: {data_files: ...}``), whose folder is
added to lm-eval's task search path. Saved TinyLM folders carry their modeling code, so lm-eval's ``hf`` model
loads them with ``trust_remote_code=True``.
"""

import os

import yaml


def task_name(task: str) -> str:
    """The name lm-eval knows a task by: the ``task:`` key of a YAML file, else the string itself."""
    if task.endswith((".yaml", ".yml")):
        with open(task, encoding="utf-8") as handle:
            spec = yaml.safe_load(handle) or {}
        if not isinstance(spec, dict) or not isinstance(spec.get("task"), str):
            raise ValueError(f"--lm-eval-tasks {task}: the YAML has no 'task:' name")
        return spec["task"]
    return task


def lm_eval_scores(folder: str, tasks, batch_size: int = 8, limit: int = None) -> dict:
    """{"lm_eval:TASK": accuracy} of the model saved in ``folder`` (float32, on the CPU or the first GPU)."""
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    include = sorted({os.path.dirname(os.path.abspath(task)) for task in tasks if task.endswith((".yaml", ".yml"))})
    names = [task_name(task) for task in tasks]
    results = simple_evaluate(
        model="hf",
        model_args=f"pretrained={os.path.abspath(folder)},trust_remote_code=True,dtype=float32",
        tasks=names,
        device="cuda" if torch.cuda.is_available() else "cpu",
        batch_size=batch_size,
        limit=limit,
        task_manager=TaskManager(include_path=include or None),
    )["results"]
    scores = {}
    for name in names:
        metrics = results[name]
        scores[f"lm_eval:{name}"] = metrics.get("acc,none", metrics.get("acc_norm,none"))
    return scores
