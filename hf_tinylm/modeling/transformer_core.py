"""Transformer cores: pre-norm residual blocks stacked generically, or with one FFN shared by every layer."""

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .attention import SelfAttention
from .component_registry import CORES, FEED_FORWARDS
from .feed_forward import GenericFeedForward, SwiGLUFeedForward  # noqa: F401 (registers the feed-forward kinds)
from .normalization import build_normalization


def build_feed_forward(config) -> nn.Module:
    spec = config.core["ffn"]
    return FEED_FORWARDS.get(spec["ffn_type"])(config.hidden_size, spec["ffn_dim"], spec["bias"], spec["activation"])


class TransformerBlock(GradientCheckpointingLayer):
    """``x = x + attn(attn_norm(x)); x = x + ffn(ffn_norm(x))``."""

    def __init__(self, config, layer_idx: int, ffn: nn.Module = None):
        super().__init__()
        attention, ffn_spec = config.core["attention"], config.core["ffn"]
        norm_eps = (config.rms_norm_eps, config.layer_norm_eps)
        self.attn_norm = build_normalization(attention["normalization"], config.hidden_size, attention["bias"], *norm_eps)
        self.attn = SelfAttention(config, layer_idx)
        self.ffn_norm = build_normalization(ffn_spec["normalization"], config.hidden_size, ffn_spec["bias"], *norm_eps)
        self.ffn = ffn if ffn is not None else build_feed_forward(config)

    def forward(self, hidden_states: torch.Tensor, inputs=None, cache=None, **kwargs) -> torch.Tensor:
        """``inputs``: the positional scheme's ``AttentionInputs`` for this forward call."""
        attended, _ = self.attn(self.attn_norm(hidden_states), inputs, cache=cache, **kwargs)
        hidden_states = hidden_states + attended
        return hidden_states + self.ffn(self.ffn_norm(hidden_states))


@CORES.register("generic")
class GenericTransformerCore(nn.Module):
    """A stack of independent blocks, ``h.0`` … ``h.{n-1}``."""

    def __init__(self, config):
        super().__init__()
        self.h = nn.ModuleList(self._build_blocks(config))

    def _build_blocks(self, config):
        return [TransformerBlock(config, i) for i in range(config.num_hidden_layers)]

    def shared_weight_keys(self) -> dict:
        """{parameter name: name of the parameter it is the same tensor as}, relative to this module."""
        return {}

    def forward(self, hidden_states, all_hidden_states: list = None, **block_kwargs) -> torch.Tensor:
        for block in self.h:
            # Hidden states go positionally: gradient checkpointing re-runs the block with positional args.
            hidden_states = block(hidden_states, **block_kwargs)
            if all_hidden_states is not None:
                all_hidden_states.append(hidden_states)
        return hidden_states


@CORES.register("generic_ffn_sharing")
class FFNSharingTransformerCore(GenericTransformerCore):
    """Every block uses block 0's FFN module, so the FFN weights are stored and trained once."""

    def __init__(self, config):
        super().__init__(config)
        # transformers' save path reads this to store the shared tensors once (and its load path to re-tie them).
        self._tied_weights_keys = self.shared_weight_keys()

    def _build_blocks(self, config):
        shared_ffn = build_feed_forward(config)
        return [TransformerBlock(config, i, ffn=shared_ffn) for i in range(config.num_hidden_layers)]

    def shared_weight_keys(self) -> dict:
        return {
            f"h.{layer}.ffn.{name}": f"h.0.ffn.{name}"
            for layer in range(1, len(self.h))
            for name, _ in self.h[0].ffn.named_parameters()
        }
