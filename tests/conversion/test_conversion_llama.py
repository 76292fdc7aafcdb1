"""TinyLM ⇄ Llama: identical logits both ways, and clear refusals for what the other side cannot express."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from conversion import UnsupportedFeatureError, from_llama, to_llama
from hf_tinylm import TinyLMForCausalLM
from model_factory import tiny_model

TOLERANCE = 1e-5


def randomized(model, seed: int = 0):
    """Every parameter random (norm weights near 1, biases small), so that each tensor's mapping shows in the logits."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "norm" in name and name.endswith(".weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias") or parameter.ndim < 2:
                parameter.copy_(0.1 * noise)
            else:
                parameter.copy_(1.5 * noise / parameter.shape[-1] ** 0.5)
    return model.eval()


def probe_ids(vocab_size: int, seed: int = 5) -> torch.Tensor:
    return torch.randint(0, vocab_size, (2, 12), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def logit_diff(a, b, ids=None) -> float:
    ids = probe_ids(a.config.vocab_size) if ids is None else ids
    return (a(ids).logits - b(ids).logits).abs().max().item()


def random_llama(**overrides) -> LlamaForCausalLM:
    settings = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                    rope_parameters={"rope_type": "default", "rope_theta": 50000.0}, tie_word_embeddings=True,
                    bos_token_id=1, eos_token_id=2, pad_token_id=0)
    settings.update(overrides)
    return randomized(LlamaForCausalLM(LlamaConfig(**settings)))


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_to_llama_and_back_keep_logits_and_weights(tied, attn_implementation):
    tiny = randomized(tiny_model(attn_implementation, tie_word_embeddings=tied))
    llama = to_llama(tiny)
    assert isinstance(llama, LlamaForCausalLM)
    assert llama.config._attn_implementation == attn_implementation
    assert (llama.lm_head.weight is llama.model.embed_tokens.weight) == tied
    diff = logit_diff(tiny, llama)
    back = from_llama(llama)
    back_diff = logit_diff(llama, back)
    print(f"\nTinyLM → Llama [{attn_implementation}, {'tied' if tied else 'untied'}]: max |Δlogits| = {diff:.3g}; "
          f"Llama → TinyLM: {back_diff:.3g}")
    assert diff <= TOLERANCE and back_diff <= TOLERANCE
    original, returned = tiny.state_dict(), back.state_dict()
    assert original.keys() == returned.keys()
    assert all(torch.equal(original[key], returned[key]) for key in original)


def test_from_llama_carries_rope_theta_eps_biases_and_ids():
    llama = random_llama(attention_bias=True, mlp_bias=True, tie_word_embeddings=False)
    tiny = from_llama(llama)
    config = tiny.config
    assert (config.rope_theta, config.rms_norm_eps) == (50000.0, 1e-5)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (1, 2, 0)
    assert config.core["attention"]["bias"] and config.core["ffn"]["bias"] and not config.tie_word_embeddings
    diff = logit_diff(llama, tiny)
    print(f"\nLlama (attention_bias, mlp_bias) → TinyLM: max |Δlogits| = {diff:.3g}")
    assert diff <= TOLERANCE
    # TinyLM's biased pre-norms got zero biases: the function is Llama's.
    assert torch.count_nonzero(tiny.model.core.h[0].attn_norm.bias) == 0


def test_shared_ffn_is_copied_into_every_llama_layer():
    tiny = randomized(tiny_model(core_type="generic_ffn_sharing"))
    llama = to_llama(tiny)
    assert logit_diff(tiny, llama) <= TOLERANCE
    first, second = (layer.mlp.gate_proj.weight for layer in llama.model.layers)
    assert torch.equal(first, second) and first is not second


def test_dtype_mode_and_generation_config_are_kept():
    tiny = randomized(tiny_model()).to(torch.bfloat16)
    tiny.generation_config.max_new_tokens = 7
    tiny.train()
    llama = to_llama(tiny)
    assert llama.dtype == torch.bfloat16 and llama.training
    assert llama.generation_config.max_new_tokens == 7
    assert from_llama(llama).dtype == torch.bfloat16


def test_a_bfloat16_folder_converts_with_its_rotary_tables_in_float32(tmp_path):
    """from_pretrained(dtype=bfloat16) keeps computed tables (rotary frequencies) in float32; the converted model
    must too, or its logits part from the source's (and from its own once saved and reloaded)."""
    from transformers import AutoModelForCausalLM

    from conversion.verify import max_logit_difference

    randomized(tiny_model()).to(torch.bfloat16).save_pretrained(tmp_path)
    source = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    llama = to_llama(source)
    assert llama.dtype == torch.bfloat16 and llama.model.rotary_emb.inv_freq.dtype == torch.float32
    assert max_logit_difference(source, llama) == 0
    back = from_llama(llama)
    assert back.model.positions.inv_freq.dtype == torch.float32
    assert max_logit_difference(source, back) == 0


@pytest.mark.parametrize(
    ("settings", "feature"),
    [
        (dict(positional_encoding_type="shaw_relative"), "shaw_relative positions have no Llama equivalent"),
        (dict(positional_encoding_type="alibi"), "alibi positions have no Llama equivalent"),
        (dict(positional_encoding_type="learned"), "learned positions have no Llama equivalent"),
        (dict(positional_encoding_type="sincos"), "sincos positions have no Llama equivalent"),
        (dict(ffn_type="generic"), "the generic FFN (gelu) has no Llama equivalent"),
        (dict(normalization="layer_norm"), "core.attention.normalization=layer_norm has no Llama equivalent"),
        (dict(bias=True), "core.attention.bias=true (a biased RMSNorm) has no Llama equivalent"),
        (dict(is_causal=False), "bidirectional attention (core.attention.is_causal=false) has no Llama equivalent"),
    ],
)
def test_to_llama_names_what_llama_cannot_express(settings, feature):
    with pytest.raises(UnsupportedFeatureError) as error:
        to_llama(tiny_model(**settings))
    assert feature in str(error.value)


@pytest.mark.parametrize(
    ("settings", "feature"),
    [
        (dict(rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "short_factor": [1.0] * 4,
                               "long_factor": [1.0] * 4, "original_max_position_embeddings": 32}),
         "rope scaling 'longrope'"),
        (dict(hidden_act="gelu"), "hidden_act='gelu' has no TinyLM equivalent"),
        (dict(head_dim=16), "head_dim=16 with 4 heads"),
    ],
)
def test_from_llama_names_what_tinylm_cannot_express(settings, feature):
    with pytest.raises(UnsupportedFeatureError) as error:
        from_llama(random_llama(**settings))
    assert feature in str(error.value)


def test_wrong_model_classes_are_refused():
    with pytest.raises(TypeError, match="TinyLMForCausalLM"):
        to_llama(random_llama())
    with pytest.raises(TypeError, match="LlamaForCausalLM"):
        from_llama(tiny_model())
    assert isinstance(from_llama(random_llama()), TinyLMForCausalLM)
