"""Byte-level components: the embedder that reads a token through its bytes and the decoder that writes them.

Both work on a table ``token_bytes`` [vocab_size, byte_context_window]: the bytes of every token id, padded with
the pad byte (and cut at ``byte_context_window``, as in the original). The table is computed from the
tokenizer's vocabulary when the model is built (``token_bytes_table``) and saved with the weights, so a saved
model runs without its tokenizer.
"""

import torch
from torch import nn

from .block_stacks import BlockStack
from .embedder import GenericEmbedder
from .normalization import build_normalization

TOKEN_BYTES_DTYPE = torch.int16
# Up to this many positions, token logits gather [n, vocab, slots] directly instead of summing slot by slot.
SMALL_BATCH = 8


# ---- token id -> bytes -----------------------------------------------------------------------------------------
def _byte_level_alphabet() -> dict:
    """GPT-2's printable spelling of bytes, inverted: {character: byte}. Byte-level BPE vocabularies use it."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    spelling = {byte: chr(byte) for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in spelling:
            spelling[byte] = chr(256 + shifted)
            shifted += 1
    return {character: byte for byte, character in spelling.items()}


def token_to_bytes(tokenizer, token_id: int, token: str, alphabet: dict) -> bytes:
    """A token's bytes: byte-level spellings are read exactly, anything else is decoded as UTF-8 text."""
    if token:
        try:
            return bytes([alphabet[character] for character in token])
        except KeyError:
            pass
    return tokenizer.decode([token_id]).encode("utf-8")


def token_bytes_table(tokenizer, vocab_size: int, byte_context_window: int, pad_id: int, eot_id: int) -> torch.Tensor:
    """[vocab_size, byte_context_window] byte ids of every token; special tokens read as the end-of-text byte.

    Ids the tokenizer does not have (a vocabulary padded past its length) are all pad bytes.
    """
    count = min(vocab_size, len(tokenizer))
    special = set(getattr(tokenizer, "all_special_ids", None) or [])
    tokens = tokenizer.convert_ids_to_tokens(list(range(count)))
    alphabet = _byte_level_alphabet()
    padding = [pad_id] * byte_context_window
    flat = []
    for token_id, token in enumerate(tokens):
        data = [eot_id] if token_id in special else list(token_to_bytes(tokenizer, token_id, token, alphabet))
        flat.extend(data[:byte_context_window])
        flat.extend(padding[: max(0, byte_context_window - len(data))])
    flat.extend(padding * (vocab_size - count))
    return torch.tensor(flat, dtype=TOKEN_BYTES_DTYPE).reshape(vocab_size, byte_context_window)


class _SumOverSlots(torch.autograd.Function):
    """logits[v, n] = Σ_slot log_probs[index[v, slot], n]: ``embedding_bag`` forward, a sort-free backward.

    ``embedding_bag``'s own backward sorts the vocabulary × slots indices on every call; the index here is a
    fixed table, so adding each slot's gradient rows back with ``index_add_`` is several times faster.
    """

    @staticmethod
    def forward(ctx, log_probs_t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.rows = log_probs_t.shape[0]
        return nn.functional.embedding_bag(index, log_probs_t, mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (index,) = ctx.saved_tensors
        grad = grad.contiguous()
        grad_log_probs = grad.new_zeros(ctx.rows, grad.shape[1])
        for slot in range(index.shape[1]):
            grad_log_probs.index_add_(0, index[:, slot], grad)
        return grad_log_probs, None


def token_logits_from_bytes(byte_logits: torch.Tensor, token_bytes: torch.Tensor) -> torch.Tensor:
    """Logit of each token = Σ over slots of log p(its byte in that slot); [..., slots, bytes] → [..., vocab].

    The decoder predicts the slots independently given the latent, so this is the log-probability of the token's
    padded byte string; a softmax over it renormalises onto the token vocabulary. The sum runs over the
    flattened (slot, byte) log-probabilities and never materialises [..., slots, vocab].
    """
    leading, (slots, byte_vocab) = byte_logits.shape[:-2], byte_logits.shape[-2:]
    log_probs = torch.log_softmax(byte_logits.float(), dim=-1).reshape(-1, slots * byte_vocab)
    offsets = torch.arange(slots, device=token_bytes.device) * byte_vocab
    flat_index = token_bytes.long() + offsets  # column of (slot, byte) in the flattened log-probabilities
    if log_probs.shape[0] <= SMALL_BATCH:
        # A few positions (generation): a direct gather, [n, vocab, slots], is fastest.
        logits = log_probs[:, flat_index].sum(dim=-1)
    else:
        logits = _SumOverSlots.apply(log_probs.t().contiguous(), flat_index).t().contiguous()  # [n, vocab]
    return logits.reshape(*leading, token_bytes.shape[0])


# ---- the embedder ----------------------------------------------------------------------------------------------
class ByteLevelEmbedder(GenericEmbedder):
    """Token id → its bytes → byte embeddings + learned slot positions → bidirectional blocks → mean → latent.

    Keeps GenericEmbedder's text interface (tokenize_input, decode, pad_batch, truncate); the model adds its
    token-level positions to the pooled vectors, as to token embeddings.
    """

    def __init__(self, config):
        nn.Module.__init__(self)  # GenericEmbedder's token table is replaced by the byte encoder
        self.context_window = config.max_position_embeddings
        self.pad_byte = config.byte_pad_id
        self.eot_byte = config.byte_eot_id
        self.register_buffer(
            "token_bytes",
            torch.full((config.vocab_size, config.byte_context_window), config.byte_pad_id, dtype=TOKEN_BYTES_DTYPE),
        )
        self.byte_embedding = nn.Embedding(config.byte_vocab_size, config.byte_embedding_dim)
        self.byte_positions = nn.Embedding(config.byte_context_window, config.byte_embedding_dim)
        self.blocks = BlockStack(config.block_config("byte_embedder"))
        norm = config.byte_embedder["attention"]
        self.norm = build_normalization(
            norm["normalization"], config.byte_embedding_dim, norm["bias"], config.rms_norm_eps, config.layer_norm_eps
        )
        self.projection = nn.Linear(config.byte_embedding_dim, config.hidden_size, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        # GenericEmbedder.__init__ is skipped above, so set what its text interface reads: attached_tokenizer()
        # finds the tokenizer saved beside a loaded model through config.name_or_path.
        self.config = config
        self.tokenizer = None
        self._has_token_bytes = False

    # ---- the table ---------------------------------------------------------------------------------------------
    @property
    def has_token_bytes(self) -> bool:
        """False until a table was set (a fresh model without tokenizer has only pad bytes)."""
        if not self._has_token_bytes:  # only a positive answer is remembered: loading fills the buffer directly
            self._has_token_bytes = bool((self.token_bytes[:, 0] != self.pad_byte).any())
        return self._has_token_bytes

    def set_token_bytes(self, table: torch.Tensor):
        if tuple(table.shape) != tuple(self.token_bytes.shape):
            raise ValueError(
                f"token_bytes has shape {tuple(table.shape)}; allowed: {tuple(self.token_bytes.shape)} "
                f"(vocab_size, byte_context_window)"
            )
        with torch.no_grad():
            self.token_bytes.copy_(table.to(self.token_bytes.device, TOKEN_BYTES_DTYPE))
        self._has_token_bytes = False

    def set_tokenizer(self, tokenizer):
        """Attach the tokenizer; a model without a byte table takes it from the tokenizer's vocabulary."""
        if tokenizer is None:  # nothing to attach (attached_tokenizer() on a folder saved without one)
            super().set_tokenizer(None)
            return
        table = token_bytes_table(tokenizer, *self.token_bytes.shape, self.pad_byte, self.eot_byte)
        if not self.has_token_bytes:
            self.set_token_bytes(table)
        elif not torch.equal(table.to(self.token_bytes.device), self.token_bytes):
            raise ValueError(
                "this tokenizer spells its tokens differently from the byte table the model was built with; "
                "use the tokenizer the model was trained with"
            )
        super().set_tokenizer(tokenizer)

    def _require_token_bytes(self):
        if not self.has_token_bytes:
            raise ValueError(
                "this byte-level model has no token → bytes table yet; build it with "
                "experimental.byte_level.build_byte_model(config, tokenizer) or call model.set_tokenizer(tokenizer)"
            )

    # ---- encoding ----------------------------------------------------------------------------------------------
    def encode_bytes(self, byte_ids: torch.LongTensor) -> torch.Tensor:
        """[n, byte_context_window] byte ids → [n, hidden_size] token vectors."""
        hidden = self.byte_embedding(byte_ids) + self.byte_positions.weight.to(self.byte_embedding.weight.dtype)
        hidden = self.norm(self.blocks(self.dropout(hidden)))
        real = (byte_ids != self.pad_byte).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * real).sum(dim=1) / real.sum(dim=1).clamp(min=1.0)
        return self.projection(pooled)

    def encode_tokens(self, input_ids: torch.LongTensor) -> torch.Tensor:
        """[batch, seq] token ids → [batch, seq, hidden_size]; each distinct token is encoded once per call."""
        self._require_token_bytes()
        unique_ids, inverse = torch.unique(input_ids, return_inverse=True)
        vectors = self.encode_bytes(self.token_bytes[unique_ids].long())
        return vectors[inverse]

    def forward(self, input_ids=None, inputs_embeds=None) -> torch.Tensor:
        return self.encode_tokens(input_ids) if inputs_embeds is None else inputs_embeds


# ---- the decoder (LM head) -------------------------------------------------------------------------------------
class ByteLevelDecoder(nn.Module):
    """Latent → ``byte_context_window`` byte slots → bidirectional blocks → byte logits → token logits.

    ``norm`` is the model's final norm (the core has none of its own, as for TinyLM's head).
    """

    def __init__(self, config):
        super().__init__()
        head = config.head
        self.byte_context_window = config.byte_context_window
        self.byte_embedding_dim = config.byte_embedding_dim
        self.norm = build_normalization(
            head["normalization"], config.hidden_size, head["bias"], config.rms_norm_eps, config.layer_norm_eps
        )
        slots_width = config.byte_context_window * config.byte_embedding_dim
        self.projection = nn.Linear(config.hidden_size, slots_width, bias=False)
        self.blocks = BlockStack(config.block_config("byte_decoder"))
        norm = config.byte_decoder["attention"]
        self.byte_norm = build_normalization(
            norm["normalization"], config.byte_embedding_dim, norm["bias"], config.rms_norm_eps, config.layer_norm_eps
        )
        self.byte_head = nn.Linear(config.byte_embedding_dim, config.byte_vocab_size, bias=False)

    def byte_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """[..., hidden_size] → [..., byte_context_window, byte_vocab_size]."""
        leading = hidden_states.shape[:-1]
        slots = self.projection(self.norm(hidden_states))
        slots = slots.reshape(-1, self.byte_context_window, self.byte_embedding_dim)
        logits = self.byte_head(self.byte_norm(self.blocks(slots)))
        return logits.reshape(*leading, self.byte_context_window, logits.shape[-1])

    def forward(self, hidden_states: torch.Tensor, token_bytes: torch.Tensor):
        """(token logits [..., vocab_size] in float32, byte logits [..., slots, byte_vocab_size])."""
        byte_logits = self.byte_logits(hidden_states)
        return token_logits_from_bytes(byte_logits, token_bytes), byte_logits
