"""The config of a small stack of TinyLM blocks inside a bigger model (byte encoders and decoders, thought encoders).

A stack runs at its own width with its own attention and FFN settings, so it gets its own ``TinyLMConfig``
(validated like any other) built from a section of the outer config. Config side only: importable without the
modeling code; ``block_stacks.py`` builds the stack.
"""

from .configuration_tinylm import TinyLMConfig

# Positional schemes a stack can use: the ones that need no score bias or per-pair buckets.
STACK_POSITIONAL_ENCODINGS = ("none", "learned", "sincos", "rope")

# The section every stack is described by: TinyLM's core section without core_type and causality.
BLOCK_SECTION_DEFAULTS = {
    "num_layers": 2,
    "attention": {"num_heads": 4, "group_size": 1, "normalization": "rms_norm", "bias": False},
    "ffn": {"ffn_type": "swiglu", "ffn_dim": None, "activation": "gelu", "normalization": "rms_norm", "bias": False},
}


def block_config(
    name: str,
    section: dict,
    hidden_size: int,
    is_causal: bool,
    parent,
    positional_encoding_type: str = "none",
    max_position_embeddings: int = 1,
    attn_implementation: str = None,
    width_field: str = None,
) -> TinyLMConfig:
    """A TinyLMConfig for the stack described by ``section``; errors name ``name`` (e.g. ``byte_embedder``).

    ``parent`` lends the numerics (norm epsilons, dropout, rope theta, initializer). An FFN size of None means
    4 × ``hidden_size``. The attention backend follows the parent's unless one is forced (attention pooling needs
    the weights, which only eager returns). ``width_field`` names the outer field that sets ``hidden_size``.
    """
    if positional_encoding_type not in STACK_POSITIONAL_ENCODINGS:
        raise ValueError(
            f"positional_encoding_type={positional_encoding_type!r} cannot be used by {name}; "
            f"allowed: {', '.join(STACK_POSITIONAL_ENCODINGS)}"
        )
    ffn = dict(section["ffn"])
    if ffn["ffn_dim"] is None:
        ffn["ffn_dim"] = 4 * hidden_size
    try:
        config = TinyLMConfig(
            vocab_size=1,
            hidden_size=hidden_size,
            max_position_embeddings=max_position_embeddings,
            positional_encoding_type=positional_encoding_type,
            rope_theta=parent.rope_theta,
            core={
                "core_type": "generic",
                "num_layers": section["num_layers"],
                "attention": {**section["attention"], "is_causal": is_causal},
                "ffn": ffn,
            },
            dropout=parent.dropout,
            attention_dropout=parent.attention_dropout,
            initializer=parent.initializer,
            initializer_range=parent.initializer_range,
            rms_norm_eps=parent.rms_norm_eps,
            layer_norm_eps=parent.layer_norm_eps,
            use_cache=False,
            eos_token_id=0,
        )
    except ValueError as error:
        message = str(error).replace("core.", f"{name}.").replace("hidden_size=", f"{width_field or name + ' width'}=")
        raise ValueError(message) from None
    implementation = attn_implementation or getattr(parent, "_attn_implementation", None) or "sdpa"
    config._attn_implementation = implementation
    return config
