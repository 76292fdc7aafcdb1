"""Embedders: text → token ids (when a tokenizer is attached) → dense vectors.

Positions are not the embedder's: the model owns its positional scheme and adds absolute positions (if any) to
what the embedder returns.

The seed's embedder interface is ``tokenize_input``, ``decode``, ``pad_batch`` and ``truncate``; they need a
tokenizer, which is attached with ``set_tokenizer`` (``TinyLMForCausalLM.from_pretrained`` attaches the one saved
with the model when there is one). The tensor path (``forward``) never needs it.
"""

import os

import torch
from torch import nn

from .configuration_tinylm import TOKENIZER_TYPES  # noqa: F401 (re-exported: where it used to live)


# Files that mark a folder as holding a transformers tokenizer.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class GenericEmbedder(nn.Module):
    """Token embedding, plus the seed's text interface through an attached tokenizer."""

    def __init__(self, config):
        super().__init__()
        self.context_window = config.max_position_embeddings
        self.token_embedder = nn.Embedding(config.vocab_size, config.hidden_size)
        self.config = config
        self.tokenizer = None

    def forward(self, input_ids=None, inputs_embeds=None) -> torch.Tensor:
        return self.token_embedder(input_ids) if inputs_embeds is None else inputs_embeds

    # ---- the seed's text interface -----------------------------------------------------------------------
    def set_tokenizer(self, tokenizer):
        # Stored outside the module registry: a tokenizer is not an nn.Module and has no state_dict.
        object.__setattr__(self, "tokenizer", tokenizer)

    def attached_tokenizer(self):
        """The attached tokenizer; a model loaded from a folder finds the one saved beside it on first use."""
        if self.tokenizer is None:
            found = saved_tokenizer(self.config)
            if found is not None:
                self.set_tokenizer(found)
        return self.tokenizer

    def _require_tokenizer(self):
        tokenizer = self.attached_tokenizer()
        if tokenizer is None:
            raise ValueError(
                "this embedder has no tokenizer attached; call model.set_tokenizer(tokenizer) "
                "or load a model folder that contains one"
            )
        return tokenizer

    def tokenize_input(self, text: str, truncate: bool = False, add_eot: bool = False) -> list:
        tokenizer = self._require_tokenizer()
        ids = list(tokenizer.encode(text, add_special_tokens=False))
        if add_eot:
            ids.append(_end_of_text_id(tokenizer))
        return self.truncate([ids])[0] if truncate else ids

    def decode(self, token_ids) -> str:
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        return self._require_tokenizer().decode(token_ids)

    def truncate(self, token_lists: list) -> list:
        """Keep the most recent ``context_window`` tokens of each sequence (what a causal model can still see)."""
        return [list(ids)[-self.context_window :] for ids in token_lists]

    def pad_batch(self, token_lists: list, direction: str = "right"):
        """Pad to a rectangle; returns (ids [b, s] long, attention mask [b, s] long with 1 on real tokens)."""
        if direction not in ("left", "right"):
            raise ValueError(f"direction={direction!r} is invalid; allowed: 'left', 'right'")
        tokenizer = self._require_tokenizer()
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else _end_of_text_id(tokenizer)
        return pad_token_lists(token_lists, pad_id, direction)


def saved_tokenizer(config):
    """The tokenizer saved beside the model ``config`` was loaded from (``config.name_or_path``), else None."""
    folder = getattr(config, "name_or_path", None)
    if folder and any(os.path.isfile(os.path.join(folder, name)) for name in _TOKENIZER_FILES):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(folder)
    return None


def pad_token_lists(token_lists: list, pad_id: int, direction: str):
    """(ids [b, s] long padded with ``pad_id``, attention mask [b, s] long with 1 on real tokens).

    ``direction`` ('left' or 'right') is the side the padding goes on; callers check it.
    """
    width = max((len(ids) for ids in token_lists), default=0)
    ids = torch.full((len(token_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_lists), width), dtype=torch.long)
    for row, tokens in enumerate(token_lists):
        if len(tokens):
            span = slice(width - len(tokens), width) if direction == "left" else slice(0, len(tokens))
            ids[row, span] = torch.as_tensor(list(tokens), dtype=torch.long)
            mask[row, span] = 1
    return ids, mask


def _end_of_text_id(tokenizer) -> int:
    for name in ("eot_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return value
    raise ValueError("the attached tokenizer has neither eot_token_id nor eos_token_id")
