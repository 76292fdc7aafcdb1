"""``TinyLMHFCoreConfig``: the shell's own embedder and LM head around a pretrained transformers body
(model_type ``"tinylm_hf_core"``).

This is the original STLM's ``core_model_type: hf_core`` with a ``generic`` embedder and head (its
``gpt2_qwen_training`` and ``teachermodel_training`` configs): tokens are embedded by our embedder (its own
tokenizer, e.g. GPT-2), run through the body of a pretrained causal LM (``model.base_model`` of ``model_string``,
fed ``inputs_embeds``, final norm included) and read off by our head (final norm + projection). The body's own
config is stored whole in ``core_config``, so a saved folder rebuilds the same body without the Hub; its weights
are saved with ours. As in the original, the body is frozen unless ``freeze_core`` is false.

Positions: the body brings its own (rotary for Qwen and Llama, learned for GPT-2); ``positional_encoding_type``
``learned`` or ``sincos`` adds absolute positions in our embedder on top, ``rope`` and ``none`` add nothing (the
original's rope lives in its own attention, which an hf_core model does not use).
"""

from transformers import AutoConfig, PretrainedConfig

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
from .validation import warn_misspelt_keywords
from .component_registry import NORMALIZATIONS

# Positional schemes of our embedder in front of a pretrained body, and what each adds there.
EMBEDDER_POSITIONS = {"rope": "none", "none": "none", "learned": "learned", "sincos": "sincos"}

DEFAULT_SECTIONS = {
    "embedder": {"embedder_type": "generic", "tokenizer_type": "gpt2", "dataset_name": None},
    "head": {"head_type": "generic", "normalization": "rms_norm", "bias": False},
}


class TinyLMHFCoreConfig(PretrainedConfig):
    model_type = "tinylm_hf_core"
    keys_to_ignore_at_inference = ["cache", "past_key_values"]

    def __init__(
        self,
        core_config: dict = None,
        model_string: str = None,
        vocab_size: int = 50257,
        hidden_size: int = None,
        max_position_embeddings: int = 512,
        positional_encoding_type: str = "rope",
        embedder: dict = None,
        head: dict = None,
        freeze_core: bool = True,
        tie_word_embeddings: bool = True,
        dropout: float = 0.0,
        initializer: str = "gpt2",
        initializer_range: float = 0.02,
        rms_norm_eps: float = 1e-6,
        layer_norm_eps: float = 1e-5,
        use_cache: bool = True,
        bos_token_id: int = None,
        eos_token_id: int = None,
        pad_token_id: int = None,
        **kwargs,
    ):
        if isinstance(core_config, PretrainedConfig):
            core_config = core_config.to_dict()
        # Written by to_dict() for tools that read config.json; views onto core_config.
        for derived in ("num_hidden_layers", "num_attention_heads", "num_key_value_heads"):
            kwargs.pop(derived, None)
        self.core_config = core_config
        self.model_string = model_string
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.positional_encoding_type = positional_encoding_type
        self.embedder = merge_section("embedder", DEFAULT_SECTIONS["embedder"], embedder)
        self.head = merge_section("head", DEFAULT_SECTIONS["head"], head)
        self.freeze_core = freeze_core
        self.tie_word_embeddings = tie_word_embeddings
        self.dropout = dropout
        self.initializer = initializer
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.layer_norm_eps = layer_norm_eps
        self.use_cache = use_cache
        self.bos_token_id = bos_token_id
        self.eos_token_id = vocab_size - 1 if eos_token_id is None and isinstance(vocab_size, int) else eos_token_id
        self.pad_token_id = pad_token_id
        if hidden_size is None and isinstance(core_config, dict):
            self.hidden_size = self.core_hidden_size
        self.validate()
        warn_misspelt_keywords(type(self), kwargs)
        super().__init__(**kwargs)

    # ---- the body ------------------------------------------------------------------------------------------
    def build_core_config(self) -> PretrainedConfig:
        """The pretrained body's own transformers config (its model_type must be one transformers knows)."""
        fields = dict(self.core_config)
        return AutoConfig.for_model(fields.pop("model_type"), **fields)

    @property
    def core_hidden_size(self) -> int:
        return self.build_core_config().get_text_config().hidden_size

    @property
    def num_hidden_layers(self) -> int:
        # generate() sizes its KV cache from this: one layer per layer of the body.
        return self.build_core_config().get_text_config().num_hidden_layers

    @property
    def embedder_positional_encoding_type(self) -> str:
        return EMBEDDER_POSITIONS[self.positional_encoding_type]

    def to_dict(self):
        output = super().to_dict()
        output["num_hidden_layers"] = self.num_hidden_layers
        return output

    # ---- validation ---------------------------------------------------------------------------------------
    def validate(self):
        """Raise ValueError naming the field, its value and what is allowed, for the first invalid value."""
        if not isinstance(self.core_config, dict) or not isinstance(self.core_config.get("model_type"), str):
            raise ValueError(
                f"core_config={self.core_config!r} is invalid; allowed: the pretrained body's config as a dict with "
                f"its model_type (e.g. AutoConfig.from_pretrained(folder).to_dict())"
            )
        try:
            core_width = self.core_hidden_size
        except (ValueError, KeyError) as error:
            raise ValueError(f"core_config (model_type={self.core_config['model_type']!r}) cannot be built: {error}")
        for field in ("vocab_size", "hidden_size", "max_position_embeddings"):
            require_positive_int(field, getattr(self, field))
        if self.hidden_size != core_width:
            raise ValueError(
                f"hidden_size={self.hidden_size} differs from the pretrained core's width {core_width} "
                f"(model_string={self.model_string!r}); allowed: hidden_size={core_width}"
            )
        if self.positional_encoding_type not in EMBEDDER_POSITIONS:
            raise ValueError(
                f"positional_encoding_type={self.positional_encoding_type!r} is invalid in front of a pretrained "
                f"core; allowed: {', '.join(EMBEDDER_POSITIONS)}"
            )
        for field, value, allowed in (
            ("embedder.embedder_type", self.embedder["embedder_type"], ("generic",)),
            ("embedder.tokenizer_type", self.embedder["tokenizer_type"], TOKENIZER_TYPES),
            ("head.head_type", self.head["head_type"], ("generic",)),
            ("initializer", self.initializer, INITIALIZERS),
        ):
            if value not in allowed:
                raise ValueError(f"{field}={value!r} is invalid; allowed: {', '.join(allowed)}")
        NORMALIZATIONS.check(self.head["normalization"], "head.normalization")
        for field in ("head.bias", "freeze_core", "tie_word_embeddings"):
            value = self.head["bias"] if field == "head.bias" else getattr(self, field)
            require_bool(field, value)
        require_fraction("dropout", self.dropout)
        for field in ("initializer_range", "rms_norm_eps", "layer_norm_eps"):
            require_positive_number(field, getattr(self, field))
        check_special_token_ids(self)

    # ---- the original project's config format -------------------------------------------------------------
    def to_stlm(self) -> dict:
        """The ``model:`` section of an original STLM config describing this model."""
        try:  # the original-format readers live outside the modeling set
            from hf_tinylm.stlm_hf_config import hf_core_config_to_stlm
        except ImportError as error:
            raise ImportError("reading or writing original STLM configs needs the hf_tinylm package") from error

        return hf_core_config_to_stlm(self)
