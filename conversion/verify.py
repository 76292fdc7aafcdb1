"""Proof that a conversion changed nothing: the converted model's logits against its source's."""

import copy

import torch

from .errors import ParityError

# float32 logits of two implementations of one function differ by reduction order only: a few ulp of the largest
# logit. The tolerance is relative to max(1, max |logit|): real models' logits reach the tens, where a fixed 1e-5
# would fail on another CPU's kernels (a wrong norm epsilon, mask or rotation moves logits by 1e-4 and more).
LOGIT_TOLERANCE = 1e-5


def probe_input_ids(vocab_size: int, max_positions: int, batch: int = 2, length: int = 16, seed: int = 0):
    """A fixed random batch of token ids that fits any model of this vocabulary and context."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (batch, min(length, max_positions)), generator=generator)


def _float32(model):
    if all(p.dtype == torch.float32 for p in model.parameters()):
        return model
    return copy.deepcopy(model).float()


def _probe_for(source, input_ids):
    if input_ids is None:
        config = source.config
        input_ids = probe_input_ids(config.vocab_size, config.max_position_embeddings)
    return input_ids


def _eval_logits(model, input_ids):
    return _float32(model)(input_ids=input_ids, use_cache=False).logits


@torch.no_grad()
def source_logits(source, input_ids=None) -> torch.Tensor:
    """The float32 logits ``max_logit_difference`` compares against (computed in eval mode), to pass it as
    ``expected`` when one source is compared with several targets."""
    input_ids = _probe_for(source, input_ids)
    was_training = source.training
    try:
        source.eval()
        return _eval_logits(source, input_ids)
    finally:
        source.train(was_training)


@torch.no_grad()
def max_logit_difference(source, target, input_ids=None, expected=None) -> float:
    """max |logits(source) − logits(target)| in float32 (half-precision models are compared as float32 copies).

    ``expected``: the source's logits from ``source_logits(source, input_ids)``, so they are not computed again."""
    input_ids = _probe_for(source, input_ids)
    models = (source, target)
    was_training = [model.training for model in models]
    try:
        for model in models:
            model.eval()
        if expected is None:
            expected = _eval_logits(source, input_ids)
        got = _eval_logits(target, input_ids)
    finally:
        for model, training in zip(models, was_training):
            model.train(training)
    if expected.shape != got.shape:
        raise ParityError(f"converted model returns logits of shape {tuple(got.shape)}, its source "
                          f"{tuple(expected.shape)}")
    return (expected - got).abs().max().item()


def check_logit_parity(source, target, what: str, tolerance: float = LOGIT_TOLERANCE, input_ids=None,
                       expected=None) -> float:
    """Raise ``ParityError`` unless the two models' logits agree within ``tolerance`` × max(1, max |logit|);
    return the difference. ``expected``: the source's logits, as in ``max_logit_difference``."""
    if expected is None:
        expected = source_logits(source, input_ids)
    difference = max_logit_difference(source, target, input_ids, expected)
    allowed = tolerance * max(1.0, expected.abs().max().item())
    if not difference <= allowed:  # also catches NaN
        raise ParityError(
            f"{what}: logits differ from the source by {difference:.3g} (allowed {allowed:.3g}); the conversion is "
            f"wrong for this model, nothing was written; please report it with the model's config"
        )
    return difference
