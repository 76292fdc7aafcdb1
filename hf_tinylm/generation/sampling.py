"""Samplers: draw the next token from the distribution left by transformers' logits processors."""

import torch
from transformers import MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from .base import Generator


def _check_range(name: str, value, low: float, high: float, allowed: str, include_low: bool = True):
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or not (value >= low if include_low else value > low) or value > high:
        raise ValueError(f"{name}={value!r} is invalid; allowed: {allowed}")


def check_sampling_options(temperature=1.0, top_k=None, top_p=1.0, min_p=0.0, seed=None):
    """ValueError naming the first invalid sampling option; callers check before loading a model (the CLI)."""
    _check_range("temperature", temperature, 0.0, float("inf"), "a number >= 0 (0 means greedy)")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k={top_k!r} is invalid; allowed: None or a positive integer")
    _check_range("top_p", top_p, 0.0, 1.0, "a number in (0, 1] (1 means off)", include_low=False)
    _check_range("min_p", min_p, 0.0, 1.0, "a number in [0, 1] (0 means off)")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed={seed!r} is invalid; allowed: None or an integer")


class Sampler(Generator):
    """Samples the next token from the filtered distribution; every filter is an option.

    Options: ``temperature`` (1.0; 0 means greedy), ``top_k`` (None: off), ``top_p`` (1.0: off), ``min_p``
    (0.0: off), ``repetition_penalty`` (1.0: off), ``seed`` (None: torch's global generator). With a seed, every
    ``generate``/``stream``/``generate_ids`` call starts from that seed, so the same call gives the same text.
    Plus the ``Generator`` options (``stop``, ``eos_token_id``, ``ignore_eos``, ``decoder``, ``compile``).

    The filters are transformers' own processors, applied in ``model.generate()``'s order (repetition penalty,
    temperature, top-k, top-p, min-p), and the draw is ``torch.multinomial`` on their softmax, as there.
    """

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        temperature: float = 1.0,
        top_k: int = None,
        top_p: float = 1.0,
        min_p: float = 0.0,
        repetition_penalty: float = 1.0,
        seed: int = None,
        **options,
    ):
        super().__init__(model, tokenizer, repetition_penalty=repetition_penalty, **options)
        check_sampling_options(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, seed=seed)
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.min_p = min_p
        self.seed = seed

    def logits_processors(self, attention_mask: torch.Tensor = None):
        processors = super().logits_processors(attention_mask)
        if self.temperature == 0:  # greedy: only the repetition penalty applies
            return processors
        # Options at their "off" value add no processor, as in model.generate().
        if self.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(float(self.temperature)))
        if self.top_k is not None:
            processors.append(TopKLogitsWarper(self.top_k))
        if self.top_p < 1.0:
            processors.append(TopPLogitsWarper(self.top_p))
        if self.min_p > 0.0:
            processors.append(MinPLogitsWarper(float(self.min_p)))
        return processors

    def distribution(self, logits: torch.Tensor, input_ids: torch.Tensor = None) -> torch.Tensor:
        """The probabilities the next token is drawn from, [batch, vocab] (one-hot when temperature is 0).
        ``input_ids`` (prompt + ids so far) is needed only with a repetition penalty."""
        scores = self.process_logits(logits, input_ids)
        if self.temperature == 0:
            return torch.nn.functional.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
        return scores.softmax(dim=-1)

    def new_random_generator(self, seed=None):
        seed = self.seed if seed is None else seed
        if seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(seed)

    def select(self, scores: torch.Tensor, random_generator) -> torch.Tensor:
        if self.temperature == 0:
            return scores.argmax(dim=-1)
        probabilities = scores.softmax(dim=-1)
        return torch.multinomial(probabilities, 1, generator=random_generator).view(-1)


class TopKSampler(Sampler):
    """The original's sampler: temperature, then sample among the ``top_k`` most likely tokens (default 50)."""

    def __init__(self, model, tokenizer=None, *, top_k: int = 50, temperature: float = 1.0, **options):
        super().__init__(model, tokenizer, top_k=top_k, temperature=temperature, **options)


class TopPSampler(Sampler):
    """Nucleus sampling: sample among the most likely tokens holding ``top_p`` of the mass (default 0.9)."""

    def __init__(self, model, tokenizer=None, *, top_p: float = 0.9, temperature: float = 1.0, **options):
        super().__init__(model, tokenizer, top_p=top_p, temperature=temperature, **options)
