"""lm-eval evaluates a saved TinyLM folder (HFLM with trust_remote_code) on a local multiple-choice task."""

import json

from hf_tinylm.compare.lm_eval_tasks import lm_eval_scores, task_name

TASK_YAML = """\
task: tiny_letters
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
"""


def test_a_saved_tinylm_folder_evaluates_with_lm_eval(tmp_path, monkeypatch):
    from model_factory import char_tokenizer, tiny_model

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    model = tiny_model()
    model.set_tokenizer(char_tokenizer())
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    data = tmp_path / "letters.jsonl"
    rows = [{"question": f"{word[:-1]}", "choices": [word[-1], "q", "z"], "answer": 0}
            for word in ("abc", "hello", "world", "tiny", "model", "cat", "dog", "sun")]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    task = tmp_path / "tiny_letters.yaml"
    task.write_text(TASK_YAML.format(data=data))
    assert task_name(str(task)) == "tiny_letters"

    scores = lm_eval_scores(str(folder), [str(task)], batch_size=4)
    assert set(scores) == {"lm_eval:tiny_letters"}
    assert 0.0 <= scores["lm_eval:tiny_letters"] <= 1.0


def test_compare_adds_lm_eval_scores_to_the_report(tmp_path, monkeypatch):
    from hf_tinylm.compare import CompareOptions, compare

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    data = tmp_path / "letters.jsonl"
    rows = [{"question": "The house of", "choices": ["Holmes", "qzx"], "answer": 0},
            {"question": "It was a", "choices": ["dark night", "zzq vvk"], "answer": 0}]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    task = tmp_path / "tiny_letters.yaml"
    task.write_text(TASK_YAML.format(data=data))
    report = compare(CompareOptions(
        out=str(tmp_path / "out"), budget="20k", models=("stlm-baseline",), quick=True, lm_eval_tasks=(str(task),),
        mode_overrides={"vocab": 512, "cloze_items": 10, "validation_chars": 4000, "generate_tokens": 4},
        report=lambda line: None,
    ))
    accuracy = report["models"][0]["mcq_accuracy"]
    assert set(accuracy) == {"cloze", "lm_eval:tiny_letters"}
    assert 0.0 <= accuracy["lm_eval:tiny_letters"] <= 1.0
    assert "lm_eval:tiny_letters acc." in (tmp_path / "out" / "report.md").read_text()
