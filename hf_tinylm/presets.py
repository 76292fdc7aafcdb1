"""Named model configurations, starting with the original project's baseline."""

# The `model:` section of the original STLM baseline config (stlm-format.md), ~47M parameters.
STLM_BASELINE = {
    "core_model": {
        "core_model_type": "generic",
        "num_layers": 8,
        "ffn": {"ffn_type": "swiglu", "ffn_dim": 1320, "activation": "gelu", "normalization": "rms_norm", "bias": False},
        "attn": {
            "attn_type": "generic",
            "num_heads": 16,
            "normalization": "rms_norm",
            "group_size": 4,
            "bias": False,
            "is_causal": True,
        },
    },
    "embedder": {"tokenizer_type": "gpt2", "embedding_model_type": "generic", "dataset_name": "stlm"},
    "lm_head": {"normalization": "rms_norm", "bias": False, "lm_head_type": "generic"},
    "hidden_dim": 512,
    "context_window": 512,
    "vocab_size": 50257,
    "model_shell_type": "standard",
    "embedding_weight_tying": True,
    "positional_encoding_type": "rope",
}
