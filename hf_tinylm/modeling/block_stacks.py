"""Small stacks of TinyLM blocks living inside bigger models: byte encoders and decoders, thought encoders.

The stack's config comes from ``configuration_block_stack.block_config``. Kept flat: transformers copies this file
next to the saved weights of the experimental models.
"""

import torch
from torch import nn

from .configuration_block_stack import BLOCK_SECTION_DEFAULTS, STACK_POSITIONAL_ENCODINGS, block_config  # noqa: F401
from .configuration_tinylm import TinyLMConfig
from .positional_encoding import POSITIONAL_ENCODINGS, AttentionInputs
from .transformer_core import CORES


class BlockStack(nn.Module):
    """Positions (added or rotary) followed by ``num_layers`` pre-norm TinyLM blocks; no final norm."""

    def __init__(self, config: TinyLMConfig):
        super().__init__()
        self.config = config
        self.positional_encoding = POSITIONAL_ENCODINGS.get(config.positional_encoding_type)(config)
        self.core = CORES.get(config.core["core_type"])(config)

    def forward(self, hidden_states: torch.Tensor, attention_mask=None) -> torch.Tensor:
        """``hidden_states`` [n, length, width]; every row starts at position 0."""
        length = hidden_states.shape[1]
        position_ids = torch.arange(length, device=hidden_states.device).unsqueeze(0)
        hidden_states = self.positional_encoding.add_to_embeddings(hidden_states, position_ids)
        rotary = self.positional_encoding.rotation_factors(hidden_states, position_ids)
        return self.core(hidden_states, inputs=AttentionInputs(mask=attention_mask, rotary=rotary))
