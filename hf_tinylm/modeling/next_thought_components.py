"""Next-thought components: the hierarchical encoder, the latent cores and the variable-length latent decoder."""

import torch
from torch import nn

from .activations import build_activation
from .attention import SelfAttention
from .block_stacks import BlockStack
from .normalization import build_normalization



def kept_token_count(length: int, fraction_dropped: float) -> int:
    """Tokens an attention-pooling layer keeps of ``length``: it drops ⌊fraction × length⌋ and keeps at least one."""
    return max(1, length - int(fraction_dropped * length + 1e-9))


def _norm(config, name: str, dim: int, bias: bool) -> nn.Module:
    return build_normalization(name, dim, bias, config.rms_norm_eps, config.layer_norm_eps)


class ProjectingFeedForward(nn.Module):
    """``linear_2(act(linear_1(x)))`` from width ``dim_in`` to ``dim_out``."""

    def __init__(self, dim_in: int, dim_hidden: int, dim_out: int, activation: str, bias: bool, field: str = None):
        super().__init__()
        self.linear_1 = nn.Linear(dim_in, dim_hidden, bias=bias)
        self.activation = build_activation(activation, field)  # errors name ``field`` (the config's) if given
        self.linear_2 = nn.Linear(dim_hidden, dim_out, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.activation(self.linear_1(x)))


class AttentionPoolingLayer(nn.Module):
    """Bidirectional attention, then drop the least-attended tokens, then an FFN that narrows the width.

    A token's score is the attention it receives, averaged over heads and over the queries that attend to it.
    The ``kept_token_count`` best-scored tokens stay, in their original order. The narrowing FFN has a linear
    skip path (widths differ, so a plain residual cannot be added).
    """

    def __init__(self, config, layer: int):
        super().__init__()
        spec = config.embedder
        dim_in, dim_out = spec["pooling_dims"][layer], spec["pooling_dims"][layer + 1]
        attention, ffn = spec["attention"], spec["ffn"]
        self.fraction_dropped = spec["pct_pool_per_layer"][layer]
        self.attn_norm = _norm(config, attention["normalization"], dim_in, attention["bias"])
        self.attn = SelfAttention(config.pooling_block_config(layer), layer_idx=0)
        self.ffn_norm = _norm(config, ffn["normalization"], dim_in, ffn["bias"])
        width = spec["pooling_ffn_ratio"] * dim_in
        self.ffn = ProjectingFeedForward(dim_in, width, dim_out, ffn["activation"], ffn["bias"])
        self.skip = nn.Linear(dim_in, dim_out, bias=False) if dim_in != dim_out else nn.Identity()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """[n, length, dim_in] → [n, kept, dim_out]."""
        attended, weights = self.attn(self.attn_norm(hidden_states))
        hidden_states = hidden_states + attended
        index = self.kept_indices(weights)
        hidden_states = hidden_states.gather(1, index.unsqueeze(-1).expand(-1, -1, hidden_states.shape[-1]))
        return self.skip(hidden_states) + self.ffn(self.ffn_norm(hidden_states))

    def kept_indices(self, weights: torch.Tensor) -> torch.LongTensor:
        """Attention weights [n, heads, queries, keys] → indices [n, kept] of the most-attended keys, in order."""
        received = weights.float().mean(dim=(1, 2))
        kept = kept_token_count(received.shape[-1], self.fraction_dropped)
        return received.topk(kept, dim=-1).indices.sort(dim=-1).values


class HierarchicalEncoder(nn.Module):
    """One thought (``thought_length`` token ids) → one latent vector.

    Token embeddings (shared with the decoder and, when tied, the output projection) → positions and
    ``embedder.num_layers`` bidirectional blocks → attention-pooling layers along ``pooling_dims`` → final norm →
    mean over the remaining tokens → projection to ``latent_dim``.
    """

    def __init__(self, config):
        super().__init__()
        spec = config.embedder
        self.thought_length = config.thought_length
        self.token_embedder = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = BlockStack(config.encoder_block_config())
        self.pooling = nn.ModuleList(AttentionPoolingLayer(config, layer) for layer in range(config.num_pooling_layers))
        width = spec["pooling_dims"][-1]
        self.norm = _norm(config, spec["attention"]["normalization"], width, spec["attention"]["bias"])
        self.to_latent = nn.Linear(width, config.latent_dim, bias=False)

    def forward(self, thought_ids: torch.LongTensor) -> torch.Tensor:
        """[n, thought_length] → [n, latent_dim]."""
        hidden_states = self.blocks(self.dropout(self.token_embedder(thought_ids)))
        for layer in self.pooling:
            hidden_states = layer(hidden_states)
        return self.to_latent(self.norm(hidden_states).mean(dim=1))


class BaselineLatentCore(ProjectingFeedForward):
    """The original's baseline: each latent on its own through Linear → activation → Linear (with bias).

    [..., latent_dim] (the latent of thought k) → [..., latent_dim] (the predicted thought k + 1).
    """

    def __init__(self, config):
        spec = config.core
        dim = config.latent_dim
        super().__init__(dim, spec["ffn_dim"], dim, spec["activation"], bias=True, field="core.activation")


class VariableLengthLatentDecoder(nn.Module):
    """A thought → ``latent_decoded_into`` prefix vectors, then causal blocks over the thought's tokens.

    Given the thought and the embeddings of its first t tokens, returns t + 1 hidden states: the one at the last
    prefix vector predicts token 0, the one at token i predicts token i + 1.
    """

    def __init__(self, config):
        super().__init__()
        self.prefix_length = config.latent_decoder["latent_decoded_into"]
        self.embedding_dim = config.embedding_dim
        self.prefix = nn.Linear(config.latent_dim, self.prefix_length * config.embedding_dim, bias=False)
        self.blocks = BlockStack(config.decoder_block_config())

    def forward(self, thoughts: torch.Tensor, token_embeddings: torch.Tensor) -> torch.Tensor:
        """thoughts [n, latent_dim], token_embeddings [n, t, embedding_dim] → [n, t + 1, embedding_dim]."""
        prefix = self.prefix(thoughts).view(thoughts.shape[0], self.prefix_length, self.embedding_dim)
        hidden_states = self.blocks(torch.cat([prefix.to(token_embeddings.dtype), token_embeddings], dim=1))
        return hidden_states[:, self.prefix_length - 1 :]
