"""Saving and loading: tokenizer.json that AutoTokenizer reloads without this package; atomic files."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from tokenizer_test_helpers import EDGE_CASE_TEXTS, gpt2_tokenizer

from tokenizers_ext import BPETokenizer, GPT2Tokenizer
from tokenizers_ext.atomic_files import (
    atomic_write_json,
    atomic_write_text,
    save_into_directory_atomically,
    staged_file,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXTS = EDGE_CASE_TEXTS + ["Hello world, the original tokenizer.", "hi <|endoftext|> there"]

# Runs in a fresh interpreter where importing tokenizers_ext or hf_tinylm fails.
LOAD_WITHOUT_PACKAGE = textwrap.dedent(
    """
    import importlib.abc, json, os, sys

    class BlockProjectPackages(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tokenizers_ext", "hf_tinylm"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, BlockProjectPackages())
    try:
        import tokenizers_ext
    except ImportError:
        pass
    else:
        raise SystemExit("the import blocker did not work")

    from transformers import AutoTokenizer

    folders, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    report = {}
    for name, folder in folders.items():
        tok = AutoTokenizer.from_pretrained(folder)
        ids = [tok.encode(text) for text in texts]
        report[name] = {
            "class": type(tok).__name__,
            "ids": ids,
            "decoded": [tok.decode(i) for i in ids],
            "len": len(tok),
            "vocab_size": tok.vocab_size,
            "eos": tok.eos_token_id,
            "pad": tok.pad_token_id,
            "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("tokenizers_ext", "hf_tinylm")),
        }
    print(json.dumps(report))
    """
)


def _small_trained_bpe(pre_split="none"):
    lines = ["the cat sat on the mat\n", "the hat is on the cat\n", "héllo wörld 🎉\n"] * 3
    return BPETokenizer.train(lines, vocab_size=300, pre_split=pre_split, show_progress=False)


def test_autotokenizer_loads_both_without_this_package(tmp_path):
    tokenizers = {"bpe": _small_trained_bpe(), "bpe_gpt2_split": _small_trained_bpe("gpt2"), "gpt2": gpt2_tokenizer()}
    folders = {}
    for name, tok in tokenizers.items():
        folders[name] = str(tmp_path / name)
        tok.save_pretrained(folders[name])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PACKAGE, json.dumps(folders), json.dumps(TEXTS)],
        cwd=tmp_path,  # not the repository: its packages must not be importable
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for name, tok in tokenizers.items():
        loaded = report[name]
        assert loaded["class"] == "TokenizersBackend" and loaded["modules"] == []
        assert loaded["ids"] == tok.encode_batch(TEXTS)
        assert loaded["decoded"] == TEXTS
        assert loaded["len"] == loaded["vocab_size"] == tok.vocab_size
        assert (loaded["eos"], loaded["pad"]) == (tok.eot_token_id, tok.pad_token_id)


@pytest.mark.parametrize("pre_split", ["none", "gpt2"])
def test_bpe_reloads_as_itself(tmp_path, pre_split):
    tok = _small_trained_bpe(pre_split)
    saved = tok.save_pretrained(tmp_path)
    assert sorted(os.path.basename(path) for path in saved) == ["tokenizer.json", "tokenizer_config.json"]
    assert sorted(os.listdir(tmp_path)) == ["tokenizer.json", "tokenizer_config.json"]  # no staging left
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "TokenizersBackend" and config["split_special_tokens"] is True
    loaded = BPETokenizer.from_pretrained(tmp_path)
    assert (loaded.merges, loaded.pre_split) == (tok.merges, pre_split)
    assert loaded.encode_batch(TEXTS) == tok.encode_batch(TEXTS)
    tok.save_pretrained(tmp_path)  # saving over an existing folder replaces the files
    assert BPETokenizer.from_pretrained(tmp_path).merges == tok.merges


def test_gpt2_reloads_with_the_same_engine(tmp_path):
    gpt2_tokenizer().save_pretrained(tmp_path)
    loaded = GPT2Tokenizer.from_pretrained(tmp_path)
    assert loaded.engine == gpt2_tokenizer().engine
    assert loaded.encode("Hello world") == [15496, 995]
    assert loaded.eot_token_id == loaded.pad_token_id == 50256


def test_bpe_refuses_a_folder_holding_another_tokenizer(tmp_path):
    gpt2_tokenizer().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="tokenizer.json: not a BPETokenizer tokenizer"):
        BPETokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("broken_file", ["tokenizer.json", "tokenizer_config.json"])
def test_truncated_files_are_named(tmp_path, broken_file):
    _small_trained_bpe().save_pretrained(tmp_path)
    path = tmp_path / broken_file
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=rf"{broken_file}: corrupt or truncated"):
        BPETokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=rf"{broken_file}: corrupt or truncated"):
        GPT2Tokenizer.from_pretrained(tmp_path)


def test_missing_tokenizer_json_is_named(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text("{}")
    with pytest.raises(ValueError, match="tokenizer.json: missing"):
        BPETokenizer.from_pretrained(tmp_path)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "bpe.model"
    atomic_write_text(path, "97 98\n")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "garbage")
    assert path.read_text() == "97 98\n"
    assert os.listdir(tmp_path) == ["bpe.model"]  # the temporary file is gone too


def test_save_with_push_to_hub_saves_locally_then_uploads_the_same_files(tmp_path, monkeypatch):
    tok = _small_trained_bpe()
    uploads = []
    monkeypatch.setattr(type(tok), "push_to_hub", lambda self, repo_id, **options: uploads.append((repo_id, options)))
    tok.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="me/tok", commit_message="hi")
    assert uploads == [("me/tok", {"commit_message": "hi"})]
    config = json.loads((tmp_path / "local" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "TokenizersBackend"


def test_a_staged_file_keeps_its_extension_and_vanishes_when_the_writer_fails(tmp_path):
    path = tmp_path / "plot.png"
    atomic_write_json(path, {"b": 1, "a": [2]})
    assert path.read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
    with pytest.raises(RuntimeError, match="writer failed"):
        with staged_file(path) as staged:
            assert staged.endswith(".png") and os.path.dirname(staged) == str(tmp_path)  # savefig reads the suffix
            with open(staged, "w") as handle:
                handle.write("half")
            raise RuntimeError("writer failed")
    assert os.listdir(tmp_path) == ["plot.png"] and json.loads(path.read_text()) == {"a": [2], "b": 1}


def test_a_save_that_returns_nothing_moves_every_file_it_wrote(tmp_path):
    def write(staging):
        os.makedirs(os.path.join(staging, "sub"))
        for name in ("model.safetensors", os.path.join("sub", "extra.json")):
            with open(os.path.join(staging, name), "w") as handle:
                handle.write(name)

    final = save_into_directory_atomically(tmp_path, write)
    expected = ["model.safetensors", os.path.join("sub", "extra.json")]
    assert sorted(os.path.relpath(path, tmp_path) for path in final) == expected
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors", "sub"]  # the staging folder is gone
