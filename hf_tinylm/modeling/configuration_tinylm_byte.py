"""``TinyLMByteConfig``: a TinyLM that reads and writes each token through its bytes (model_type ``"tinylm_byte"``).

Tokens are still GPT-2 (or any byte-level BPE) tokens and the core is TinyLM's (``core`` section, positions,
sizes); around it:
- the byte-level embedder: a token's bytes, padded to ``byte_context_window`` slots, are embedded
  (``byte_embedding_dim``) with learned slot positions, run through small bidirectional blocks
  (``byte_embedder``) and mean-pooled over the real bytes to one ``hidden_size`` vector;
- the byte-level decoder (the head): each latent is projected to ``byte_context_window`` byte slots, run through
  bidirectional blocks (``byte_decoder``) and a byte head; a token's logit is the sum over slots of the
  log-probability of its byte (or of the pad byte past its end), so the logits are an ordinary distribution over
  the token vocabulary;
- an auxiliary reconstruction loss: the decoder also reads back each token's own bytes from the embedder's
  output, weighted by ``reconstruction_loss_weight``.

Byte ids follow the original byte tokenizer (a BPE tokenizer without merges): 0-255 are raw bytes,
``byte_vocab_size - 2`` is the pad byte and ``byte_vocab_size - 1`` end-of-text (258 ids in all).
"""

from .configuration_block_stack import BLOCK_SECTION_DEFAULTS, block_config
from .configuration_tinylm import TinyLMConfig, merge_section, require_positive_int
from .validation import require_number

BYTE_EMBEDDER_TYPES = ("byte_level",)
BYTE_HEAD_TYPES = ("byte_level",)
BYTE_TOKENIZER_TYPES = ("bpe",)
# Raw bytes 0-255, then pad and end-of-text.
MIN_BYTE_VOCAB_SIZE = 258

# The original's byte blocks: 8 heads, a GELU MLP 4x wide, RMSNorm, no bias.
BYTE_BLOCK_DEFAULTS = {
    **BLOCK_SECTION_DEFAULTS,
    "attention": {"num_heads": 8, "group_size": 1, "normalization": "rms_norm", "bias": False},
    "ffn": {"ffn_type": "generic", "ffn_dim": None, "activation": "gelu", "normalization": "rms_norm", "bias": False},
}


class TinyLMByteConfig(TinyLMConfig):
    model_type = "tinylm_byte"
    # The byte-level embedder and head are not in TinyLM's registries; validate() checks them itself.
    NAMED_CHOICES = {
        path: registry
        for path, registry in TinyLMConfig.NAMED_CHOICES.items()
        if path not in (("embedder", "embedder_type"), ("head", "head_type"))
    }

    def __init__(
        self,
        byte_vocab_size: int = 258,
        byte_context_window: int = 12,
        byte_embedding_dim: int = 128,
        byte_embedder: dict = None,
        byte_decoder: dict = None,
        byte_tokenizer_type: str = "bpe",
        reconstruction_loss_weight: float = 1.0,
        embedder: dict = None,
        head: dict = None,
        tie_word_embeddings: bool = False,
        **kwargs,
    ):
        self.byte_vocab_size = byte_vocab_size
        self.byte_context_window = byte_context_window
        self.byte_embedding_dim = byte_embedding_dim
        self.byte_embedder = merge_section("byte_embedder", BYTE_BLOCK_DEFAULTS, byte_embedder)
        self.byte_decoder = merge_section("byte_decoder", BYTE_BLOCK_DEFAULTS, byte_decoder)
        # A stored config has the FFN size resolved; a fresh one gets the original's 4x.
        for section in (self.byte_embedder, self.byte_decoder):
            if section["ffn"]["ffn_dim"] is None and isinstance(byte_embedding_dim, int):
                section["ffn"]["ffn_dim"] = 4 * byte_embedding_dim
        self.byte_tokenizer_type = byte_tokenizer_type
        self.reconstruction_loss_weight = reconstruction_loss_weight
        embedder = {"embedder_type": "byte_level", **(embedder or {})}
        head = {"head_type": "byte_level", **(head or {})}
        # With tying, the byte head reuses the byte embedding table (both are byte_vocab_size x byte_embedding_dim).
        super().__init__(embedder=embedder, head=head, tie_word_embeddings=tie_word_embeddings, **kwargs)

    @property
    def byte_pad_id(self) -> int:
        return self.byte_vocab_size - 2

    @property
    def byte_eot_id(self) -> int:
        return self.byte_vocab_size - 1

    def block_config(self, name: str) -> TinyLMConfig:
        """The config of the ``byte_embedder`` or ``byte_decoder`` blocks (bidirectional, no positions of their own)."""
        return block_config(
            name,
            getattr(self, name),
            hidden_size=self.byte_embedding_dim,
            is_causal=False,
            parent=self,
            width_field="byte_embedding_dim",
        )

    def validate(self):
        require_positive_int("byte_vocab_size", self.byte_vocab_size)
        if self.byte_vocab_size < MIN_BYTE_VOCAB_SIZE:
            raise ValueError(
                f"byte_vocab_size={self.byte_vocab_size} is invalid; allowed: at least {MIN_BYTE_VOCAB_SIZE} "
                f"(256 bytes, pad, end-of-text)"
            )
        require_positive_int("byte_context_window", self.byte_context_window)
        require_positive_int("byte_embedding_dim", self.byte_embedding_dim)
        if self.byte_tokenizer_type not in BYTE_TOKENIZER_TYPES:
            raise ValueError(
                f"byte_tokenizer_type={self.byte_tokenizer_type!r} is invalid; allowed: {', '.join(BYTE_TOKENIZER_TYPES)}"
            )
        require_number("reconstruction_loss_weight", self.reconstruction_loss_weight, low=0)
        for field, value, allowed in (
            ("embedder.embedder_type", self.embedder["embedder_type"], BYTE_EMBEDDER_TYPES),
            ("head.head_type", self.head["head_type"], BYTE_HEAD_TYPES),
        ):
            if value not in allowed:
                raise ValueError(f"{field}={value!r} is not a byte-level component; allowed: {', '.join(allowed)}")
        for name in ("byte_embedder", "byte_decoder"):
            self.block_config(name)
        super().validate()  # everything else is TinyLM's to check, against NAMED_CHOICES above

    # ---- the original project's config format -------------------------------------------------------------
    @classmethod
    def from_stlm(cls, model_cfg, **kwargs) -> "TinyLMByteConfig":
        """Build from the ``model:`` section of an original byte-level STLM config (dict or OmegaConf DictConfig)."""
        try:  # the original-format readers live outside the modeling set
            from hf_tinylm.stlm_experimental_config import stlm_byte_to_kwargs
        except ImportError as error:
            raise ImportError("reading or writing original STLM configs needs the hf_tinylm package") from error

        return cls(**{**stlm_byte_to_kwargs(model_cfg), **kwargs})

    def to_stlm(self) -> dict:
        try:  # the original-format readers live outside the modeling set
            from hf_tinylm.stlm_experimental_config import byte_config_to_stlm
        except ImportError as error:
            raise ImportError("reading or writing original STLM configs needs the hf_tinylm package") from error

        return byte_config_to_stlm(self)
