"""``TinyLMNextThoughtConfig``: a model that predicts the next latent "thought" (model_type ``"tinylm_next_thought"``).

The text is cut into thoughts of ``thought_length`` tokens. Each complete thought is encoded into one latent
vector (``latent_dim``) by the hierarchical encoder (``embedder``: token embeddings of width ``embedding_dim``,
``num_layers`` bidirectional blocks, then attention-pooling layers that drop the least-attended tokens and narrow
the width along ``pooling_dims``, then a mean). The latent core (``core``) maps the latent of thought k to a
prediction of thought k + 1, and the variable-length latent decoder (``latent_decoder``) turns a predicted thought
into ``latent_decoded_into`` prefix vectors followed by causal blocks over the tokens of that thought; the head
(``head``: final norm, projection to the vocabulary) reads the next token off each position. The first thought
is decoded from a learned start thought. docs/experimental.md says what the original left open and how we
decided.
"""

import copy

from transformers import PretrainedConfig

from .component_registry import ACTIVATIONS
from .configuration_block_stack import BLOCK_SECTION_DEFAULTS, STACK_POSITIONAL_ENCODINGS, block_config
from .configuration_tinylm import (
    INITIALIZERS,
    TOKENIZER_TYPES,
    require_bool,
    require_fraction,
    require_positive_int,
    require_positive_number,
    check_special_token_ids,
    merge_section,
)
from .validation import require_number, warn_misspelt_keywords
from .component_registry import NORMALIZATIONS

ENCODER_TYPES = ("hierarchical",)
LATENT_CORE_TYPES = ("baseline",)

DEFAULT_SECTIONS = {
    "embedder": {
        "embedder_type": "hierarchical",
        "tokenizer_type": "gpt2",
        "dataset_name": None,
        # None: [embedding_dim, embedding_dim // 2, embedding_dim // 4]
        "pooling_dims": None,
        "pct_pool_per_layer": [0.25, 0.25],
        "pooling_num_heads": 4,
        "pooling_ffn_ratio": 4,
        **copy.deepcopy(BLOCK_SECTION_DEFAULTS),
        "num_layers": 1,
    },
    # The original's baseline: Linear → activation → Linear on each latent. ffn_dim None: latent_dim.
    "core": {"core_type": "baseline", "ffn_dim": None, "activation": "relu"},
    "latent_decoder": {"latent_decoded_into": 4, **copy.deepcopy(BLOCK_SECTION_DEFAULTS)},
    "head": {"normalization": "rms_norm", "bias": False},
}


class TinyLMNextThoughtConfig(PretrainedConfig):
    model_type = "tinylm_next_thought"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]

    def __init__(
        self,
        vocab_size: int = 50257,
        embedding_dim: int = 256,
        latent_dim: int = 256,
        thought_length: int = 16,
        max_position_embeddings: int = 512,
        positional_encoding_type: str = "learned",
        rope_theta: float = 10000.0,
        embedder: dict = None,
        core: dict = None,
        latent_decoder: dict = None,
        head: dict = None,
        reconstruction_loss_weight: float = 0.0,
        tie_word_embeddings: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        initializer: str = "gpt2",
        initializer_range: float = 0.02,
        rms_norm_eps: float = 1e-6,
        layer_norm_eps: float = 1e-5,
        use_cache: bool = False,
        bos_token_id: int = None,
        eos_token_id: int = None,
        pad_token_id: int = None,
        **kwargs,
    ):
        # Written by older saves or other tools; all of them are views onto the fields above.
        for derived in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim"):
            kwargs.pop(derived, None)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.latent_dim = latent_dim
        self.thought_length = thought_length
        self.max_position_embeddings = max_position_embeddings
        self.positional_encoding_type = positional_encoding_type
        self.rope_theta = rope_theta
        self.embedder = merge_section("embedder", DEFAULT_SECTIONS["embedder"], embedder)
        self.core = merge_section("core", DEFAULT_SECTIONS["core"], core)
        self.latent_decoder = merge_section("latent_decoder", DEFAULT_SECTIONS["latent_decoder"], latent_decoder)
        self.head = merge_section("head", DEFAULT_SECTIONS["head"], head)
        if self.embedder["pooling_dims"] is None and isinstance(embedding_dim, int):
            self.embedder["pooling_dims"] = [embedding_dim, max(1, embedding_dim // 2), max(1, embedding_dim // 4)]
        if self.core["ffn_dim"] is None:
            self.core["ffn_dim"] = latent_dim
        for section in (self.embedder, self.latent_decoder):
            if section["ffn"]["ffn_dim"] is None and isinstance(embedding_dim, int):
                section["ffn"]["ffn_dim"] = 4 * embedding_dim
        self.reconstruction_loss_weight = reconstruction_loss_weight
        self.tie_word_embeddings = tie_word_embeddings
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.initializer = initializer
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.layer_norm_eps = layer_norm_eps
        self.use_cache = use_cache
        self.bos_token_id = bos_token_id
        self.eos_token_id = vocab_size - 1 if eos_token_id is None and isinstance(vocab_size, int) else eos_token_id
        self.pad_token_id = pad_token_id
        self.validate()
        warn_misspelt_keywords(type(self), kwargs)
        super().__init__(**kwargs)

    # ---- standard transformers names (read-only views) -----------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return self.embedding_dim

    @property
    def num_hidden_layers(self) -> int:
        return self.latent_decoder["num_layers"]

    @property
    def num_attention_heads(self) -> int:
        return self.latent_decoder["attention"]["num_heads"]

    @property
    def num_key_value_heads(self) -> int:
        attention = self.latent_decoder["attention"]
        return attention["num_heads"] // attention["group_size"]

    @property
    def head_dim(self) -> int:
        return self.embedding_dim // self.num_attention_heads

    @property
    def num_pooling_layers(self) -> int:
        return len(self.embedder["pooling_dims"]) - 1

    # ---- the sub-configs of the block stacks -----------------------------------------------------------------
    def encoder_block_config(self):
        """The encoder's bidirectional blocks over one thought, at ``embedding_dim``."""
        return block_config(
            "embedder", self.embedder, hidden_size=self.embedding_dim, is_causal=False, parent=self,
            positional_encoding_type=self.positional_encoding_type, max_position_embeddings=self.thought_length,
            width_field="embedding_dim",
        )

    def pooling_block_config(self, layer: int):
        """Attention of pooling layer ``layer`` (width pooling_dims[layer]); eager, which returns the weights."""
        section = {
            "num_layers": 1,
            "attention": {**self.embedder["attention"], "num_heads": self.embedder["pooling_num_heads"], "group_size": 1},
            "ffn": self.embedder["ffn"],
        }
        return block_config(
            f"embedder.pooling[{layer}]", section, hidden_size=self.embedder["pooling_dims"][layer], is_causal=False,
            parent=self, attn_implementation="eager", width_field=f"embedder.pooling_dims[{layer}]",
        )

    def decoder_block_config(self):
        """The decoder's causal blocks over the prefix vectors and one thought's tokens, at ``embedding_dim``."""
        return block_config(
            "latent_decoder", self.latent_decoder, hidden_size=self.embedding_dim, is_causal=True, parent=self,
            positional_encoding_type=self.positional_encoding_type,
            max_position_embeddings=self.latent_decoder["latent_decoded_into"] + self.thought_length,
            width_field="embedding_dim",
        )

    # ---- validation ---------------------------------------------------------------------------------------
    def validate(self):
        """Raise ValueError naming the field, its value and what is allowed, for the first invalid value."""
        for field in ("vocab_size", "embedding_dim", "latent_dim", "thought_length", "max_position_embeddings"):
            require_positive_int(field, getattr(self, field))
        require_positive_number("rope_theta", self.rope_theta)
        for field in ("initializer_range", "rms_norm_eps", "layer_norm_eps"):
            require_positive_number(field, getattr(self, field))
        require_fraction("dropout", self.dropout)
        require_fraction("attention_dropout", self.attention_dropout)
        require_number("reconstruction_loss_weight", self.reconstruction_loss_weight, low=0)
        require_bool("tie_word_embeddings", self.tie_word_embeddings)
        if self.initializer not in INITIALIZERS:
            raise ValueError(f"initializer={self.initializer!r} is invalid; allowed: {', '.join(INITIALIZERS)}")
        if self.positional_encoding_type not in STACK_POSITIONAL_ENCODINGS:
            raise ValueError(
                f"positional_encoding_type={self.positional_encoding_type!r} is invalid for a next-thought model; "
                f"allowed: {', '.join(STACK_POSITIONAL_ENCODINGS)}"
            )

        embedder = self.embedder
        for field, value, allowed in (
            ("embedder.embedder_type", embedder["embedder_type"], ENCODER_TYPES),
            ("embedder.tokenizer_type", embedder["tokenizer_type"], TOKENIZER_TYPES),
            ("core.core_type", self.core["core_type"], LATENT_CORE_TYPES),
        ):
            if value not in allowed:
                raise ValueError(f"{field}={value!r} is invalid; allowed: {', '.join(allowed)}")
        ACTIVATIONS.check(self.core["activation"], "core.activation")
        require_positive_int("core.ffn_dim", self.core["ffn_dim"])
        NORMALIZATIONS.check(self.head["normalization"], "head.normalization")
        require_bool("head.bias", self.head["bias"])

        dims, fractions = embedder["pooling_dims"], embedder["pct_pool_per_layer"]
        if not isinstance(dims, list) or len(dims) < 1:
            raise ValueError(f"embedder.pooling_dims={dims!r} is invalid; allowed: a non-empty list of positive integers")
        for index, dim in enumerate(dims):
            require_positive_int(f"embedder.pooling_dims[{index}]", dim)
        if dims[0] != self.embedding_dim:
            raise ValueError(
                f"embedder.pooling_dims[0]={dims[0]} differs from embedding_dim={self.embedding_dim}; allowed: "
                f"pooling_dims starting at embedding_dim (the token width the pooling starts from)"
            )
        if not isinstance(fractions, list) or len(fractions) != len(dims) - 1:
            raise ValueError(
                f"embedder.pct_pool_per_layer={fractions!r} is invalid; allowed: one fraction per pooling layer, "
                f"{len(dims) - 1} for pooling_dims={dims}"
            )
        for index, fraction in enumerate(fractions):
            require_fraction(f"embedder.pct_pool_per_layer[{index}]", fraction)
        require_positive_int("embedder.pooling_num_heads", embedder["pooling_num_heads"])
        require_positive_int("embedder.pooling_ffn_ratio", embedder["pooling_ffn_ratio"])
        require_positive_int("latent_decoder.latent_decoded_into", self.latent_decoder["latent_decoded_into"])

        self.encoder_block_config()
        for layer in range(len(dims) - 1):
            self.pooling_block_config(layer)
        self.decoder_block_config()

        check_special_token_ids(self)

    # ---- the original project's config format -------------------------------------------------------------
    @classmethod
    def from_stlm(cls, model_cfg, **kwargs) -> "TinyLMNextThoughtConfig":
        """Build from the ``model:`` section of an original next-thought STLM config (dict or DictConfig)."""
        try:  # the original-format readers live outside the modeling set
            from hf_tinylm.stlm_experimental_config import stlm_next_thought_to_kwargs
        except ImportError as error:
            raise ImportError("reading or writing original STLM configs needs the hf_tinylm package") from error

        return cls(**{**stlm_next_thought_to_kwargs(model_cfg), **kwargs})

    def to_stlm(self) -> dict:
        try:  # the original-format readers live outside the modeling set
            from hf_tinylm.stlm_experimental_config import next_thought_config_to_stlm
        except ImportError as error:
            raise ImportError("reading or writing original STLM configs needs the hf_tinylm package") from error

        return next_thought_config_to_stlm(self)
