"""The original STLM ``model:`` sections that wrap a pretrained transformers model (``model_string`` with
``hf_core``), to and from our configs.

Two shapes occur in the original's files:
- ``hf_core`` with a ``generic`` embedder and head (gpt2_qwen_training, teachermodel_training): our embedder and
  head around the pretrained body, ``TinyLMHFCoreConfig``;
- ``hf_embedder`` + ``hf_core`` + ``hf_head`` (hugging_face): the pretrained model whole, with its own tokenizer.
"""

from .stlm_config import _check_keys, _plain, embedder_to_kwargs, shell_parts_to_stlm

_TOP_REQUIRED = ("model_string", "core_model", "embedder", "lm_head")
_TOP_OPTIONAL = ("hidden_dim", "context_window", "vocab_size", "model_shell_type", "embedding_weight_tying",
                 "positional_encoding_type", "dropout", "flash_attention")
_CORE_KEYS = (("core_model_type",), ())
_EMBEDDER_KEYS = (("tokenizer_type",), ("embedding_model_type", "dataset_name"))
_HEAD_KEYS = ((), ("normalization", "bias", "lm_head_type"))
_WHOLE_EMBEDDER_KEYS = (("embedding_model_type",), ("tokenizer_type", "dataset_name"))
_WHOLE_HEAD_KEYS = (("lm_head_type",), ("normalization", "bias"))


def stlm_hf_core_to_kwargs(model_cfg) -> dict:
    """``TinyLMHFCoreConfig`` keyword arguments, except ``core_config`` (the pretrained body's, read by the caller)."""
    cfg = _plain(model_cfg)
    _check_keys("model", cfg, _TOP_REQUIRED, _TOP_OPTIONAL)
    _check_keys("model.core_model", cfg["core_model"], *_CORE_KEYS)
    _check_keys("model.embedder", cfg["embedder"], *_EMBEDDER_KEYS)
    _check_keys("model.lm_head", cfg["lm_head"], *_HEAD_KEYS)
    embedder, head = cfg["embedder"], cfg["lm_head"]
    kwargs = {
        "model_string": cfg["model_string"],
        "max_position_embeddings": cfg.get("context_window", 512),
        "positional_encoding_type": cfg.get("positional_encoding_type", "rope"),
        "tie_word_embeddings": cfg.get("embedding_weight_tying", True),
        "dropout": cfg.get("dropout", 0.0),
        "embedder": embedder_to_kwargs(embedder),
        "head": {
            "head_type": head.get("lm_head_type", "generic"),
            "normalization": head.get("normalization", "rms_norm"),
            "bias": head.get("bias", False),
        },
    }
    for ours, theirs in (("hidden_size", "hidden_dim"), ("vocab_size", "vocab_size")):
        if theirs in cfg:
            kwargs[ours] = cfg[theirs]
    return kwargs


def hf_core_config_to_stlm(config) -> dict:
    return {"model_string": config.model_string, **shell_parts_to_stlm(config, {"core_model_type": "hf_core"})}


def check_whole_hf_section(model_cfg, pretrained_config) -> dict:
    """Check a hugging_face-style section against the pretrained model's config; returns it as plain dicts."""
    cfg = _plain(model_cfg)
    _check_keys("model", cfg, _TOP_REQUIRED, _TOP_OPTIONAL)
    _check_keys("model.core_model", cfg["core_model"], *_CORE_KEYS)
    _check_keys("model.embedder", cfg["embedder"], *_WHOLE_EMBEDDER_KEYS)
    _check_keys("model.lm_head", cfg["lm_head"], *_WHOLE_HEAD_KEYS)
    text_config = pretrained_config.get_text_config()
    for field, theirs in (("hidden_dim", "hidden_size"), ("vocab_size", "vocab_size")):
        expected = getattr(text_config, theirs, None)
        if field in cfg and expected is not None and cfg[field] != expected:
            raise ValueError(
                f"model.{field}={cfg[field]!r} differs from the pretrained model's {theirs}={expected} "
                f"(model_string={cfg['model_string']!r}); allowed: {field}: {expected}"
            )
    return cfg


def whole_hf_config_to_stlm(config) -> dict:
    """The ``model:`` section that builds this pretrained transformers model whole (``model_string`` is where it
    was loaded from)."""
    text_config = config.get_text_config()
    return {
        "model_string": config.name_or_path,
        "core_model": {"core_model_type": "hf_core"},
        "embedder": {"embedding_model_type": "hf_embedder", "tokenizer_type": "hf_tokenizer", "dataset_name": None},
        "lm_head": {"lm_head_type": "hf_head"},
        "hidden_dim": text_config.hidden_size,
        "context_window": getattr(text_config, "max_position_embeddings", None) or 512,
        "vocab_size": text_config.vocab_size,
        "model_shell_type": "standard",
        "embedding_weight_tying": bool(getattr(text_config, "tie_word_embeddings", False)),
    }
