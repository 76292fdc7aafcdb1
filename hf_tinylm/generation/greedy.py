"""Greedy decoding: always the most likely next token (after the optional repetition penalty)."""

import torch

from .base import Generator


class GreedyGenerator(Generator):
    """Deterministic: the same prompt always gives the same completion, the one ``model.generate()`` gives
    with ``do_sample=False``. Options: those of ``Generator``."""

    def process_logits(self, logits: torch.Tensor, input_ids: torch.Tensor = None, processors=None) -> torch.Tensor:
        if processors is None:
            processors = self.logits_processors()
        # The argmax of bfloat16 logits is the argmax of their float32 copy: skip the copy when nothing else applies.
        return super().process_logits(logits, input_ids, processors) if processors else logits

    def select(self, scores: torch.Tensor, random_generator) -> torch.Tensor:
        return scores.argmax(dim=-1)
