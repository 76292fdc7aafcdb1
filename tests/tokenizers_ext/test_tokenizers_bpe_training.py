"""BPETokenizer training: the same merges as a plain greedy trainer, from texts or files."""

import pytest
from bpe_reference import reference_train
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_test_helpers import SOME_EXAMPLES, big_txt_lines

from tokenizers_ext import BPETokenizer, bpe_training

corpora = st.lists(
    st.one_of(
        st.text(alphabet="ab", max_size=30),
        st.text(alphabet="abc d\n", max_size=40),
        st.text(alphabet="xé🎉 '\t", max_size=20),
        st.sampled_from(["<|endoftext|>", "a<|pad|>b <|pad|>", "hello world", "the cat, the hat"]),
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.parametrize("pre_split", ["none", "gpt2"])
@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(texts=corpora, vocab_size=st.integers(258, 320))
def test_same_merges_as_the_plain_greedy_trainer(pre_split, texts, vocab_size):
    tok = BPETokenizer.train(texts, vocab_size, pre_split=pre_split, show_progress=False)
    assert tok.merges == reference_train(texts, vocab_size, pre_split)
    assert tok.pre_split == pre_split
    assert tok.vocab_size <= vocab_size


@pytest.mark.parametrize("pre_split", ["none", "gpt2"])
def test_same_merges_as_the_plain_trainer_on_real_text(pre_split):
    lines = big_txt_lines()[:400]
    tok = BPETokenizer.train(lines, 330, pre_split=pre_split, show_progress=False)
    assert tok.vocab_size == 330
    assert tok.merges == reference_train(lines, 330, pre_split)


@pytest.mark.slow
@pytest.mark.parametrize("pre_split", ["none", "gpt2"])
def test_same_merges_as_the_plain_trainer_on_more_real_text(pre_split):
    lines = big_txt_lines()[:3000]
    tok = BPETokenizer.train(lines, 600, pre_split=pre_split, show_progress=False)
    assert tok.merges == reference_train(lines, 600, pre_split)


def test_vocabulary_stops_growing_when_no_pair_is_left():
    tok = BPETokenizer.train(["ab", "ab"], vocab_size=1000, show_progress=False)
    assert tok.merges == [(97, 98)]
    assert tok.vocab_size == 259 and tok.eot_token_id == 258


def test_special_token_text_is_never_learned():
    tok = BPETokenizer.train(["<|endoftext|>"] * 50 + ["<|pad|><|pad|>"] * 50, vocab_size=400, show_progress=False)
    assert tok.merges == []  # nothing but special-token text: nothing to learn
    mixed = BPETokenizer.train(["x<|endoftext|>y"] * 20, vocab_size=400, show_progress=False)
    assert mixed.merges == []  # "x" and "y" are cut apart, never a pair


def test_train_from_files_equals_train_on_their_lines(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_bytes("the cat sat\r\non the mat\n".encode())
    second.write_bytes("the hat\nthe end".encode())
    from_files = BPETokenizer.train_from_files([first, second], vocab_size=280, show_progress=False)
    lines = ["the cat sat\r\n", "on the mat\n", "the hat\n", "the end"]
    assert from_files.merges == BPETokenizer.train(lines, vocab_size=280, show_progress=False).merges
    assert BPETokenizer.train_from_files(str(first), vocab_size=270, show_progress=False).vocab_size > 258


@pytest.mark.parametrize("block_size", [1, 3, 7, 1 << 20])
def test_files_are_read_as_exact_lines_whatever_the_block_size(tmp_path, monkeypatch, block_size):
    monkeypatch.setattr(bpe_training, "_READ_BLOCK", block_size)
    lines = ["héllo 🎉 wörld\r\n", "\n", "a lone \r inside\n", "", "日本語\n", "no final newline"]
    path = tmp_path / "lines.txt"
    path.write_bytes("".join(lines).encode())
    units = [line for batch in bpe_training.text_units_from_files([path], show_progress=False) for line in batch]
    assert units == [line for line in lines if line]


def test_a_bad_byte_is_reported_on_its_line_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(bpe_training, "_READ_BLOCK", 4)
    path = tmp_path / "bad.txt"
    path.write_bytes(b"one\ntwo\nthree \xff\nfour\n")
    with pytest.raises(ValueError, match="bad.txt: line 3 is not UTF-8"):
        list(bpe_training.text_units_from_files([path], show_progress=False))


def test_train_from_files_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt: no such file"):
        BPETokenizer.train_from_files([tmp_path / "missing.txt"], vocab_size=300)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(ValueError, match="latin1.txt: line 2 is not UTF-8"):
        BPETokenizer.train_from_files([latin1], vocab_size=300, show_progress=False)


@pytest.mark.parametrize("vocab_size", [257, 0, "512", 300.0, True])
def test_vocab_size_is_checked(vocab_size):
    with pytest.raises(ValueError, match="vocab_size must be an int >= 258"):
        BPETokenizer.train(["abc"], vocab_size=vocab_size)


def test_bad_training_text_is_named():
    with pytest.raises(ValueError, match="training text 1 cannot be encoded as UTF-8"):
        BPETokenizer.train(["fine", "bad \ud800"], vocab_size=300, show_progress=False)
    with pytest.raises(TypeError, match="training text 0 must be a str"):
        BPETokenizer.train([b"bytes"], vocab_size=300, show_progress=False)
    with pytest.raises(ValueError, match="pre_split must be one of"):
        BPETokenizer.train(["abc"], vocab_size=300, pre_split="words")


def test_progress_bar_is_shown(capsys, tmp_path):
    BPETokenizer.train(["hello world"] * 3, vocab_size=270, show_progress=True)
    assert "BPE training" in capsys.readouterr().err
    path = tmp_path / "corpus.txt"
    path.write_text("hello world\n" * 3)
    BPETokenizer.train_from_files([path], vocab_size=270, show_progress=True)
    assert "BPE training" in capsys.readouterr().err
