"""Issue 14's table: bad input to every ``tinylm`` command gets one line on stderr and a non-zero exit code, no
traceback, and leaves the target untouched. In-process through ``main`` (each command's real handler)."""

import os

import pytest
from model_factory import char_tokenizer, tiny_model

from tinylm_cli.main import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved") / "model"
    tiny_model().save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return folder


def truncated_copy(saved, root):
    target = root / "truncated"
    target.mkdir()
    for path in saved.iterdir():
        data = path.read_bytes()
        (target / path.name).write_bytes(data[:-50] if path.name == "model.safetensors" else data)
    return target


def cases(saved, root):
    (root / "a_file").write_text("not a folder")
    (root / "empty").mkdir()
    (root / "existing").mkdir()
    (root / "existing" / "marker").write_text("old")
    (root / "bad.yaml").write_text("model: [unclosed\n")
    (root / "text.txt").write_text("some text to train on " * 20)
    truncated = truncated_copy(saved, root)
    return [
        # (argv, what the one line must say, exit code, a path that must be left as it was)
        (["generate", str(root / "missing"), "--prompt", "x"], "is not a folder", 2, None),
        (["generate", str(root / "empty"), "--prompt", "x"], "has no config.json", 2, None),
        (["generate", str(truncated), "--prompt", "x"], "model.safetensors is truncated or corrupt", 2, truncated),
        (["generate", str(saved), "--prompt", "x", "--top-p", "1.5"], "--top-p: 1.5 is invalid", 2, saved),
        (["generate", str(saved), "--prompt", b"caf\xe9".decode("utf-8", "surrogateescape")], "not UTF-8", 2, saved),
        (["generate", str(saved)], "required: --prompt", 2, saved),
        (["demo", "--out", str(root / "a_file")], "not a plain folder", 2, root / "a_file"),
        (["demo", "--out", str(root / "existing")], "--force", 2, root / "existing"),
        (["tokenizer", "train", "--files", str(root / "nowhere.txt"), "--vocab-size", "300", "--out",
          str(root / "tok")], "nowhere.txt", 2, None),
        (["tokenizer", "train", "--files", str(root / "text.txt"), "--vocab-size", "300", "--out",
          str(root / "existing")], "--force", 2, root / "existing"),
        (["convert", "to-llama", str(root / "missing"), str(root / "out")], "missing", 2, None),
        (["convert", "to-llama", str(saved), str(root / "existing")], "--force", 2, root / "existing"),
        (["train", str(root / "nowhere.yaml")], "nowhere.yaml", 2, None),
        (["train", str(root / "bad.yaml")], "bad.yaml", 2, None),
        (["compare", "--models", "no-such-model", "--out", str(root / "cmp")], "no-such-model", 2, None),
    ]


def snapshot(path):
    if path is None or not os.path.exists(path):
        return None
    if os.path.isfile(path):
        return open(path, "rb").read()
    return {name: snapshot(os.path.join(path, name)) for name in sorted(os.listdir(path))}


def test_every_bad_input_is_one_line_nonzero_and_touches_nothing(saved, tmp_path, capsys):
    failures = []
    for argv, expected, code, target in cases(saved, tmp_path):
        before = snapshot(target)
        try:
            returned = main(argv)
        except SystemExit as exit:  # argparse's own errors (one line too: tinylm_cli.arguments.CommandLineParser)
            returned = exit.code
        captured = capsys.readouterr()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        ok = (returned == code and len(lines) == 1 and "Traceback" not in captured.err and expected in lines[0]
              and snapshot(target) == before)
        if not ok:
            failures.append(f"{' '.join(argv)} → exit {returned}, stderr {captured.err[-400:]!r}")
    assert not failures, "\n".join(failures)
