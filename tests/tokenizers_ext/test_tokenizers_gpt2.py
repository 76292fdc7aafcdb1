"""GPT2Tokenizer: GPT-2's vocabulary offline, ids identical to tiktoken's gpt2 on any text."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_test_helpers import (
    EDGE_CASE_TEXTS,
    FEW_EXAMPLES,
    SOME_EXAMPLES,
    gpt2_data_dir,
    gpt2_tokenizer,
    tiktoken_gpt2_reference,
)

from tokenizers_ext import GPT2Tokenizer
from tokenizers_ext.gpt2_vocab import GPT2_FINGERPRINT, load_gpt2_vocab

ENGINES = ["tiktoken", "tokenizers"]
# Text built from the pieces GPT-2's regex treats specially: contractions, runs of spaces and
# newlines, digits, punctuation, letters with and without a leading space, non-Latin scripts.
REGEX_EDGE_TEXT = st.lists(
    st.sampled_from(
        ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'", " ", "  ", "\n", "\n\n", "\t", "\r\n", "a", "Hello",
         " world", "123", " 4", "!?", " ...", "é", "日本", " Ω", "🎉", "\u0301", "<|endoftext|>"]
    ),
    max_size=30,
).map("".join)


def test_hello_world_is_the_documented_ids():
    assert gpt2_tokenizer().encode("Hello world") == [15496, 995]


def test_special_ids_and_sizes_match_the_original():
    tok = gpt2_tokenizer()
    assert tok.eot_token_id == tok.pad_token_id == 50256
    assert tok.vocab_size == len(tok) == 50257
    assert tok.eos_token == tok.pad_token == "<|endoftext|>"


def test_auto_engine_is_tiktoken_for_the_real_gpt2_vocabulary():
    pytest.importorskip("tiktoken")
    assert gpt2_tokenizer().engine == "tiktoken"
    assert load_gpt2_vocab().fingerprint == GPT2_FINGERPRINT


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(text=st.text(max_size=200))
def test_ids_equal_tiktoken_on_any_text(engine, text):
    assert gpt2_tokenizer(engine).encode(text) == tiktoken_gpt2_reference().encode_ordinary(text)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(text=REGEX_EDGE_TEXT)
def test_ids_equal_tiktoken_on_regex_edge_cases(engine, text):
    assert gpt2_tokenizer(engine).encode(text) == tiktoken_gpt2_reference().encode_ordinary(text)


@pytest.mark.parametrize("engine", ENGINES)
def test_edge_case_texts_match_tiktoken_and_batches_match_singles(engine):
    tok, reference = gpt2_tokenizer(engine), tiktoken_gpt2_reference()
    expected = [reference.encode_ordinary(text) for text in EDGE_CASE_TEXTS]
    assert [tok.encode(text) for text in EDGE_CASE_TEXTS] == expected
    assert tok.encode_batch(EDGE_CASE_TEXTS) == expected
    assert tok.decode_batch(expected) == EDGE_CASE_TEXTS


def test_special_token_text_is_plain_text_everywhere():
    tok = gpt2_tokenizer()
    plain = tiktoken_gpt2_reference().encode_ordinary("a<|endoftext|>b")
    assert 50256 not in plain
    assert tok.encode("a<|endoftext|>b") == plain
    assert tok("a<|endoftext|>b")["input_ids"] == plain
    assert tok.encode("a<|endoftext|>b", add_special_tokens=True) == plain


@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(ids=st.lists(st.integers(0, 50256), max_size=40))
def test_decode_of_any_ids_agrees_between_engines(ids):
    # Arbitrary ids split UTF-8 sequences: both engines must replace the same bytes by U+FFFD.
    assert gpt2_tokenizer("tiktoken").decode(ids) == gpt2_tokenizer("tokenizers").decode(ids)


def test_loads_from_encoder_json_and_vocab_bpe():
    data = gpt2_data_dir()
    tok = GPT2Tokenizer(vocab_file=str(data / "encoder.json"), merges_file=str(data / "vocab.bpe"))
    assert tok.encode("Hello world") == [15496, 995]
    assert tok.engine == gpt2_tokenizer().engine


def test_loads_from_hugging_face_vocab_json_and_merges_txt(tmp_path):
    data = gpt2_data_dir()
    vocab = json.loads((data / "encoder.json").read_text(encoding="utf-8"))
    merges = (data / "vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges), encoding="utf-8")
    tok = GPT2Tokenizer(vocab_file=tmp_path / "vocab.json", merges_file=tmp_path / "merges.txt")
    text = "The tokenizer's ids don't depend on the file format: 42 ✓"
    assert tok.encode(text) == gpt2_tokenizer().encode(text)
    assert tok.engine == gpt2_tokenizer().engine


def _write_small_gpt2_style_files(tmp_path):
    vocab = {"a": 0, "b": 1, "Ġ": 2, "ab": 3, "Ġab": 4, "<|endoftext|>": 5}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nĠ ab\n", encoding="utf-8")
    return tmp_path / "vocab.json", tmp_path / "merges.txt"


def test_other_vocabularies_use_the_tokenizers_engine(tmp_path):
    vocab_file, merges_file = _write_small_gpt2_style_files(tmp_path)
    tok = GPT2Tokenizer(vocab_file=vocab_file, merges_file=merges_file)
    assert tok.engine == "tokenizers"
    assert tok.encode("ab ab") == [3, 4]
    assert tok.eot_token_id == tok.pad_token_id == 5
    with pytest.raises(ValueError, match="only exact for OpenAI's GPT-2"):
        GPT2Tokenizer(vocab_file=vocab_file, merges_file=merges_file, engine="tiktoken")


def test_bad_vocabulary_files_name_the_file(tmp_path):
    vocab_file, merges_file = _write_small_gpt2_style_files(tmp_path)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(vocab_file.read_text()[:20], encoding="utf-8")
    with pytest.raises(ValueError, match=r"truncated.json, .*merges.txt: corrupt or truncated .*EOF while parsing"):
        GPT2Tokenizer(vocab_file=truncated, merges_file=merges_file)
    bad_merges = tmp_path / "bad_merges.txt"
    bad_merges.write_text("#version: 0.2\na b\nab\n", encoding="utf-8")
    # tokenizers counts merge lines: the second merge ("ab") is the file's third line.
    with pytest.raises(ValueError, match=r"bad_merges.txt: corrupt or truncated .*invalid at line 2.*'first second'"):
        GPT2Tokenizer(vocab_file=vocab_file, merges_file=bad_merges)
    shared_id = tmp_path / "shared_id.json"
    shared_id.write_text(json.dumps({"a": 0, "b": 0, "<|endoftext|>": 1}), encoding="utf-8")
    with pytest.raises(ValueError, match="shared_id.json: two tokens share one id"):
        GPT2Tokenizer(vocab_file=shared_id, merges_file=merges_file)
    unknown = tmp_path / "unknown_token.txt"
    unknown.write_text("a b\nb zz\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown_token.txt.*do not fit together"):
        GPT2Tokenizer(vocab_file=vocab_file, merges_file=unknown)
    no_eot = tmp_path / "no_eot.json"
    no_eot.write_text(json.dumps({"a": 0, "b": 1, "ab": 2}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"no_eot.json, .*merges.txt: a GPT-2 vocabulary must contain '<\|endoftext\|>'"):
        GPT2Tokenizer(vocab_file=no_eot, merges_file=merges_file)
    with pytest.raises(FileNotFoundError, match="missing.txt: no such file"):
        GPT2Tokenizer(vocab_file=vocab_file, merges_file=tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="pass both vocab_file"):
        GPT2Tokenizer(vocab_file=vocab_file)
    with pytest.raises(ValueError, match="engine must be one of"):
        GPT2Tokenizer(engine="fast")


def test_same_ids_as_transformers_gpt2_tokenizer():
    from transformers import GPT2TokenizerFast

    data = gpt2_data_dir()
    theirs = GPT2TokenizerFast(vocab=str(data / "encoder.json"), merges=str(data / "vocab.bpe"))
    texts = [text for text in EDGE_CASE_TEXTS if "<|" not in text]  # theirs maps "<|endoftext|>" to 50256
    assert [theirs.encode(text) for text in texts] == gpt2_tokenizer().encode_batch(texts)


@settings(max_examples=FEW_EXAMPLES, deadline=None)
@given(texts=st.lists(st.text(max_size=50), max_size=6))
def test_encode_batch_equals_encode_one_by_one(texts):
    tok = gpt2_tokenizer()
    assert tok.encode_batch(texts) == [tok.encode(text) for text in texts]
