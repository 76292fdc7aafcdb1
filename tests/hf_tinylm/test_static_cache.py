"""StaticKVCache: preallocated, written in place; what model.generate() and our decoding loop run on."""

import pytest
import torch
from model_factory import POSITIONAL_SCHEMES, tiny_model
from transformers.masking_utils import create_causal_mask

from hf_tinylm.modeling.static_cache import StaticKVCache


def padded_batch():
    ids = torch.randint(0, 97, (3, 9), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    mask[2, :2] = 0
    return ids, mask


@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_generate_runs_on_the_static_cache_and_equals_the_dynamic_one(scheme, monkeypatch):
    model = tiny_model(positional_encoding_type=scheme, attn_implementation="sdpa")
    seen = []
    forward = type(model).forward

    def recording_forward(self, *args, **kwargs):
        seen.append(type(kwargs.get("cache") or kwargs.get("past_key_values")).__name__)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", recording_forward)
    ids, mask = padded_batch()
    options = dict(attention_mask=mask, max_new_tokens=10, do_sample=False, pad_token_id=0, eos_token_id=None)
    static = model.generate(ids, **options)
    assert set(seen) == {"StaticKVCache"}
    seen.clear()
    dynamic = model.generate(ids, cache_implementation="dynamic", **options)
    assert set(seen) == {"DynamicCache"}
    uncached = model.generate(ids, use_cache=False, **options)
    assert torch.equal(static, dynamic) and torch.equal(static, uncached)


def test_beam_search_and_several_sequences_per_prompt_reorder_the_static_cache():
    model = tiny_model()
    ids, mask = padded_batch()
    options = dict(attention_mask=mask, max_new_tokens=6, num_beams=3, num_return_sequences=2, pad_token_id=0,
                   eos_token_id=None, do_sample=False)
    assert torch.equal(model.generate(ids, **options), model.generate(ids, cache_implementation="dynamic", **options))


def test_growing_and_fixed_length_updates():
    keys = torch.randn(2, 3, 4, 8)
    growing, fixed = StaticKVCache(1, 10), StaticKVCache(1, 10, fixed_length=True)
    k, v = growing.update(keys, keys + 1, 0)
    assert k.shape == (2, 3, 4, 8) and torch.equal(k, keys) and torch.equal(v, keys + 1)
    k, _ = growing.update(keys[:, :, :1], keys[:, :, :1], 0)
    assert k.shape[2] == 5 and growing.get_seq_length() == 5
    k, _ = fixed.update(keys, keys, 0)
    assert k.shape[2] == 10 and torch.equal(k[:, :, :4], keys) and not k[:, :, 4:].any()
    fixed.update(keys[:, :, :1], keys[:, :, :1], 0)
    assert fixed.get_seq_length() == 5 and torch.equal(fixed.layers[0].keys[:, :, 4], keys[:, :, 0])
    growing.crop(-2)
    assert growing.get_seq_length() == 3
    with pytest.raises(ValueError, match="holds 10 tokens"):
        growing.update(torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8), 0)
    with pytest.raises(ValueError, match="max_length=0 is invalid"):
        StaticKVCache(1, 0)


def test_its_mask_is_transformers_causal_mask_on_real_queries_and_keeps_padding_rows_finite():
    model = tiny_model()
    ids, mask = padded_batch()
    hidden = torch.zeros(3, 9, 32)
    ours = StaticKVCache(2, 16).attention_mask_for(mask, 9, torch.float32, materialize=True)
    model.config._attn_implementation = "eager"
    reference = create_causal_mask(model.config, hidden, mask, None, allow_is_causal_skip=False)
    reference = reference == 0 if reference.dtype != torch.bool else reference
    real_queries = mask.bool()[:, None, :, None]
    assert torch.equal(ours & real_queries, reference & real_queries)
    assert ours.any(-1).all()  # every row, padding included, attends somewhere
    # One new token after the prompt: it sees the real tokens so far (and itself).
    cache = StaticKVCache(2, 16)
    cache.update(torch.zeros(3, 2, 9, 8), torch.zeros(3, 2, 9, 8), 0)
    step = cache.attention_mask_for(torch.cat([mask, torch.ones(3, 1, dtype=mask.dtype)], 1), 1, torch.float32, True)
    assert step.shape == (3, 1, 1, 10) and torch.equal(step[:, 0, 0, :9], mask.bool())
    assert cache.attention_mask_for(None, 1, torch.float32) is None  # no padding, one query: plain attention
