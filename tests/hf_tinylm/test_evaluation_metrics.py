"""Bits per byte (hf_tinylm.evaluation.metrics): the formula, and every token scored once from its own window."""

import math

import pytest
import torch

import experimental.metrics
from hf_tinylm import TinyLMConfig, TinyLMForCausalLM
from hf_tinylm.evaluation import metrics
from hf_tinylm.evaluation.metrics import bits_per_byte, token_negative_log_likelihood


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


def test_windows_score_every_token_once_from_its_own_context():
    torch.manual_seed(0)
    config = TinyLMConfig(
        vocab_size=64, hidden_size=16, max_position_embeddings=16,
        core={"num_layers": 1, "attention": {"num_heads": 2, "group_size": 1}, "ffn": {"ffn_dim": 32}},
    )
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


def test_experimental_metrics_re_exports_the_same_functions():
    for name in metrics.__all__:
        assert getattr(experimental.metrics, name) is getattr(metrics, name)
