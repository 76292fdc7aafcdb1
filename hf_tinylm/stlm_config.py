"""Translation between the original STLM ``model:`` config section and ``TinyLMConfig`` keyword arguments."""

# Every key the original generic shell reads, with the section it belongs to (stlm-format.md).
_REQUIRED_TOP = ("core_model", "embedder", "lm_head", "hidden_dim", "context_window", "vocab_size",
                 "positional_encoding_type")
_OPTIONAL_TOP = ("model_shell_type", "embedding_weight_tying", "dropout")
_REQUIRED_CORE = ("core_model_type", "num_layers", "ffn", "attn")
_REQUIRED_FFN = ("ffn_type", "ffn_dim", "normalization", "bias")
_OPTIONAL_FFN = ("activation",)
_REQUIRED_ATTN = ("num_heads", "normalization", "group_size", "bias")
_OPTIONAL_ATTN = ("attn_type", "is_causal")
_REQUIRED_EMBEDDER = ("tokenizer_type",)
_OPTIONAL_EMBEDDER = ("embedding_model_type", "dataset_name")
_REQUIRED_HEAD = ("normalization",)
_OPTIONAL_HEAD = ("bias", "lm_head_type")


def _plain(value):
    """OmegaConf DictConfig/ListConfig → dict/list without importing omegaconf."""
    if hasattr(value, "items") and callable(value.items):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(item) for item in value]
    return value


def _check_keys(section_name: str, section, required, optional):
    if not isinstance(section, dict):
        raise ValueError(f"{section_name} must be a mapping, got {type(section).__name__} {section!r}")
    missing = [key for key in required if key not in section]
    if missing:
        raise ValueError(f"{section_name} is missing required key(s) {', '.join(missing)}")
    unknown = sorted(set(section) - set(required) - set(optional))
    if unknown:
        raise ValueError(
            f"{section_name} has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted((*required, *optional)))}"
        )


def embedder_to_kwargs(embedder: dict) -> dict:
    """Our ``embedder`` section from an original generic embedder section (shared by the generic shell and hf_core)."""
    return {
        "embedder_type": embedder.get("embedding_model_type", "generic"),
        "tokenizer_type": embedder["tokenizer_type"],
        "dataset_name": embedder.get("dataset_name"),
    }


def stlm_to_kwargs(model_cfg) -> dict:
    cfg = _plain(model_cfg)
    _check_keys("model", cfg, _REQUIRED_TOP, _OPTIONAL_TOP)
    shell = cfg.get("model_shell_type", "standard")
    if shell != "standard":
        raise ValueError(f"model.model_shell_type={shell!r} is not the generic shell; allowed: 'standard'")
    core = cfg["core_model"]
    _check_keys("model.core_model", core, _REQUIRED_CORE, ())
    ffn, attn = core["ffn"], core["attn"]
    _check_keys("model.core_model.ffn", ffn, _REQUIRED_FFN, _OPTIONAL_FFN)
    _check_keys("model.core_model.attn", attn, _REQUIRED_ATTN, _OPTIONAL_ATTN)
    _check_keys("model.embedder", cfg["embedder"], _REQUIRED_EMBEDDER, _OPTIONAL_EMBEDDER)
    _check_keys("model.lm_head", cfg["lm_head"], _REQUIRED_HEAD, _OPTIONAL_HEAD)
    embedder, head = cfg["embedder"], cfg["lm_head"]
    return {
        "vocab_size": cfg["vocab_size"],
        "hidden_size": cfg["hidden_dim"],
        "max_position_embeddings": cfg["context_window"],
        "positional_encoding_type": cfg["positional_encoding_type"],
        "tie_word_embeddings": cfg.get("embedding_weight_tying", True),
        "dropout": cfg.get("dropout", 0.0),
        "embedder": embedder_to_kwargs(embedder),
        "core": {
            "core_type": core["core_model_type"],
            "num_layers": core["num_layers"],
            "attention": {
                "attention_type": attn.get("attn_type", "generic"),
                "num_heads": attn["num_heads"],
                "group_size": attn["group_size"],
                "normalization": attn["normalization"],
                "bias": attn["bias"],
                "is_causal": attn.get("is_causal", True),
            },
            "ffn": {
                "ffn_type": ffn["ffn_type"],
                "ffn_dim": ffn["ffn_dim"],
                "activation": ffn.get("activation", "gelu"),
                "normalization": ffn["normalization"],
                "bias": ffn["bias"],
            },
        },
        "head": {
            "head_type": head.get("lm_head_type", "generic"),
            "normalization": head["normalization"],
            "bias": head.get("bias", False),
        },
    }


def shell_parts_to_stlm(config, core_model: dict) -> dict:
    """The ``model:`` section of a config with our generic embedder and head (TinyLM's, or around a pretrained
    core), given its ``core_model`` part."""
    model = {
        "core_model": core_model,
        "embedder": {
            "tokenizer_type": config.embedder["tokenizer_type"],
            "embedding_model_type": config.embedder["embedder_type"],
            "dataset_name": config.embedder["dataset_name"],
        },
        "lm_head": {
            "normalization": config.head["normalization"],
            "bias": config.head["bias"],
            "lm_head_type": config.head["head_type"],
        },
        "hidden_dim": config.hidden_size,
        "context_window": config.max_position_embeddings,
        "vocab_size": config.vocab_size,
        "model_shell_type": "standard",
        "embedding_weight_tying": config.tie_word_embeddings,
        "positional_encoding_type": config.positional_encoding_type,
    }
    if config.dropout:
        model["dropout"] = config.dropout
    return model


def config_to_stlm(config) -> dict:
    attention, ffn = config.core["attention"], config.core["ffn"]
    return shell_parts_to_stlm(config, {
        "core_model_type": config.core["core_type"],
        "num_layers": config.core["num_layers"],
        "ffn": {
            "ffn_type": ffn["ffn_type"],
            "ffn_dim": ffn["ffn_dim"],
            "activation": ffn["activation"],
            "normalization": ffn["normalization"],
            "bias": ffn["bias"],
        },
        "attn": {
            "attn_type": attention["attention_type"],
            "num_heads": attention["num_heads"],
            "normalization": attention["normalization"],
            "group_size": attention["group_size"],
            "bias": attention["bias"],
            "is_causal": attention["is_causal"],
        },
    })
