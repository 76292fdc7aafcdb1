"""Logit filters: repetition penalty, top-k, top-p (nucleus) and min-p, on [batch, vocab] float logits.

A filtered-out token gets ``-inf``. ``Sampler`` applies them in transformers' order — repetition penalty,
temperature, top-k, top-p, min-p — so a setting means here what it means in ``model.generate()``.
"""

import torch


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's penalty (Keskar et al. 2019): a token already in the context has its logit divided by ``penalty``
    when positive and multiplied by it when negative, so ``penalty > 1`` always makes it less likely.

    ``seen`` is a [batch, vocab] boolean table of the tokens in each row's prompt (padding excluded) and output.
    """
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep the ``top_k`` highest logits of each row (and any tied with the k-th)."""
    if top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus sampling (Holtzman et al. 2020): keep the most probable tokens until their total reaches ``top_p``.

    A token is kept when the tokens more probable than it hold less than ``top_p`` of the mass, so the most
    probable token always survives and the kept set is the smallest whose total is at least ``top_p``.
    """
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probabilities = sorted_logits.softmax(dim=-1)
    mass_before = probabilities.cumsum(dim=-1) - probabilities
    remove_sorted = mass_before >= top_p
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Min-p (Nguyen et al. 2024): drop tokens less probable than ``min_p`` times the most probable one."""
    if min_p <= 0.0:
        return logits
    probabilities = logits.softmax(dim=-1)
    threshold = min_p * probabilities.max(dim=-1, keepdim=True).values
    return logits.masked_fill(probabilities < threshold, float("-inf"))
