"""Proof that a conversion changed nothing: the converted model's logits against its source's."""

import copy

import torch

from .errors import ParityError

# float32 logits of two implementations of one function differ by reduction order only.
LOGIT_TOLERANCE = 1e-5


def probe_input_ids(vocab_size: int, max_positions: int, batch: int = 2, length: int = 16, seed: int = 0):
    """A fixed random batch of token ids that fits any model of this vocabulary and context."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (batch, min(length, max_positions)), generator=generator)


def _float32(model):
    if all(p.dtype == torch.float32 for p in model.parameters()):
        return model
    return copy.deepcopy(model).float()


@torch.no_grad()
def max_logit_difference(source, target, input_ids=None) -> float:
    """max |logits(source) − logits(target)| in float32 (half-precision models are compared as float32 copies)."""
    if input_ids is None:
        config = source.config
        input_ids = probe_input_ids(config.vocab_size, config.max_position_embeddings)
    models = (source, target)
    was_training = [model.training for model in models]
    try:
        for model in models:
            model.eval()
        expected, got = (_float32(model)(input_ids=input_ids, use_cache=False).logits for model in models)
    finally:
        for model, training in zip(models, was_training):
            model.train(training)
    if expected.shape != got.shape:
        raise ParityError(f"converted model returns logits of shape {tuple(got.shape)}, its source "
                          f"{tuple(expected.shape)}")
    return (expected - got).abs().max().item()


def check_logit_parity(source, target, what: str, tolerance: float = LOGIT_TOLERANCE, input_ids=None) -> float:
    """Raise ``ParityError`` unless the two models' logits agree within ``tolerance``; return the difference."""
    difference = max_logit_difference(source, target, input_ids)
    if not difference <= tolerance:  # also catches NaN
        raise ParityError(
            f"{what}: logits differ from the source by {difference:.3g} (allowed {tolerance:g}); the conversion is "
            f"wrong for this model, nothing was written; please report it with the model's config"
        )
    return difference
