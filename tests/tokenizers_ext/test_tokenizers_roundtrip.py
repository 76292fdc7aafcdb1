"""decode(encode(s)) == s for any Unicode text, on both tokenizers (and both GPT-2 engines)."""

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_test_helpers import EDGE_CASE_TEXTS, SOME_EXAMPLES, big_txt_lines, gpt2_tokenizer

from tokenizers_ext import BPETokenizer

TOKENIZERS = ["bpe", "bpe-gpt2-split", "gpt2-tiktoken", "gpt2-tokenizers"]

# Characters from the categories that break naive tokenizers: control characters, combining marks,
# right-to-left letters, format characters, astral-plane symbols, separators.
tricky_text = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Cc", "Cf", "Co", "Mn", "Me", "Zs", "Zl", "Zp", "Lo", "So", "Nd"]),
        st.characters(min_codepoint=0x10000),  # astral planes, assigned or not
        st.sampled_from("\u05d0\u05e9\u0627\u0644\u200f\u202e"),  # Hebrew, Arabic, RTL marks
    ),
    max_size=60,
)


@functools.lru_cache(maxsize=None)
def trained_bpe(pre_split: str) -> BPETokenizer:
    try:
        lines = big_txt_lines()[:300]
    except pytest.skip.Exception:
        lines = ["the quick brown fox jumps over the lazy dog\n"] * 20
    return BPETokenizer.train(lines + ["é🎉 שלום\u0301\n"] * 5, 400, pre_split=pre_split, show_progress=False)


def tokenizer(name: str):
    return {
        "bpe": lambda: trained_bpe("none"),
        "bpe-gpt2-split": lambda: trained_bpe("gpt2"),
        "gpt2-tiktoken": lambda: gpt2_tokenizer("tiktoken"),
        "gpt2-tokenizers": lambda: gpt2_tokenizer("tokenizers"),
    }[name]()


@pytest.mark.parametrize("name", TOKENIZERS)
@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(text=st.text(max_size=120))
def test_round_trip_any_text(name, text):
    tok = tokenizer(name)
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("name", TOKENIZERS)
@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(text=tricky_text)
def test_round_trip_control_combining_rtl_astral(name, text):
    tok = tokenizer(name)
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("name", TOKENIZERS)
def test_round_trip_edge_cases_single_and_batched(name):
    tok = tokenizer(name)
    assert [tok.decode(tok.encode(text)) for text in EDGE_CASE_TEXTS] == EDGE_CASE_TEXTS
    assert tok.decode_batch(tok.encode_batch(EDGE_CASE_TEXTS)) == EDGE_CASE_TEXTS
    assert tok.encode("") == []
