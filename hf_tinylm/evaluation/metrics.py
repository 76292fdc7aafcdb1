"""Bits per byte: one measure for byte-level, token-level and next-thought models, whatever their tokenizer.

bits/byte = total negative log-likelihood of a text in nats / (its UTF-8 bytes × ln 2). Every model here is a
causal LM over token ids (the byte-level model scores GPT-2 tokens through their bytes), so the NLL is summed the
same way for all of them: ``evaluate_bits_per_byte`` tokenizes the text, scores every token from its left context
(each window of the text is preceded by an end-of-text id, so the first token is scored too) and divides by the
text's byte count, which does not depend on the tokenizer.
"""

import math

import torch

LN2 = math.log(2.0)


def bits_per_byte(total_nll_nats: float, n_bytes: int) -> float:
    """``total_nll_nats / (n_bytes · ln 2)``: the code length of a text per byte under the model."""
    if isinstance(n_bytes, bool) or not isinstance(n_bytes, int) or n_bytes <= 0:
        raise ValueError(f"n_bytes={n_bytes!r} is invalid; allowed: a positive integer")
    total = float(total_nll_nats)
    if not math.isfinite(total) or total < 0:
        raise ValueError(f"total_nll_nats={total_nll_nats!r} is invalid; allowed: a finite number >= 0")
    return total / (n_bytes * LN2)


def _start_id(tokenizer, start_id):
    if start_id is not None:
        return start_id
    for name in ("bos_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return value
    raise ValueError("the tokenizer has no beginning- or end-of-text id to start windows with; pass start_id")


def _default_window(model) -> int:
    config = getattr(model, "config", None)
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return min(int(context), 256) if context else 256


@torch.no_grad()
def token_negative_log_likelihood(model, token_ids, start_id: int, window: int, batch_size: int = 8) -> float:
    """Σ −ln p(token | earlier tokens of its window) over ``token_ids``, in nats.

    The ids are cut into windows of ``window − 1`` tokens, each run as ``[start_id] + window``; the model sees
    nothing across windows. Works for any model whose ``model(input_ids=, attention_mask=)`` returns ``.logits``.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window={window!r} is invalid; allowed: an integer >= 2")
    token_ids = [int(token) for token in token_ids]
    pieces = [token_ids[start : start + window - 1] for start in range(0, len(token_ids), window - 1)]
    device = next(model.parameters()).device
    was_training = getattr(model, "training", False)
    model.eval()
    total = 0.0
    try:
        for first in range(0, len(pieces), batch_size):
            batch = pieces[first : first + batch_size]
            width = 1 + max(len(piece) for piece in batch)
            ids = torch.full((len(batch), width), start_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, piece in enumerate(batch):
                ids[row, 1 : 1 + len(piece)] = torch.tensor(piece, dtype=torch.long)
                mask[row, : 1 + len(piece)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            log_probs = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            total -= float((log_probs * mask[:, 1:]).sum())
    finally:
        if was_training:
            model.train()
    return total


def evaluate_bits_per_byte(
    model, tokenizer, text: str, window: int = None, start_id: int = None, batch_size: int = 8
) -> dict:
    """{"nll_nats", "tokens", "bytes", "loss" (nats per token), "bits_per_byte"} of ``model`` on ``text``.

    ``tokenizer`` must be lossless on ``text`` (GPT-2's is), so that the scored tokens spell exactly its bytes.
    """
    token_ids = list(tokenizer.encode(text, add_special_tokens=False))
    if not token_ids:
        raise ValueError("text is empty after tokenization")
    window = _default_window(model) if window is None else window
    nll = token_negative_log_likelihood(model, token_ids, _start_id(tokenizer, start_id), window, batch_size)
    n_bytes = len(text.encode("utf-8"))
    return {
        "nll_nats": nll,
        "tokens": len(token_ids),
        "bytes": n_bytes,
        "loss": nll / len(token_ids),
        "bits_per_byte": bits_per_byte(nll, n_bytes),
    }


__all__ = ["bits_per_byte", "token_negative_log_likelihood", "evaluate_bits_per_byte", "LN2"]
