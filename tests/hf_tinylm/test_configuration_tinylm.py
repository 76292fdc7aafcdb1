"""TinyLMConfig: validation with clear errors, standard names, and the original STLM config format."""

import copy

import pytest
from transformers import AutoConfig, AutoModelForCausalLM

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM

# The original project's baseline `model:` section, verbatim (stlm-format.md).
STLM_BASELINE = {
    "core_model": {
        "core_model_type": "generic",
        "num_layers": 8,
        "ffn": {"ffn_type": "swiglu", "ffn_dim": 1320, "activation": "gelu", "normalization": "rms_norm", "bias": False},
        "attn": {"attn_type": "generic", "num_heads": 16, "normalization": "rms_norm", "group_size": 4, "bias": False,
                 "is_causal": True},
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


def test_from_stlm_reads_the_baseline_and_to_stlm_gives_it_back():
    config = TinyLMConfig.from_stlm(copy.deepcopy(STLM_BASELINE))
    assert config.hidden_size == 512 and config.num_hidden_layers == 8 and config.num_attention_heads == 16
    assert config.num_key_value_heads == 4 and config.intermediate_size == 1320
    assert config.max_position_embeddings == 512 and config.vocab_size == 50257 and config.tie_word_embeddings
    assert config.eos_token_id == 50256
    assert config.to_stlm() == STLM_BASELINE


def test_from_stlm_accepts_an_omegaconf_dictconfig():
    omegaconf = pytest.importorskip("omegaconf")
    config = TinyLMConfig.from_stlm(omegaconf.OmegaConf.create(STLM_BASELINE))
    assert config.to_stlm() == STLM_BASELINE


@pytest.mark.parametrize(
    "path, message",
    [
        (("core_model", "num_layers"), "model.core_model is missing required key"),
        (("hidden_dim",), "model is missing required key"),
        (("core_model", "attn", "group_size"), "model.core_model.attn is missing required key"),
        (("embedder", "tokenizer_type"), "model.embedder is missing required key"),
    ],
)
def test_from_stlm_names_missing_keys(path, message):
    cfg = copy.deepcopy(STLM_BASELINE)
    section = cfg
    for key in path[:-1]:
        section = section[key]
    del section[path[-1]]
    with pytest.raises(ValueError, match=message) as error:
        TinyLMConfig.from_stlm(cfg)
    assert path[-1] in str(error.value)


def test_from_stlm_refuses_unknown_keys_and_other_shells():
    cfg = copy.deepcopy(STLM_BASELINE)
    cfg["core_model"]["ffn"]["ffn_dimension"] = 3
    with pytest.raises(ValueError, match="model.core_model.ffn has unknown key.*ffn_dimension"):
        TinyLMConfig.from_stlm(cfg)
    cfg = copy.deepcopy(STLM_BASELINE)
    cfg["model_shell_type"] = "byte_shell"
    with pytest.raises(ValueError, match="model_shell_type='byte_shell'.*allowed: 'standard'"):
        TinyLMConfig.from_stlm(cfg)


def _small(**kwargs):
    base = dict(vocab_size=64, hidden_size=32, core={"num_layers": 1, "attention": {"num_heads": 4, "group_size": 2}})
    base.update(kwargs)
    return base


# (keyword arguments, field named in the error, offending value, words from the allowed part)
INVALID = [
    (_small(positional_encoding_type="xpos"), "positional_encoding_type", "'xpos'", "alibi"),
    (_small(core={"attention": {"normalization": "batch_norm"}}), "core.attention.normalization", "'batch_norm'", "rms_norm"),
    (_small(core={"ffn": {"normalization": "group"}}), "core.ffn.normalization", "'group'", "layer_norm"),
    (_small(head={"normalization": "scale"}), "head.normalization", "'scale'", "none"),
    (_small(core={"ffn": {"ffn_type": "moe"}}), "core.ffn.ffn_type", "'moe'", "swiglu"),
    (_small(core={"ffn": {"activation": "swish"}}), "core.ffn.activation", "'swish'", "leakyrelu"),
    (_small(core={"core_type": "recurrent"}), "core.core_type", "'recurrent'", "generic_ffn_sharing"),
    (_small(core={"attention": {"attention_type": "linear"}}), "core.attention.attention_type", "'linear'", "generic"),
    (_small(head={"head_type": "byte"}), "head.head_type", "'byte'", "generic"),
    (_small(embedder={"embedder_type": "bytes"}), "embedder.embedder_type", "'bytes'", "generic"),
    (_small(embedder={"tokenizer_type": "sentencepiece"}), "embedder.tokenizer_type", "'sentencepiece'", "bpe"),
    (_small(initializer="xavier"), "initializer", "'xavier'", "gpt2"),
    (_small(hidden_size=30), "hidden_size", "30", "multiple of the number of heads"),
    (_small(core={"attention": {"num_heads": 4, "group_size": 3}}), "core.attention.num_heads", "4",
     "group size that divides"),
    (_small(hidden_size=36, core={"attention": {"num_heads": 4, "group_size": 1}}), "head dimension", "9",
     "even head dimension"),
    (_small(hidden_size=0), "hidden_size", "0", "positive integer"),
    (_small(vocab_size=-5), "vocab_size", "-5", "positive integer"),
    (_small(max_position_embeddings=0), "max_position_embeddings", "0", "positive integer"),
    (_small(core={"num_layers": 0}), "core.num_layers", "0", "positive integer"),
    (_small(core={"ffn": {"ffn_dim": -1}}), "core.ffn.ffn_dim", "-1", "positive integer"),
    (_small(core={"attention": {"num_heads": 0}}), "core.attention.num_heads", "0", "positive integer"),
    (_small(core={"attention": {"group_size": 0}}), "core.attention.group_size", "0", "positive integer"),
    (_small(max_relative_position=0), "max_relative_position", "0", "positive integer"),
    (_small(dropout=1.5), "dropout", "1.5", "[0, 1)"),
    (_small(core={"attention": {"bias": "yes"}}), "core.attention.bias", "'yes'", "true or false"),
    (_small(core={"attention": {"heads": 4}}), "core.attention.heads", "", "num_heads"),
    (_small(head=["rms_norm"]), "head", "['rms_norm']", "dict"),
    (_small(eos_token_id=64), "eos_token_id", "64", "vocab_size=64"),
    (_small(num_key_value_heads=3), "num_key_value_heads", "3", "divisor of num_attention_heads=4"),
    (_small(rope_theta=-1.0), "rope_theta", "-1.0", "positive number"),
]


@pytest.mark.parametrize("kwargs, field, value, allowed", INVALID, ids=[case[1] + "=" + case[2] for case in INVALID])
def test_invalid_values_raise_a_clear_error_when_the_config_is_made(kwargs, field, value, allowed):
    with pytest.raises(ValueError) as error:
        TinyLMConfig(**kwargs)
    message = str(error.value)
    assert field in message and value in message and allowed in message, message


def test_auto_classes_know_tinylm():
    config = AutoConfig.for_model("tinylm", **_small())
    assert isinstance(config, TinyLMConfig)
    assert isinstance(AutoModelForCausalLM.from_config(config), TinyLMForCausalLM)


def test_sizes_overridden_at_load_time(tmp_path):
    config = TinyLMConfig(**_small())
    config.save_pretrained(tmp_path)
    reloaded = AutoConfig.from_pretrained(tmp_path, num_hidden_layers=3)
    assert reloaded.core["num_layers"] == 3 and reloaded.num_key_value_heads == 2
