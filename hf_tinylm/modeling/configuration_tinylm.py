"""``TinyLMConfig``: the whole model shell (embedder → core → head) as one transformers config.

The component choices live in sections that mirror the model's parts (``embedder``, ``core`` with its ``attention``
and ``ffn``, ``head``); sizes use transformers' standard names so that every tool reading a config (generate, the
caches, lm-eval, vLLM-style loaders) finds ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads`` ... The
standard names that describe a section (layers, heads, key/value heads, FFN size, causality) are views onto it, so
each fact is stored exactly once. Every value is validated when the config is made.
"""

from transformers import PretrainedConfig

from .component_registry import (
    ACTIVATIONS,
    ATTENTION_TYPES,
    CORES,
    EMBEDDER_TYPES,
    FEED_FORWARDS,
    HEAD_TYPES,
    NORMALIZATIONS,
    POSITIONAL_ENCODINGS,
)
from .validation import (  # noqa: F401 (check_special_token_ids, merge_section: used by the other families' configs)
    check_special_token_ids,
    merge_section,
    require_bool,
    require_choice,
    require_fraction,
    require_number,
    require_positive_int,
    require_positive_number,
    warn_misspelt_keywords,
)

INITIALIZERS = ("gpt2", "standard")
# Tokenizers a config can name: the original's two (embedder.tokenizer_type), and "auto" for whatever tokenizer is
# saved with the model (models converted from other families, e.g. Llama, bring their own).
TOKENIZER_TYPES = ("gpt2", "bpe", "auto")
# transformers' rope types (ROPE_INIT_FUNCTIONS) that TinyLM's rotary scheme accepts, and the unscaled default.
ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "llama3")

# Defaults are the original project's baseline model.
DEFAULT_SECTIONS = {
    "embedder": {"embedder_type": "generic", "tokenizer_type": "gpt2", "dataset_name": None},
    "core": {
        "core_type": "generic",
        "num_layers": 8,
        "attention": {
            "attention_type": "generic",
            "num_heads": 16,
            "group_size": 4,
            "normalization": "rms_norm",
            "bias": False,
            "is_causal": True,
        },
        "ffn": {"ffn_type": "swiglu", "ffn_dim": 1320, "activation": "gelu", "normalization": "rms_norm", "bias": False},
    },
    "head": {"head_type": "generic", "normalization": "rms_norm", "bias": False},
}

# What checks each component-name field: a registry (kinds with several members) or a tuple of the one allowed name.
_NAMED_CHOICES = {
    ("embedder", "embedder_type"): EMBEDDER_TYPES,
    ("core", "core_type"): CORES,
    ("core", "attention", "attention_type"): ATTENTION_TYPES,
    ("core", "attention", "normalization"): NORMALIZATIONS,
    ("core", "ffn", "ffn_type"): FEED_FORWARDS,
    ("core", "ffn", "activation"): ACTIVATIONS,
    ("core", "ffn", "normalization"): NORMALIZATIONS,
    ("head", "head_type"): HEAD_TYPES,
    ("head", "normalization"): NORMALIZATIONS,
}


def check_named_choice(field: str, value, allowed):
    """``allowed`` is a ComponentRegistry or a tuple of names."""
    if isinstance(allowed, tuple):
        require_choice(field, value, allowed)
    else:
        allowed.check(value, field)


class TinyLMConfig(PretrainedConfig):
    model_type = "tinylm"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]
    # The component-name fields validate() checks against a registry; a subclass may narrow it.
    NAMED_CHOICES = _NAMED_CHOICES

    def __init__(
        self,
        vocab_size: int = 50257,
        hidden_size: int = 512,
        max_position_embeddings: int = 512,
        positional_encoding_type: str = "rope",
        rope_theta: float = 10000.0,
        rope_parameters: dict = None,
        max_relative_position: int = 16,
        embedder: dict = None,
        core: dict = None,
        head: dict = None,
        tie_word_embeddings: bool = True,
        chunked_loss: bool = True,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        initializer: str = "gpt2",
        initializer_range: float = 0.02,
        rms_norm_eps: float = 1e-6,
        layer_norm_eps: float = 1e-5,
        use_cache: bool = True,
        bos_token_id: int = None,
        eos_token_id: int = None,
        pad_token_id: int = None,
        # Standard transformers names for facts that live in the sections; given, they override the section.
        num_hidden_layers: int = None,
        num_attention_heads: int = None,
        num_key_value_heads: int = None,
        intermediate_size: int = None,
        is_causal: bool = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.positional_encoding_type = positional_encoding_type
        # transformers 5 keeps rope settings in one dict; `rope_scaling` (the 4.x name) is accepted for it.
        rope_parameters = kwargs.pop("rope_scaling", None) or rope_parameters
        if rope_parameters is not None and not isinstance(rope_parameters, dict):
            raise ValueError(f"rope_parameters={rope_parameters!r} is invalid; allowed: None or a dict with rope_type")
        self.rope_parameters = dict(rope_parameters or {})
        self.rope_parameters["rope_type"] = self.rope_parameters.pop("type", None) or self.rope_parameters.get(
            "rope_type", "default"
        )
        self.rope_parameters.setdefault("rope_theta", rope_theta)
        self.max_relative_position = max_relative_position
        self.embedder = merge_section("embedder", DEFAULT_SECTIONS["embedder"], embedder)
        self.core = merge_section("core", DEFAULT_SECTIONS["core"], core)
        self.head = merge_section("head", DEFAULT_SECTIONS["head"], head)
        self.tie_word_embeddings = tie_word_embeddings
        # Training with labels: the loss is computed from the last hidden states a slice of tokens at a time and no
        # logits are returned (TinyLMForCausalLM.forward); False gives transformers' path, logits and all.
        self.chunked_loss = chunked_loss
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.initializer = initializer
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.layer_norm_eps = layer_norm_eps
        self.use_cache = use_cache
        self.bos_token_id = bos_token_id
        # Both original tokenizers put end-of-text last (GPT-2: 50256 of 50257; BPE: vocab_size - 1).
        self.eos_token_id = vocab_size - 1 if eos_token_id is None and isinstance(vocab_size, int) else eos_token_id
        self.pad_token_id = pad_token_id
        for name, value in (
            ("num_hidden_layers", num_hidden_layers),
            ("num_attention_heads", num_attention_heads),
            ("num_key_value_heads", num_key_value_heads),
            ("intermediate_size", intermediate_size),
            ("is_causal", is_causal),
        ):
            if value is not None:
                setattr(self, name, value)  # the property setters below write into the sections
        # Ours first: transformers' own architecture checks would otherwise trip over bad values less clearly.
        self.validate()
        # Derived views written by to_dict() must not come back as plain attributes.
        warn_misspelt_keywords(type(self), kwargs)
        kwargs.pop("head_dim", None)
        super().__init__(**kwargs)

    # ---- standard transformers names, as views onto the sections -------------------------------------------
    @property
    def num_hidden_layers(self) -> int:
        return self.core["num_layers"]

    @num_hidden_layers.setter
    def num_hidden_layers(self, value: int):
        self.core["num_layers"] = value

    @property
    def num_attention_heads(self) -> int:
        return self.core["attention"]["num_heads"]

    @num_attention_heads.setter
    def num_attention_heads(self, value: int):
        self.core["attention"]["num_heads"] = value

    @property
    def num_key_value_heads(self) -> int:
        attention = self.core["attention"]
        return attention["num_heads"] // attention["group_size"]

    @num_key_value_heads.setter
    def num_key_value_heads(self, value: int):
        heads = self.core["attention"]["num_heads"]
        require_positive_int("num_key_value_heads", value)
        if heads % value:
            raise ValueError(f"num_key_value_heads={value} is invalid; allowed: a divisor of num_attention_heads={heads}")
        self.core["attention"]["group_size"] = heads // value

    @property
    def intermediate_size(self) -> int:
        return self.core["ffn"]["ffn_dim"]

    @intermediate_size.setter
    def intermediate_size(self, value: int):
        self.core["ffn"]["ffn_dim"] = value

    @property
    def is_causal(self) -> bool:
        return self.core["attention"]["is_causal"]

    @is_causal.setter
    def is_causal(self, value: bool):
        self.core["attention"]["is_causal"] = value

    @property
    def rope_theta(self) -> float:
        return self.rope_parameters["rope_theta"]

    @rope_theta.setter
    def rope_theta(self, value: float):
        current = getattr(self, "rope_parameters", None) or {"rope_type": "default"}
        self.rope_parameters = {**current, "rope_theta": value}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self):
        output = super().to_dict()
        # Written for tools that read config.json directly; __init__ reads them back consistently.
        for name in (
            "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size", "head_dim", "rope_theta"
        ):
            output[name] = getattr(self, name)
        return output

    # ---- validation ---------------------------------------------------------------------------------------
    def validate(self):
        """Raise ValueError naming the field, its value and what is allowed, for the first invalid value."""
        for field in ("vocab_size", "hidden_size", "max_position_embeddings", "max_relative_position"):
            require_positive_int(field, getattr(self, field))
        require_positive_int("core.num_layers", self.core["num_layers"])
        require_positive_int("core.attention.num_heads", self.core["attention"]["num_heads"])
        require_positive_int("core.attention.group_size", self.core["attention"]["group_size"])
        require_positive_int("core.ffn.ffn_dim", self.core["ffn"]["ffn_dim"])
        for field, value in (
            ("core.attention.bias", self.core["attention"]["bias"]),
            ("core.attention.is_causal", self.core["attention"]["is_causal"]),
            ("core.ffn.bias", self.core["ffn"]["bias"]),
            ("head.bias", self.head["bias"]),
            ("tie_word_embeddings", self.tie_word_embeddings),
            ("chunked_loss", self.chunked_loss),
        ):
            require_bool(field, value)
        require_fraction("dropout", self.dropout)
        require_fraction("attention_dropout", self.attention_dropout)
        for field in ("rope_theta", "initializer_range", "rms_norm_eps", "layer_norm_eps"):
            require_positive_number(field, getattr(self, field))
        self._validate_rope_parameters()

        sections = {"embedder": self.embedder, "core": self.core, "head": self.head}
        for path, registry in self.NAMED_CHOICES.items():
            value = sections[path[0]]
            for key in path[1:]:
                value = value[key]
            check_named_choice(".".join(path), value, registry)
        POSITIONAL_ENCODINGS.check(self.positional_encoding_type, "positional_encoding_type")
        require_choice("embedder.tokenizer_type", self.embedder["tokenizer_type"], TOKENIZER_TYPES)
        require_choice("initializer", self.initializer, INITIALIZERS)

        heads = self.core["attention"]["num_heads"]
        group_size = self.core["attention"]["group_size"]
        if self.hidden_size % heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by core.attention.num_heads={heads}; "
                f"allowed: a hidden size that is a multiple of the number of heads"
            )
        if heads % group_size:
            raise ValueError(
                f"core.attention.num_heads={heads} is not divisible by core.attention.group_size={group_size}; "
                f"allowed: a group size that divides the number of heads"
            )
        if self.positional_encoding_type == "rope" and self.head_dim % 2:
            raise ValueError(
                f"head dimension hidden_size/num_heads={self.head_dim} is odd, which rope cannot rotate; "
                f"allowed: an even head dimension with positional_encoding_type='rope'"
            )
        check_special_token_ids(self)

    def _validate_rope_parameters(self):
        """rope_type must be one we build; the type's own fields are checked by transformers' validate_rope."""
        require_choice("rope_parameters.rope_type", self.rope_parameters.get("rope_type"), ROPE_TYPES)
        for key, value in self.rope_parameters.items():
            if key not in ("rope_type",) and isinstance(value, (int, float)) and not isinstance(value, bool):
                require_positive_number(f"rope_parameters.{key}", value)
        if self.rope_parameters["rope_type"] != "default":
            try:
                self.standardize_rope_params()
                self.validate_rope()
            except (KeyError, ValueError, TypeError) as error:
                raise ValueError(f"rope_parameters={self.rope_parameters!r} is invalid: {error}") from None

    # ---- the original project's config format -------------------------------------------------------------
    @classmethod
    def from_stlm(cls, model_cfg, **kwargs) -> "TinyLMConfig":
        """Build from the ``model:`` section of an original STLM config (a dict or an OmegaConf DictConfig)."""
        try:  # the original-format readers live outside the modeling set
            from hf_tinylm.stlm_config import stlm_to_kwargs
        except ImportError as error:
            raise ImportError("reading or writing original STLM configs needs the hf_tinylm package") from error

        return cls(**{**stlm_to_kwargs(model_cfg), **kwargs})

    def to_stlm(self) -> dict:
        """The ``model:`` section of an original STLM config describing this model."""
        try:  # the original-format readers live outside the modeling set
            from hf_tinylm.stlm_config import config_to_stlm
        except ImportError as error:
            raise ImportError("reading or writing original STLM configs needs the hf_tinylm package") from error

        return config_to_stlm(self)
