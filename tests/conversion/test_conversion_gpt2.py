"""TinyLM ⇄ GPT-2: identical logits both ways, and clear refusals for what the other side cannot express."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from conversion import UnsupportedFeatureError, from_gpt2, to_gpt2
from model_factory import tiny_config, tiny_model
from test_conversion_llama import TOLERANCE, logit_diff, randomized


def gpt2_like_tinylm(attn_implementation="eager", activation="gelu_tanh", **settings):
    """A random TinyLM with GPT-2's shape (learned positions, biased layer_norm, generic FFN, multi-head), or a
    variation of it."""
    settings = {"positional_encoding_type": "learned", "normalization": "layer_norm", "bias": True,
                "ffn_type": "generic", "group_size": 1, **settings}
    core = tiny_config(**settings).core
    core["ffn"]["activation"] = activation
    return randomized(tiny_model(attn_implementation, **settings, core=core))


def random_gpt2(**overrides) -> GPT2LMHeadModel:
    settings = dict(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4, n_inner=None,
                    activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                    bos_token_id=96, eos_token_id=96)
    settings.update(overrides)
    return randomized(GPT2LMHeadModel(GPT2Config(**settings)))


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_to_gpt2_and_back_keep_logits_and_weights(attn_implementation):
    tiny = gpt2_like_tinylm(attn_implementation)
    gpt2 = to_gpt2(tiny)
    assert isinstance(gpt2, GPT2LMHeadModel) and gpt2.config.activation_function == "gelu_new"
    assert gpt2.config._attn_implementation == attn_implementation
    diff = logit_diff(tiny, gpt2)
    back = from_gpt2(gpt2)
    back_diff = logit_diff(gpt2, back)
    print(f"\nTinyLM → GPT-2 [{attn_implementation}]: max |Δlogits| = {diff:.3g}; GPT-2 → TinyLM: {back_diff:.3g}")
    assert diff <= TOLERANCE and back_diff <= TOLERANCE
    original, returned = tiny.state_dict(), back.state_dict()
    assert original.keys() == returned.keys()
    assert all(torch.equal(original[key], returned[key]) for key in original)


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_from_gpt2_maps_gelu_new_and_the_biased_final_norm(tied):
    gpt2 = random_gpt2(tie_word_embeddings=tied, layer_norm_epsilon=1e-6, attn_pdrop=0.1)
    tiny = from_gpt2(gpt2)
    config = tiny.config
    assert config.core["ffn"]["activation"] == "gelu_tanh"
    assert config.head == {"head_type": "generic", "normalization": "layer_norm", "bias": True}
    assert (config.layer_norm_eps, config.attention_dropout, config.eos_token_id) == (1e-6, 0.1, 96)
    assert config.tie_word_embeddings == tied
    diff = logit_diff(gpt2, tiny)
    print(f"\nGPT-2 ({'tied' if tied else 'untied'}) → TinyLM: max |Δlogits| = {diff:.3g}")
    assert diff <= TOLERANCE


@pytest.mark.parametrize(
    "settings",
    [
        dict(positional_encoding_type="sincos"),
        dict(positional_encoding_type="none", group_size=4),
        dict(group_size=2, bias=False, tie_word_embeddings=False),
        dict(core_type="generic_ffn_sharing", activation="relu"),
        dict(activation="silu"),
    ],
    ids=["sincos-table-into-wpe", "no-positions-one-kv-head", "grouped-query-no-bias-untied", "shared-ffn-relu",
         "silu"],
)
def test_to_gpt2_rewrites_equivalent_features(settings):
    tiny = gpt2_like_tinylm(**settings)
    gpt2 = to_gpt2(tiny)
    diff = logit_diff(tiny, gpt2)
    print(f"\nTinyLM {settings} → GPT-2: max |Δlogits| = {diff:.3g}")
    assert diff <= TOLERANCE


@pytest.mark.parametrize(
    ("settings", "feature"),
    [
        (dict(), "rope positions have no GPT-2 equivalent"),
        (dict(positional_encoding_type="shaw_relative"), "shaw_relative positions have no GPT-2 equivalent"),
        (dict(positional_encoding_type="alibi"), "alibi positions have no GPT-2 equivalent"),
        (dict(positional_encoding_type="learned", ffn_type="swiglu"), "the swiglu FFN has no GPT-2 equivalent"),
        (dict(positional_encoding_type="learned", ffn_type="generic"),
         "core.attention.normalization=rms_norm has no GPT-2 equivalent"),
    ],
)
def test_to_gpt2_names_what_gpt2_cannot_express(settings, feature):
    with pytest.raises(UnsupportedFeatureError) as error:
        to_gpt2(tiny_model(**settings))
    assert feature in str(error.value)


def test_learned_activation_is_refused_for_gpt2():
    with pytest.raises(UnsupportedFeatureError, match="'learned' activation has no GPT-2 equivalent"):
        to_gpt2(gpt2_like_tinylm(activation="learned"))


@pytest.mark.parametrize(
    ("settings", "feature"),
    [
        (dict(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx=true"),
        (dict(scale_attn_weights=False), "unscaled attention"),
        (dict(activation_function="quick_gelu"), "activation_function='quick_gelu'"),
    ],
)
def test_from_gpt2_names_what_tinylm_cannot_express(settings, feature):
    with pytest.raises(UnsupportedFeatureError) as error:
        from_gpt2(random_gpt2(**settings))
    assert feature in str(error.value)
