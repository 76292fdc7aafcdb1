"""`tokenizer train`: the function and the argparse wiring the tinylm console script will use."""

import argparse

import pytest

from tokenizers_ext import BPETokenizer
from tokenizers_ext.cli import STLM_MERGES_FILE, add_tokenizer_subparser, main, train_command


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat\nthe hat\n" * 5, encoding="utf-8")
    return path


def test_train_command_saves_a_loadable_tokenizer(tmp_path, corpus, capsys):
    out = tmp_path / "tok"
    assert train_command([str(corpus)], 270, str(out), show_progress=False) == 0
    assert sorted(p.name for p in out.iterdir()) == [STLM_MERGES_FILE, "tokenizer.json", "tokenizer_config.json"]
    expected = BPETokenizer.train_from_files([corpus], 270, show_progress=False)
    assert BPETokenizer.from_pretrained(out).merges == expected.merges
    assert BPETokenizer.from_stlm_merges(out / STLM_MERGES_FILE).merges == expected.merges
    assert "saved a 270-token BPE tokenizer" in capsys.readouterr().out

    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(out).encode("the cat") == expected.encode("the cat")


def test_train_command_says_when_the_corpus_runs_out_of_pairs(tmp_path, corpus, capsys):
    assert train_command([str(corpus)], 5000, str(tmp_path / "small"), show_progress=False) == 0
    assert "ran out of pairs to merge before 5000 tokens" in capsys.readouterr().out


def test_train_command_reports_errors_with_exit_code_2(tmp_path, corpus, capsys):
    assert train_command([str(tmp_path / "missing.txt")], 300, str(tmp_path / "out")) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err
    assert train_command([str(corpus)], 100, str(tmp_path / "out"), show_progress=False) == 2
    assert "vocab_size must be an int >= 258" in capsys.readouterr().err


def test_subparser_registers_tokenizer_train(tmp_path, corpus):
    parser = argparse.ArgumentParser(prog="tinylm")
    add_tokenizer_subparser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "gpt2split"
    command = ["tokenizer", "train", "--files", str(corpus), "--vocab-size", "270", "--out", str(out)]
    args = parser.parse_args(command + ["--pre-split", "gpt2", "--quiet"])
    assert (args.files, args.vocab_size, args.pre_split) == ([str(corpus)], 270, "gpt2")
    assert args.handler is args.func  # hf_tinylm's main calls `handler`
    assert args.func(args) == 0
    assert BPETokenizer.from_pretrained(out).pre_split == "gpt2"
    with pytest.raises(SystemExit):
        parser.parse_args(command + ["--pre-split", "bert"])


def test_main_runs_the_command(tmp_path, corpus):
    out = tmp_path / "main"
    command = ["tokenizer", "train", "--files", str(corpus), "--vocab-size", "265", "--out", str(out), "--quiet"]
    assert main(command) == 0
    assert BPETokenizer.from_pretrained(out).vocab_size == 265
