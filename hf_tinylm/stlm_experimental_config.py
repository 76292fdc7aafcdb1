"""The original STLM ``model:`` sections of the byte-level and next-thought models, to and from our configs.

Byte-level configs are the generic shell's keys plus ``byte_vocab_size``, ``byte_context_window``,
``byte_embedding_dim`` and ``embedder.byte_tokenizer_type`` (stlm-format.md); the sizes of the small byte blocks
were hard-coded in the original and take our defaults. Next-thought configs are described in
docs/experimental.md, with what the original left open.
"""

from .stlm_config import _check_keys, _plain, config_to_stlm, stlm_to_kwargs

# The original builds byte-level models under either shell (byte_level.yaml and byte_debug.yaml say "standard").
BYTE_SHELL_TYPES = ("byte_shell", "standard")
_BYTE_TOP = ("byte_vocab_size", "byte_context_window", "byte_embedding_dim")


def stlm_byte_to_kwargs(model_cfg) -> dict:
    cfg = _plain(model_cfg)  # new dicts and lists: the pops below leave the caller's config alone
    if not isinstance(cfg, dict):
        raise ValueError(f"model must be a mapping, got {type(cfg).__name__} {cfg!r}")
    shell = cfg.pop("model_shell_type", BYTE_SHELL_TYPES[0])
    if shell not in BYTE_SHELL_TYPES:
        raise ValueError(f"model.model_shell_type={shell!r} is not a byte-level shell; "
                         f"allowed: {', '.join(BYTE_SHELL_TYPES)}")
    embedder = cfg.get("embedder")
    byte_tokenizer_type = "bpe"
    if isinstance(embedder, dict):
        byte_tokenizer_type = embedder.pop("byte_tokenizer_type", byte_tokenizer_type)
        # The original's files repeat byte_context_window in the embedder section; one value must win, so both agree.
        if "byte_context_window" in embedder:
            repeated = embedder.pop("byte_context_window")
            if cfg.setdefault("byte_context_window", repeated) != repeated:
                raise ValueError(
                    f"model.embedder.byte_context_window={repeated!r} differs from "
                    f"model.byte_context_window={cfg['byte_context_window']!r}; allowed: the same value in both"
                )
    missing = [key for key in _BYTE_TOP if key not in cfg]
    if missing:
        raise ValueError(f"model is missing required byte-level key(s) {', '.join(missing)}")
    byte_kwargs = {key: cfg.pop(key) for key in _BYTE_TOP}
    byte_kwargs["byte_tokenizer_type"] = byte_tokenizer_type
    kwargs = stlm_to_kwargs(cfg)  # the generic shell's keys, checked there
    for field, section, key in (("embedding_model_type", "embedder", "embedder_type"),
                                ("lm_head_type", "head", "head_type")):
        if kwargs[section][key] == "generic":  # absent in the original config: the byte-level component
            kwargs[section][key] = "byte_level"
    return {**kwargs, **byte_kwargs}


def byte_config_to_stlm(config) -> dict:
    model = config_to_stlm(config)
    model["model_shell_type"] = BYTE_SHELL_TYPES[0]
    model["embedder"]["byte_tokenizer_type"] = config.byte_tokenizer_type
    for key in _BYTE_TOP:
        model[key] = getattr(config, key)
    return model


# ---- next-thought ----------------------------------------------------------------------------------------------
_NT_REQUIRED_TOP = ("embedder", "core_model", "lm_head", "latent_dim", "embedding_dim", "context_window",
                    "vocab_size")
_NT_OPTIONAL_TOP = ("hidden_dim", "positional_encoding_type", "model_shell_type", "embedding_weight_tying", "dropout")
_NT_REQUIRED_EMBEDDER = ("tokenizer_type", "pooling_dims", "pct_pool_per_layer")
_NT_OPTIONAL_EMBEDDER = ("embedding_model_type", "dataset_name", "context_window", "standard_ffn_block",
                         "standard_attn_block", "num_layers", "pooling_num_heads", "pooling_layers")
# Spellings of the original's files (left) for the keys its code reads or that we name (right); docs/stlm-configs.md.
_NT_EMBEDDER_ALIASES = {"pooling_pct_per_layer": "pct_pool_per_layer", "num_heads": "pooling_num_heads"}
NT_EMBEDDER_TYPE_ALIASES = {"hierarchical_encoder": "hierarchical"}
NT_CORE_TYPE_ALIASES = {"next_thought_baseline": "baseline"}
_ORIGINAL_CORE_TYPES = {ours: theirs for theirs, ours in NT_CORE_TYPE_ALIASES.items()}
_NT_REQUIRED_HEAD = ("latent_decoded_into", "num_layers")
_NT_OPTIONAL_HEAD = ("lm_head_type", "normalization", "bias", "standard_ffn_block", "standard_attn_block")
_NT_OPTIONAL_CORE = ("core_model_type", "ffn_dim", "activation")
_FFN_KEYS = (("ffn_type",), ("ffn_dim", "activation", "normalization", "bias"))
_ATTN_KEYS = (("num_heads",), ("attn_type", "group_size", "normalization", "bias", "is_causal"))
NEXT_THOUGHT_SHELL_TYPES = ("next_thought", "standard")


def _block_section(name: str, section: dict, num_layers) -> dict:
    """An original standard_{ffn,attn}_block pair as our block section."""
    result = {"num_layers": num_layers}
    ffn = section.get("standard_ffn_block")
    if ffn is not None:
        _check_keys(f"{name}.standard_ffn_block", ffn, *_FFN_KEYS)
        result["ffn"] = {key: ffn[key] for key in ("ffn_type", "ffn_dim", "activation", "normalization", "bias")
                         if key in ffn}
    attn = section.get("standard_attn_block")
    if attn is not None:
        _check_keys(f"{name}.standard_attn_block", attn, *_ATTN_KEYS)
        attn_type = attn.get("attn_type", "generic")
        if attn_type != "generic":
            raise ValueError(f"{name}.standard_attn_block.attn_type={attn_type!r} is invalid; allowed: 'generic'")
        result["attention"] = {key: attn[key] for key in ("num_heads", "group_size", "normalization", "bias")
                               if key in attn}
    return result


def _canonical(value, aliases: dict):
    return aliases.get(value, value) if isinstance(value, str) else value


def _resolve_aliases(name: str, section: dict, aliases: dict):
    """Rename the original files' spellings to ours in place; both spellings with different values is an error."""
    for alias, key in aliases.items():
        if alias in section:
            value = section.pop(alias)
            if section.setdefault(key, value) != value:
                raise ValueError(f"{name}.{alias}={value!r} and {name}.{key}={section[key]!r} name the same setting "
                                 f"with different values; allowed: one of them, or equal values")


def stlm_next_thought_to_kwargs(model_cfg) -> dict:
    cfg = _plain(model_cfg)
    _check_keys("model", cfg, _NT_REQUIRED_TOP, _NT_OPTIONAL_TOP)
    shell = cfg.get("model_shell_type", "next_thought")
    if shell not in NEXT_THOUGHT_SHELL_TYPES:
        raise ValueError(
            f"model.model_shell_type={shell!r} is not a next-thought shell; "
            f"allowed: {', '.join(NEXT_THOUGHT_SHELL_TYPES)}"
        )
    embedder, head, core = cfg["embedder"], cfg["lm_head"], cfg["core_model"]
    if isinstance(embedder, dict):
        _resolve_aliases("model.embedder", embedder, _NT_EMBEDDER_ALIASES)
    _check_keys("model.embedder", embedder, _NT_REQUIRED_EMBEDDER, _NT_OPTIONAL_EMBEDDER)
    if "pooling_layers" in embedder and embedder["pooling_layers"] != len(embedder["pooling_dims"]):
        raise ValueError(
            f"model.embedder.pooling_layers={embedder['pooling_layers']!r} does not match "
            f"model.embedder.pooling_dims={list(embedder['pooling_dims'])} ({len(embedder['pooling_dims'])} widths); "
            f"allowed: the number of pooling_dims entries, or leave pooling_layers out"
        )
    _check_keys("model.lm_head", head, _NT_REQUIRED_HEAD, _NT_OPTIONAL_HEAD)
    _check_keys("model.core_model", core, (), _NT_OPTIONAL_CORE)
    if "hidden_dim" in cfg and cfg["hidden_dim"] != cfg["embedding_dim"]:
        raise ValueError(
            f"model.hidden_dim={cfg['hidden_dim']!r} differs from model.embedding_dim={cfg['embedding_dim']!r}; "
            f"allowed: equal values (the token width of the encoder and decoder)"
        )
    kwargs = {
        "vocab_size": cfg["vocab_size"],
        "embedding_dim": cfg["embedding_dim"],
        "latent_dim": cfg["latent_dim"],
        "max_position_embeddings": cfg["context_window"],
        "positional_encoding_type": cfg.get("positional_encoding_type", "learned"),
        "tie_word_embeddings": cfg.get("embedding_weight_tying", True),
        "dropout": cfg.get("dropout", 0.0),
        "embedder": {
            "embedder_type": _canonical(embedder.get("embedding_model_type", "hierarchical"), NT_EMBEDDER_TYPE_ALIASES),
            "tokenizer_type": embedder["tokenizer_type"],
            "dataset_name": embedder.get("dataset_name"),
            "pooling_dims": list(embedder["pooling_dims"]),
            "pct_pool_per_layer": list(embedder["pct_pool_per_layer"]),
            **({"pooling_num_heads": embedder["pooling_num_heads"]} if "pooling_num_heads" in embedder else {}),
            **_block_section("model.embedder", embedder, embedder.get("num_layers", 1)),
        },
        "core": {key: core[key] for key in ("core_type", "ffn_dim", "activation") if key in core},
        "latent_decoder": {
            "latent_decoded_into": head["latent_decoded_into"],
            **_block_section("model.lm_head", head, head["num_layers"]),
        },
        "head": {"normalization": head.get("normalization", "rms_norm"), "bias": head.get("bias", False)},
    }
    if "core_model_type" in core:
        kwargs["core"]["core_type"] = _canonical(core["core_model_type"], NT_CORE_TYPE_ALIASES)
    if "lm_head_type" in head and head["lm_head_type"] != "latent_2_seq":
        raise ValueError(f"model.lm_head.lm_head_type={head['lm_head_type']!r} is invalid; allowed: 'latent_2_seq'")
    # The original's embedder.context_window is the span one latent encodes: our thought_length.
    if "context_window" in embedder:
        kwargs["thought_length"] = embedder["context_window"]
    return kwargs


def next_thought_config_to_stlm(config) -> dict:
    encoder, decoder = config.embedder, config.latent_decoder

    def blocks(section):
        ffn, attention = section["ffn"], section["attention"]
        return {
            "standard_ffn_block": dict(ffn),
            "standard_attn_block": {"attn_type": "generic", **attention, "is_causal": section is decoder},
        }

    model = {
        "embedder": {
            "tokenizer_type": encoder["tokenizer_type"],
            "embedding_model_type": encoder["embedder_type"],
            "dataset_name": encoder["dataset_name"],
            "pooling_dims": list(encoder["pooling_dims"]),
            "pct_pool_per_layer": list(encoder["pct_pool_per_layer"]),
            "pooling_num_heads": encoder["pooling_num_heads"],
            "context_window": config.thought_length,
            "num_layers": encoder["num_layers"],
            **blocks(encoder),
        },
        "core_model": {"core_model_type": _ORIGINAL_CORE_TYPES[config.core["core_type"]], "ffn_dim": config.core["ffn_dim"],
                       "activation": config.core["activation"]},
        "lm_head": {
            "lm_head_type": "latent_2_seq",
            "latent_decoded_into": decoder["latent_decoded_into"],
            "num_layers": decoder["num_layers"],
            "normalization": config.head["normalization"],
            "bias": config.head["bias"],
            **blocks(decoder),
        },
        "latent_dim": config.latent_dim,
        "embedding_dim": config.embedding_dim,
        "hidden_dim": config.embedding_dim,
        "context_window": config.max_position_embeddings,
        "vocab_size": config.vocab_size,
        "model_shell_type": "next_thought",
        "embedding_weight_tying": config.tie_word_embeddings,
        "positional_encoding_type": config.positional_encoding_type,
    }
    if config.dropout:
        model["dropout"] = config.dropout
    return model
