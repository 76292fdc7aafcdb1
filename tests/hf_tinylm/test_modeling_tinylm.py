"""Behaviour of TinyLMForCausalLM: causality, caching, padding, attention variants, relative positions, HF API."""

import pytest
import torch
from model_factory import POSITIONAL_SCHEMES, tiny_config, tiny_model
from transformers import DynamicCache

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM, TinyLMModel
from hf_tinylm.modeling.embedder import pad_token_lists
from hf_tinylm.modeling.modeling_tinylm import CACHE_FIELD

VOCAB = 97


def random_ids(batch=2, length=12, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (batch, length), generator=generator)


def left_pad(sequences, pad_id=0):
    return pad_token_lists(sequences, pad_id, "left")


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_logits_at_t_ignore_tokens_after_t(scheme, attn):
    model = tiny_model(positional_encoding_type=scheme, attn_implementation=attn)
    ids = random_ids()
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % VOCAB
    with torch.no_grad():
        before, after = model(ids).logits, model(changed).logits
    torch.testing.assert_close(before[:, :6], after[:, :6], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 6:], after[:, 6:])


@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_bidirectional_attention_sees_the_future(scheme):
    model = tiny_model(positional_encoding_type=scheme, is_causal=False)
    ids = random_ids()
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % VOCAB
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits[:, 0], model(changed).logits[:, 0])
        sdpa = tiny_model(positional_encoding_type=scheme, is_causal=False, attn_implementation="sdpa")
        torch.testing.assert_close(model(ids).logits, sdpa(ids).logits, rtol=1e-5, atol=1e-5)


def _greedy(model, ids, mask, use_cache):
    return model.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=8,
        do_sample=False,
        use_cache=use_cache,
        output_logits=True,
        return_dict_in_generate=True,
        pad_token_id=0,
        eos_token_id=None,
    )


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_cached_and_uncached_greedy_generation_agree(scheme, attn):
    model = tiny_model(positional_encoding_type=scheme, attn_implementation=attn)
    ids, mask = left_pad([random_ids(1, 9, seed=2)[0], random_ids(1, 5, seed=3)[0]])
    with torch.no_grad():
        cached, uncached = _greedy(model, ids, mask, True), _greedy(model, ids, mask, False)
    assert torch.equal(cached.sequences, uncached.sequences)
    for step_cached, step_uncached in zip(cached.logits, uncached.logits):
        torch.testing.assert_close(step_cached, step_uncached, rtol=0, atol=1e-5)


@pytest.mark.parametrize("scheme", ["rope", "alibi", "shaw_relative"])
def test_static_cache_generation_matches_dynamic(scheme):
    model = tiny_model(positional_encoding_type=scheme, attn_implementation="sdpa")
    ids, mask = left_pad([random_ids(1, 7, seed=4)[0], random_ids(1, 4, seed=5)[0]])
    with torch.no_grad():
        dynamic = model.generate(ids, attention_mask=mask, max_new_tokens=6, do_sample=False, pad_token_id=0)
        static = model.generate(
            ids, attention_mask=mask, max_new_tokens=6, do_sample=False, pad_token_id=0, cache_implementation="static"
        )
    assert torch.equal(dynamic, static)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_left_padded_batch_matches_each_sequence_alone(scheme, attn):
    model = tiny_model(positional_encoding_type=scheme, attn_implementation=attn)
    sequences = [random_ids(1, 10, seed=6)[0], random_ids(1, 4, seed=7)[0], random_ids(1, 7, seed=8)[0]]
    ids, mask = left_pad(sequences)
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).logits[:, -1]
        for row, seq in enumerate(sequences):
            alone = model(seq[None]).logits[:, -1]
            torch.testing.assert_close(batched[row : row + 1], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_sdpa_equals_eager(scheme):
    eager = tiny_model(positional_encoding_type=scheme, attn_implementation="eager")
    sdpa = tiny_model(positional_encoding_type=scheme, attn_implementation="sdpa")
    ids, mask = left_pad([random_ids(1, 9, seed=9)[0], random_ids(1, 6, seed=10)[0]])
    real = mask.bool()  # padding rows attend to nothing; backends may fill them differently
    with torch.no_grad():
        torch.testing.assert_close(eager(ids, attention_mask=mask).logits[real],
                                   sdpa(ids, attention_mask=mask).logits[real], rtol=1e-5, atol=1e-5)


def test_set_attn_implementation_switches_backend():
    model = tiny_model(attn_implementation="eager")
    model.set_attn_implementation("sdpa")
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_grouped_query_equals_multi_head_with_repeated_kv(attn):
    """Query head j must read key/value head j // group_size: expand GQA's k/v into a multi-head model."""
    grouped = tiny_model(num_heads=4, group_size=2, attn_implementation=attn)
    multi = tiny_model(num_heads=4, group_size=1, attn_implementation=attn)
    head_dim = grouped.config.head_dim
    state = grouped.state_dict()
    for name, tensor in list(state.items()):
        if name.endswith("attn.c_attn.weight"):
            q, k, v = tensor.split([4 * head_dim, 2 * head_dim, 2 * head_dim])
            expand = lambda w: w.view(2, 1, head_dim, -1).expand(2, 2, head_dim, w.shape[-1]).reshape(4 * head_dim, -1)
            state[name] = torch.cat([q, expand(k), expand(v)])
    multi.load_state_dict(state)
    ids = random_ids()
    with torch.no_grad():
        torch.testing.assert_close(grouped(ids).logits, multi(ids).logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scheme", ["alibi", "shaw_relative", "none"])
def test_relative_schemes_depend_only_on_offsets(scheme):
    """Shift the sequence (absolute positions, or a masked prefix moving it along the cache): nothing changes."""
    model = tiny_model(positional_encoding_type=scheme)
    ids = random_ids(1, 10)
    with torch.no_grad():
        reference = model(ids).logits
        shifted_positions = model(ids, position_ids=torch.arange(10)[None] + 17).logits
        torch.testing.assert_close(reference, shifted_positions, rtol=0, atol=1e-6)
        prefix = torch.randint(0, VOCAB, (1, 5))
        mask = torch.cat([torch.zeros(1, 5, dtype=torch.long), torch.ones(1, 10, dtype=torch.long)], dim=1)
        shifted_index = model(torch.cat([prefix, ids], dim=1), attention_mask=mask).logits[:, 5:]
        torch.testing.assert_close(reference, shifted_index, rtol=1e-5, atol=1e-5)


def test_absolute_schemes_do_see_the_shift():
    # The check above can fail: with absolute positions the same shift changes the logits. (RoPE is not in this
    # list: rotating queries and keys by the same extra angle leaves their dot products unchanged.)
    for scheme in ("learned", "sincos"):
        model = tiny_model(positional_encoding_type=scheme)
        ids = random_ids(1, 10)
        with torch.no_grad():
            assert not torch.allclose(model(ids).logits, model(ids, position_ids=torch.arange(10)[None] + 17).logits)


def test_relative_position_tables_follow_the_offset():
    from hf_tinylm.modeling.positional_encoding import ALiBiPositionalEncoding, ShawRelativePositionalEncoding

    config = tiny_config(max_relative_position=3)
    query, key = torch.arange(4, 8), torch.arange(0, 8)
    shaw = ShawRelativePositionalEncoding(config)
    buckets = shaw.relative_buckets(query, key)
    assert torch.equal(buckets, shaw.relative_buckets(query + 11, key + 11))
    assert buckets[0, 0] == 0 and buckets[0, 4] == 3 and buckets[3, 7] == 3 and buckets[0, 7] == 6
    alibi = ALiBiPositionalEncoding(config)
    bias = alibi.score_bias(query, key)
    assert torch.equal(bias, alibi.score_bias(query + 11, key + 11))
    assert torch.allclose(bias[0, 0, 4], torch.tensor(0.0)) and bias[0, 0, 0] < bias[0, 0, 3] < 0


def test_shaw_relative_vectors_enter_keys_and_values():
    model = tiny_model(positional_encoding_type="shaw_relative")
    ids = random_ids()
    with torch.no_grad():
        reference = model(ids).logits
        for table in ("keys", "values"):
            changed = tiny_model(positional_encoding_type="shaw_relative")
            # A random change per distance: a constant shift of every a^K would cancel in the softmax.
            table_tensor = getattr(changed.model.core.h[0].attn.relative_positions, table)
            table_tensor.add_(torch.randn_like(table_tensor))
            assert not torch.allclose(reference, changed(ids).logits), table


def test_default_attention_backend_is_sdpa():
    model = TinyLMForCausalLM(tiny_config())
    assert model.config._attn_implementation == "sdpa"
    assert TinyLMForCausalLM._no_split_modules == ["TransformerBlock"]


def test_loss_ignores_minus_100_and_uses_num_items_in_batch():
    model = tiny_model()
    ids = random_ids()
    labels = ids.clone()
    labels[:, :4] = -100
    output = model(ids, labels=labels)
    logits = output.logits[:, :-1].reshape(-1, VOCAB)
    expected = torch.nn.functional.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(output.loss, expected)
    summed = model(ids, labels=labels, num_items_in_batch=torch.tensor(4)).loss
    counted = (labels[:, 1:] != -100).sum()
    torch.testing.assert_close(summed, expected * counted / 4)


def test_logits_to_keep_hidden_states_and_tuple_output():
    model = tiny_model()
    ids = random_ids()
    full = model(ids, output_hidden_states=True)
    assert len(full.hidden_states) == model.config.num_hidden_layers + 1
    last = model(ids, logits_to_keep=1).logits
    torch.testing.assert_close(last, full.logits[:, -1:])
    as_tuple = model(ids, return_dict=False, use_cache=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], full.logits)


@pytest.mark.parametrize("use_cache", [False, True])
@pytest.mark.parametrize("output_hidden_states", [False, True])
@pytest.mark.parametrize("with_labels", [False, True])
def test_tuple_output_is_transformers_to_tuple_of_the_model_output(use_cache, output_hidden_states, with_labels):
    # return_dict=False is built without the ModelOutput (decoding asks for it every step): same fields, same order.
    model = tiny_model().eval()
    ids = random_ids()
    kwargs = dict(use_cache=use_cache, output_hidden_states=output_hidden_states,
                  labels=ids if with_labels else None)
    for module, extra in ((model, kwargs), (model.model, {k: v for k, v in kwargs.items() if k != "labels"})):
        expected = module(ids, **extra).to_tuple()
        got = module(ids, return_dict=False, **extra)
        assert isinstance(got, tuple) and len(got) == len(expected)
        for mine, theirs in zip(got, expected):
            assert type(mine) is type(theirs)
            if isinstance(mine, torch.Tensor):
                assert torch.equal(mine, theirs)
            elif isinstance(mine, tuple):
                assert all(torch.equal(a, b) for a, b in zip(mine, theirs))
            else:
                assert mine.get_seq_length() == theirs.get_seq_length()


@pytest.mark.parametrize("name", ["cache", "past_key_values"])
def test_cache_is_accepted_under_both_names(name):
    model = tiny_model()
    ids = random_ids(1, 8)
    with torch.no_grad():
        full = model(ids).logits
        prefix = model(ids[:, :5], use_cache=True)
        cache = getattr(prefix, CACHE_FIELD)
        assert isinstance(cache, DynamicCache) and cache.get_seq_length() == 5
        rest = model(ids[:, 5:], use_cache=True, **{name: cache}).logits
    torch.testing.assert_close(rest, full[:, 5:], rtol=1e-5, atol=1e-5)


def test_generation_modes_run():
    model = tiny_model()
    ids = random_ids(1, 4)
    torch.manual_seed(0)
    sampled = model.generate(ids, do_sample=True, top_k=5, temperature=0.8, max_new_tokens=5, pad_token_id=0)
    beams = model.generate(ids, num_beams=3, do_sample=False, max_new_tokens=5, pad_token_id=0, eos_token_id=None)
    assert sampled.shape == (1, 9) and beams.shape == (1, 9)
    torch.manual_seed(0)
    again = model.generate(ids, do_sample=True, top_k=5, temperature=0.8, max_new_tokens=5, pad_token_id=0)
    assert torch.equal(sampled, again)


def test_gradient_checkpointing_gives_the_same_gradients():
    ids = random_ids()
    grads = []
    for checkpointing in (False, True):
        model = tiny_model().train()
        if checkpointing:
            getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
        model(ids, labels=ids).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-5, atol=1e-6)


def test_base_model_and_ffn_sharing():
    config = tiny_config(core_type="generic_ffn_sharing")
    base = TinyLMModel(config)
    assert all(block.ffn is base.core.h[0].ffn for block in base.core.h)
    independent = TinyLMModel(tiny_config())
    unique = lambda m: sum(p.numel() for p in m.parameters())
    ffn_size = sum(p.numel() for p in independent.core.h[0].ffn.parameters())
    assert unique(independent) - unique(base) == ffn_size * (config.num_hidden_layers - 1)
    hidden = base(random_ids()).last_hidden_state
    assert hidden.shape == (2, 12, 32)


def test_gpt2_init_scales_residual_projections():
    config = tiny_config(initializer="gpt2", num_hidden_layers=8, hidden_size=64)
    model = TinyLMForCausalLM(config)
    attn = model.model.core.h[0].attn
    ratio = attn.c_proj.weight.std() / attn.c_attn.weight.std()
    assert 0.15 < ratio < 0.35  # 1/sqrt(2 * 8) = 0.25
    standard = TinyLMForCausalLM(tiny_config(initializer="standard", num_hidden_layers=8, hidden_size=64))
    attn = standard.model.core.h[0].attn
    assert 0.8 < attn.c_proj.weight.std() / attn.c_attn.weight.std() < 1.25


def test_learned_positions_beyond_context_raise_clear_error():
    model = tiny_model(positional_encoding_type="learned")
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_relative_schemes_refuse_backends_without_masks():
    model = tiny_model(positional_encoding_type="alibi")
    model.config._attn_implementation = "flash_attention_2"
    with pytest.raises(ValueError, match="attn_implementation='flash_attention_2'.*allowed: eager, sdpa"):
        model(random_ids())


def test_config_standard_names_are_views_of_the_sections():
    config = TinyLMConfig(num_hidden_layers=3, num_attention_heads=8, num_key_value_heads=2, hidden_size=64,
                          intermediate_size=80, vocab_size=100)
    assert config.core["num_layers"] == 3
    assert config.core["attention"]["num_heads"] == 8 and config.core["attention"]["group_size"] == 4
    assert config.num_key_value_heads == 2 and config.head_dim == 8 and config.core["ffn"]["ffn_dim"] == 80
    reloaded = TinyLMConfig.from_dict(config.to_dict())
    assert reloaded.to_dict() == config.to_dict()
    assert TinyLMForCausalLM(reloaded).model.core.h[0].attn.num_key_value_heads == 2
