"""One entry for the original STLM ``model:`` sections: ``config_from_stlm`` and ``model_from_stlm``.

The original builds a model from four registry names (embedder, core, head, shell). Each combination that makes
a model maps to one of our families; any other combination is refused with the parts that clash:

| family         | embedding_model_type | core_model_type                  | lm_head_type | model_shell_type        |
|----------------|----------------------|----------------------------------|--------------|-------------------------|
| tinylm         | generic              | generic, generic_ffn_sharing     | generic      | standard                |
| byte_level     | byte_level           | generic, generic_ffn_sharing     | byte_level   | standard, byte_shell    |
| next_thought   | hierarchical         | next_thought_baseline            | latent_2_seq | standard, next_thought  |
| hf_core        | generic              | hf_core (+ model_string)         | generic      | standard                |
| hugging_face   | hf_embedder          | hf_core (+ model_string)         | hf_head      | standard                |

Spellings on which the original's files and code disagree are accepted (docs/stlm-configs.md lists them).
"""

import dataclasses

from .stlm_config import _plain
from .stlm_experimental_config import NT_CORE_TYPE_ALIASES, NT_EMBEDDER_TYPE_ALIASES

GPT2_VOCAB_SIZE = 50257
GPT2_END_OF_TEXT = 50256


@dataclasses.dataclass(frozen=True)
class _Family:
    name: str
    embedders: tuple
    cores: tuple
    heads: tuple
    shells: tuple

    def describe(self) -> str:
        return (f"embedding_model_type {'|'.join(self.embedders)} + lm_head_type {'|'.join(self.heads)} "
                f"(model_shell_type {'|'.join(self.shells)})")


FAMILIES = (
    _Family("tinylm", ("generic",), ("generic", "generic_ffn_sharing"), ("generic",), ("standard",)),
    _Family("byte_level", ("byte_level",), ("generic", "generic_ffn_sharing"), ("byte_level",),
            ("standard", "byte_shell")),
    _Family("next_thought", ("hierarchical",), ("next_thought_baseline",), ("latent_2_seq",),
            ("standard", "next_thought")),
    _Family("hf_core", ("generic",), ("hf_core",), ("generic",), ("standard",)),
    _Family("hugging_face", ("hf_embedder",), ("hf_core",), ("hf_head",), ("standard",)),
)
EMBEDDER_TYPES = ("generic", "byte_level", "hf_embedder", "hierarchical")
CORE_TYPES = ("generic", "generic_ffn_sharing", "hf_core", "next_thought_baseline")
HEAD_TYPES = ("generic", "byte_level", "hf_head", "latent_2_seq")
SHELL_TYPES = ("standard", "byte_shell", "next_thought")
# The original's files and code spell some type names two ways; the canonical name is the right-hand one.
TYPE_ALIASES = {
    "embedding_model_type": dict(NT_EMBEDDER_TYPE_ALIASES),
    # Our next-thought config names its latent core "baseline"; older to_stlm() output wrote that.
    "core_model_type": {ours: theirs for theirs, ours in NT_CORE_TYPE_ALIASES.items()},
}


def _section(cfg: dict, name: str) -> dict:
    value = cfg.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"model.{name} must be a mapping, got {type(value).__name__} {value!r}")
    return value


def _choice(field: str, value, allowed: tuple, aliases: dict = None) -> str:
    value = (aliases or {}).get(value, value) if isinstance(value, str) else value
    if value not in allowed:
        raise ValueError(f"{field}={value!r} is not a known type; allowed: {', '.join(allowed)}")
    return value


def stlm_family(model_section) -> str:
    """Which of our model families builds this ``model:`` section (a name of ``FAMILIES``), or a ValueError that
    names the parts that clash."""
    cfg = _plain(model_section)
    if not isinstance(cfg, dict):
        raise ValueError(f"model must be a mapping, got {type(cfg).__name__} {cfg!r}")
    core_section = _section(cfg, "core_model")
    if "core_model_type" not in core_section:
        raise ValueError(f"model.core_model is missing required key core_model_type; allowed: {', '.join(CORE_TYPES)}")
    parts = {
        "embedder": _choice("model.embedder.embedding_model_type",
                            _section(cfg, "embedder").get("embedding_model_type", "generic"), EMBEDDER_TYPES,
                            TYPE_ALIASES["embedding_model_type"]),
        "core": _choice("model.core_model.core_model_type", core_section["core_model_type"], CORE_TYPES,
                        TYPE_ALIASES["core_model_type"]),
        "head": _choice("model.lm_head.lm_head_type", _section(cfg, "lm_head").get("lm_head_type", "generic"),
                        HEAD_TYPES),
        "shell": _choice("model.model_shell_type", cfg.get("model_shell_type", "standard"), SHELL_TYPES),
    }
    candidates = [family for family in FAMILIES if parts["core"] in family.cores]
    for family in candidates:
        if (parts["embedder"] in family.embedders and parts["head"] in family.heads
                and parts["shell"] in family.shells):
            _check_family_keys(family.name, cfg)
            return family.name
    got = (f"embedding_model_type={parts['embedder']!r}, lm_head_type={parts['head']!r}, "
           f"model_shell_type={parts['shell']!r}")
    ways = " or ".join(family.describe() for family in candidates)
    raise ValueError(f"model: core_model_type={parts['core']!r} cannot be built with {got}; "
                     f"allowed with this core: {ways}")


def _check_family_keys(family: str, cfg: dict):
    tokenizer_type = _section(cfg, "embedder").get("tokenizer_type")
    wraps_pretrained = family in ("hf_core", "hugging_face")
    if wraps_pretrained and "model_string" not in cfg:
        raise ValueError("model.model_string is missing; core_model_type 'hf_core' wraps a pretrained transformers "
                         "model: give its Hub id or a local folder")
    if not wraps_pretrained and "model_string" in cfg:
        raise ValueError(f"model.model_string={cfg['model_string']!r} is only read with core_model_type 'hf_core'; "
                         f"allowed: remove it, or use core_model_type: hf_core")
    if family == "hugging_face" and tokenizer_type not in (None, "hf_tokenizer"):
        raise ValueError(f"model.embedder.tokenizer_type={tokenizer_type!r} clashes with embedding_model_type "
                         f"'hf_embedder', which uses the pretrained model's own tokenizer; allowed: hf_tokenizer")
    if family != "hugging_face" and tokenizer_type == "hf_tokenizer":
        raise ValueError("model.embedder.tokenizer_type='hf_tokenizer' is the pretrained model's own tokenizer and "
                         "goes with embedding_model_type 'hf_embedder' (and hf_core, hf_head); allowed here: gpt2, bpe")


def _special_token_ids(cfg: dict) -> dict:
    """The original tokenizers' end-of-text and pad ids: GPT-2's 50256 for both; a BPE's last two ids."""
    embedder = cfg.get("embedder") or {}
    kind, vocab_size = embedder.get("tokenizer_type"), cfg.get("vocab_size")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        return {}
    if kind == "gpt2" and vocab_size >= GPT2_VOCAB_SIZE:
        return {"eos_token_id": GPT2_END_OF_TEXT, "pad_token_id": GPT2_END_OF_TEXT}
    if kind == "bpe" and vocab_size >= 2:
        return {"eos_token_id": vocab_size - 1, "pad_token_id": vocab_size - 2}
    return {}


def config_from_stlm(model_section, **overrides):
    """The config of the model an original STLM ``model:`` section describes (a dict or an OmegaConf DictConfig):
    ``TinyLMConfig``, ``TinyLMByteConfig``, ``TinyLMNextThoughtConfig``, ``TinyLMHFCoreConfig``, or the pretrained
    model's own transformers config for a whole Hugging Face model. ``overrides`` are config keyword arguments."""
    cfg = _plain(model_section)
    family = stlm_family(cfg)
    if family == "hugging_face":
        from .pretrained import pretrained_config
        from .stlm_hf_config import check_whole_hf_section

        config = pretrained_config(cfg["model_string"])
        check_whole_hf_section(cfg, config)
        for key, value in overrides.items():
            setattr(config, key, value)
        return config
    kwargs = {**_special_token_ids(cfg), **overrides}
    if family == "hf_core":
        from .modeling.configuration_tinylm_hf_core import TinyLMHFCoreConfig
        from .pretrained import pretrained_config
        from .stlm_hf_config import stlm_hf_core_to_kwargs

        translated = stlm_hf_core_to_kwargs(cfg)
        core_config = pretrained_config(cfg["model_string"])
        return TinyLMHFCoreConfig(core_config=core_config.to_dict(), **{**translated, **kwargs})
    if family == "byte_level":
        from .modeling.configuration_tinylm_byte import TinyLMByteConfig

        return TinyLMByteConfig.from_stlm(cfg, **kwargs)
    if family == "next_thought":
        from .modeling.configuration_tinylm_next_thought import TinyLMNextThoughtConfig

        return TinyLMNextThoughtConfig.from_stlm(cfg, **kwargs)
    from .modeling.configuration_tinylm import TinyLMConfig

    return TinyLMConfig.from_stlm(cfg, **kwargs)


def model_from_stlm(model_section, **overrides):
    """A ready model for an original STLM ``model:`` section (see ``config_from_stlm``): freshly initialised, with
    the pretrained weights where the section wraps a pretrained model (``model_string``), and with its tokenizer
    attached where one can be had without training (GPT-2's, or the pretrained model's own). A ``bpe`` tokenizer
    must be trained on data first (``tinylm tokenizer train``) and attached with ``model.set_tokenizer``."""
    cfg = _plain(model_section)
    config = config_from_stlm(cfg, **overrides)
    family = stlm_family(cfg)
    if family == "hugging_face":
        from .pretrained import pretrained_causal_lm, pretrained_tokenizer

        model = pretrained_causal_lm(cfg["model_string"])
        for key, value in overrides.items():
            setattr(model.config, key, value)
        # Not a module and not saved by the model's save_pretrained: save it beside the model yourself.
        model.tokenizer = pretrained_tokenizer(cfg["model_string"])
        return model
    model = _model_class(family)(config)
    if family == "hf_core":
        from .pretrained import pretrained_causal_lm

        pretrained = pretrained_causal_lm(cfg["model_string"])
        model.core.body.load_state_dict(pretrained.base_model.state_dict())
        model.freeze_core(config.freeze_core)
    tokenizer = _stlm_tokenizer(config)
    if tokenizer is not None:
        model.set_tokenizer(tokenizer)
    return model


def _model_class(family: str):
    if family == "byte_level":
        from .modeling.modeling_tinylm_byte import TinyLMByteForCausalLM

        return TinyLMByteForCausalLM
    if family == "next_thought":
        from .modeling.modeling_tinylm_next_thought import TinyLMNextThoughtForCausalLM

        return TinyLMNextThoughtForCausalLM
    if family == "hf_core":
        from .modeling.modeling_tinylm_hf_core import TinyLMHFCoreForCausalLM

        return TinyLMHFCoreForCausalLM
    from .modeling.modeling_tinylm import TinyLMForCausalLM

    return TinyLMForCausalLM


def _stlm_tokenizer(config):
    """GPT-2's tokenizer (shipped offline) for a gpt2 model whose vocabulary holds it; else None."""
    if config.embedder["tokenizer_type"] != "gpt2" or config.vocab_size < GPT2_VOCAB_SIZE:
        return None
    try:
        from tokenizers_ext import GPT2Tokenizer
    except ImportError:
        return None
    return GPT2Tokenizer()


def stlm_section(config_or_model) -> dict:
    """The original ``model:`` section describing a config or model of any family built by ``model_from_stlm``
    (``config.to_stlm()`` for ours; a pretrained transformers model is described as the hugging_face shape)."""
    config = getattr(config_or_model, "config", config_or_model)
    if hasattr(config, "to_stlm"):
        return config.to_stlm()
    from .stlm_hf_config import whole_hf_config_to_stlm

    return whole_hf_config_to_stlm(config)
