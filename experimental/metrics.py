"""Bits per byte, now in ``hf_tinylm.evaluation.metrics``; this module re-exports it for existing imports."""

from hf_tinylm.evaluation.metrics import LN2, bits_per_byte, evaluate_bits_per_byte, token_negative_log_likelihood

__all__ = ["bits_per_byte", "token_negative_log_likelihood", "evaluate_bits_per_byte", "LN2"]
