"""Our decoding loop: greedy tokens identical to model.generate() and to uncached decoding, for every model shape."""

import pytest
import torch
from model_factory import POSITIONAL_SCHEMES, tiny_model
from transformers import LlamaConfig, LlamaForCausalLM

from hf_tinylm.generation import GreedyGenerator, StaticCacheDecoder, TransformersDecoder, build_decoder
from hf_tinylm.generation.decoding import Decoder, normalize_compile_mode, supports_static_cache, weights_signature
from hf_tinylm.modeling.embedder import pad_token_lists

VOCAB = 97
NEW_TOKENS = 8


def left_padded_batch(lengths=(9, 4, 6), seed=3, pad_id=0):
    generator = torch.Generator().manual_seed(seed)
    rows = [torch.randint(0, VOCAB, (length,), generator=generator).tolist() for length in lengths]
    return pad_token_lists(rows, pad_id, "left")


def hf_greedy(model, ids, mask, new_tokens=NEW_TOKENS, use_cache=True):
    with torch.no_grad():
        return model.generate(
            ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False, use_cache=use_cache,
            pad_token_id=0, eos_token_id=None,
        )


def ours(model, ids, mask, decoder="auto", new_tokens=NEW_TOKENS):
    return GreedyGenerator(model, decoder=decoder, ignore_eos=True).generate_ids(ids, new_tokens, attention_mask=mask)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_static_cache_greedy_equals_generate_and_uncached(scheme, attn):
    model = tiny_model(positional_encoding_type=scheme, attn_implementation=attn)
    ids, mask = left_padded_batch()
    assert isinstance(build_decoder(model), StaticCacheDecoder)
    reference = hf_greedy(model, ids, mask)
    assert torch.equal(ours(model, ids, mask), reference)
    assert torch.equal(ours(model, ids, mask, decoder="uncached"), reference)
    if attn == "sdpa":
        assert torch.equal(ours(model, ids, mask, decoder="transformers"), reference)


@pytest.mark.parametrize("scheme", POSITIONAL_SCHEMES)
def test_left_padded_rows_decode_as_if_alone(scheme):
    model = tiny_model(positional_encoding_type=scheme)
    ids, mask = left_padded_batch(lengths=(8, 3))
    batched = ours(model, ids, mask)
    for row in range(2):
        alone = ids[row, mask[row].bool()][None]
        assert torch.equal(ours(model, alone, None)[0, -NEW_TOKENS:], batched[row, -NEW_TOKENS:])


def test_static_cache_logits_match_the_full_forward():
    """Beyond argmax: each step's logits equal the last-position logits of the whole sequence."""
    model = tiny_model(positional_encoding_type="alibi")
    ids, mask = left_padded_batch(lengths=(7, 5))
    session = build_decoder(model).session(ids, mask, 5)
    logits, sequence, full_mask = session.prefill(), ids, mask
    for _ in range(5):
        with torch.no_grad():
            expected = model(sequence, attention_mask=full_mask).logits[:, -1]
        torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
        next_ids = logits.argmax(-1)
        sequence = torch.cat([sequence, next_ids[:, None]], dim=1)
        full_mask = torch.cat([full_mask, torch.ones_like(full_mask[:, :1])], dim=1)
        logits = session.step(next_ids)


@pytest.mark.parametrize(
    "shape",
    [
        dict(core_type="generic_ffn_sharing"),
        dict(ffn_type="generic", normalization="layer_norm", bias=True, positional_encoding_type="learned"),
        dict(num_heads=4, group_size=1, normalization="none"),
        dict(num_heads=4, group_size=4, positional_encoding_type="shaw_relative"),
    ],
    ids=["ffn_sharing", "mlp_layernorm_bias", "mha_no_norm", "mqa_shaw"],
)
def test_other_model_shapes(shape):
    model = tiny_model(**shape)
    ids, mask = left_padded_batch()
    assert torch.equal(ours(model, ids, mask), hf_greedy(model, ids, mask))


def test_bfloat16_weights_decode_like_generate():
    model = tiny_model().to(torch.bfloat16)
    ids, mask = left_padded_batch()
    assert torch.equal(ours(model, ids, mask), hf_greedy(model, ids, mask))


def test_end_of_text_stops_rows_and_pads_like_generate():
    model = tiny_model()
    ids, mask = left_padded_batch()
    eos = int(ours(model, ids, mask)[0, ids.shape[1] + 2])  # the third new token of row 0
    generator = GreedyGenerator(model, eos_token_id=eos)
    assert generator.pad_token_id == eos  # no pad id anywhere: end-of-text pads, as in transformers
    with torch.no_grad():
        expected = model.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, do_sample=False,
                                  pad_token_id=eos, eos_token_id=eos)
    got = generator.generate_ids(ids, NEW_TOKENS, attention_mask=mask)
    assert torch.equal(got, expected)
    assert (got[0, ids.shape[1] + 2 :] == eos).all()


def test_generate_ids_takes_unbatched_ids_and_zero_new_tokens():
    model = tiny_model()
    ids = torch.tensor([5, 6, 7])
    out = GreedyGenerator(model, ignore_eos=True).generate_ids(ids, 4)
    assert out.shape == (1, 7) and out[0, :3].tolist() == [5, 6, 7]
    assert torch.equal(GreedyGenerator(model).generate_ids(ids, 0), ids[None])


def test_bad_inputs_raise_clear_errors():
    model = tiny_model()
    generator = GreedyGenerator(model)
    with pytest.raises(ValueError, match="max_new_tokens=-1"):
        generator.generate_ids(torch.tensor([[1, 2]]), -1)
    with pytest.raises(ValueError, match="at least one real token"):
        generator.generate_ids(torch.tensor([[1, 2]]), 2, attention_mask=torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="decoder='fast'.*allowed"):
        GreedyGenerator(model, decoder="fast")


def test_absolute_positions_beyond_the_table_are_refused_up_front():
    model = tiny_model(positional_encoding_type="learned")  # max_position_embeddings=64
    generator = GreedyGenerator(model, ignore_eos=True)
    assert generator.generate_ids(torch.ones(1, 60, dtype=torch.long), 4).shape == (1, 64)
    with pytest.raises(ValueError, match="position 64.*max_position_embeddings=64"):
        generator.generate_ids(torch.ones(1, 60, dtype=torch.long), 5)


def test_session_refuses_steps_beyond_its_cache():
    model = tiny_model()
    session = build_decoder(model).session(torch.tensor([[1, 2, 3]]), None, 1)
    session.step(session.prefill().argmax(-1))
    with pytest.raises(RuntimeError, match="holds 4 tokens"):
        session.step(torch.tensor([1]))


def test_models_without_static_cache_support_use_the_dynamic_cache():
    llama = tiny_llama()
    assert not supports_static_cache(llama)
    assert isinstance(build_decoder(llama), TransformersDecoder)
    with pytest.raises(ValueError, match="does not declare supports_static_kv_cache"):
        StaticCacheDecoder(llama)
    with pytest.raises(ValueError, match="compile=True needs the static-cache decoder"):
        GreedyGenerator(llama, compile=True)


def tiny_llama(seed=0):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, eos_token_id=None, bos_token_id=None,
    )
    return LlamaForCausalLM(config).eval()


def test_any_transformers_causal_lm_works():
    llama = tiny_llama()
    ids, mask = left_padded_batch()
    reference = hf_greedy(llama, ids, mask)
    assert torch.equal(ours(llama, ids, mask), reference)
    assert torch.equal(ours(llama, ids, mask, decoder="uncached"), reference)


def test_a_model_saved_with_its_code_takes_the_static_path(tmp_path):
    """trust_remote_code loads transformers' own copy of our classes: still recognised, still exact."""
    from transformers import AutoModelForCausalLM

    model = tiny_model()
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, trust_remote_code=True).eval()
    decoder = build_decoder(reloaded)
    assert isinstance(decoder, StaticCacheDecoder)
    ids, mask = left_padded_batch()
    assert torch.equal(ours(reloaded, ids, mask), hf_greedy(model, ids, mask))


def test_generate_reads_the_stored_forward_signature(monkeypatch):
    """generate() asks for the forward's signature at every step (TinyLM counts as remote code): the class stores it,
    so inspect does not rebuild it from the function each time."""
    import inspect

    model = tiny_model()
    assert model.is_remote_code()
    rebuilt = []
    build = inspect._signature_from_function

    def recording_build(cls, function, *args, **kwargs):
        rebuilt.append(function.__qualname__)
        return build(cls, function, *args, **kwargs)

    monkeypatch.setattr(inspect, "_signature_from_function", recording_build)
    ids, mask = left_padded_batch()
    assert hf_greedy(model, ids, mask).shape[0] == ids.shape[0]
    assert rebuilt and "TinyLMForCausalLM.forward" not in rebuilt
    assert "cache" in inspect.signature(model.forward).parameters


@pytest.mark.slow
@pytest.mark.parametrize("scheme, dtype", [("rope", torch.float32), ("alibi", torch.float32), ("rope", torch.bfloat16)])
def test_compiled_step_decodes_like_eager(scheme, dtype):
    model = tiny_model(positional_encoding_type=scheme).to(dtype)
    ids, mask = left_padded_batch()
    compiled = GreedyGenerator(model, compile=True, ignore_eos=True).generate_ids(ids, 24, attention_mask=mask)
    assert torch.equal(compiled, ours(model, ids, mask, new_tokens=24))
    assert torch.equal(compiled, hf_greedy(model, ids, mask, new_tokens=24))


def test_compile_option_is_checked():
    assert [normalize_compile_mode(value) for value in (False, None, True, "default", "max-autotune")] == [
        None, None, "default", "default", "max-autotune"]
    model = tiny_model()
    with pytest.raises(ValueError, match=r"compile='fastest' is invalid; allowed: False, True, 'default', 'max-autotune'"):
        GreedyGenerator(model, compile="fastest")
    with pytest.raises(ValueError, match="compile='max-autotune' needs the static-cache decoder"):
        GreedyGenerator(model, decoder="transformers", compile="max-autotune")


def test_weights_signature_follows_every_weight_change():
    model = tiny_model()
    before = weights_signature(model)
    assert weights_signature(model) == before
    GreedyGenerator(model, ignore_eos=True).generate_ids(torch.tensor([[1, 2, 3]]), 4)  # decoding changes nothing
    assert weights_signature(model) == before
    with torch.no_grad():
        model.model.core.h[0].ffn.linear_2.weight.mul_(0.5)  # an in-place update, as an optimizer step makes
    changed = weights_signature(model)
    assert changed != before
    model.load_state_dict(tiny_model(seed=1).state_dict())
    assert weights_signature(model) != changed


class RecordingCompile:
    """Stands in for torch.compile: runs the step eagerly and records each compilation and whether freezing was
    on for each call (it must be on while a compiled step is traced, at each session's first step)."""

    def __init__(self):
        self.compilations, self.freezing_per_call = [], []

    def __call__(self, step, **kwargs):
        import torch._inductor.config as inductor_config

        self.compilations.append((step, kwargs))

        def run(*args):
            self.freezing_per_call.append(inductor_config.freezing)
            return step(*args)

        return run


def test_max_autotune_compiles_again_once_the_frozen_weights_change(monkeypatch):
    recorder = RecordingCompile()
    monkeypatch.setattr(torch, "compile", recorder)
    model = tiny_model()
    generator = GreedyGenerator(model, compile="max-autotune", ignore_eos=True)
    ids, mask = left_padded_batch()
    first = generator.generate_ids(ids, 6, attention_mask=mask)
    assert torch.equal(first, ours(model, ids, mask, new_tokens=6))
    generator.generate_ids(ids, 6, attention_mask=mask)
    assert len(recorder.compilations) == 1
    step, options = recorder.compilations[0]
    assert options["options"]["max_autotune"] and options["fullgraph"] and not options["dynamic"]
    # A code object of its own, so that graphs frozen with other weights are never found again.
    assert step.__func__.__code__ is not Decoder.call.__code__
    # Five steps per generation (the first token comes from the prefill); freezing only at each first step.
    assert recorder.freezing_per_call == [True, False, False, False, False] * 2

    with torch.no_grad():
        model.model.core.h[1].attn.c_attn.weight.mul_(-1.0)
    after = generator.generate_ids(ids, 6, attention_mask=mask)
    assert len(recorder.compilations) == 2
    assert recorder.compilations[1][0].__func__.__code__ is not step.__func__.__code__
    assert torch.equal(after, ours(model, ids, mask, new_tokens=6))


def test_default_compile_mode_keeps_weights_as_inputs(monkeypatch):
    recorder = RecordingCompile()
    monkeypatch.setattr(torch, "compile", recorder)
    model = tiny_model()
    generator = GreedyGenerator(model, compile=True, ignore_eos=True)
    ids, mask = left_padded_batch()
    generator.generate_ids(ids, 4, attention_mask=mask)
    with torch.no_grad():
        model.model.core.h[1].attn.c_attn.weight.mul_(-1.0)
    generator.generate_ids(ids, 4, attention_mask=mask)
    assert len(recorder.compilations) == 1 and "max_autotune" not in recorder.compilations[0][1]["options"]
    assert not any(recorder.freezing_per_call)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_max_autotune_step_decodes_like_eager_and_follows_weight_updates(dtype):
    model = tiny_model().to(dtype)
    ids, mask = left_padded_batch()
    generator = GreedyGenerator(model, compile="max-autotune", ignore_eos=True)
    assert torch.equal(generator.generate_ids(ids, 24, attention_mask=mask), hf_greedy(model, ids, mask, 24))
    # New weights copied in place: the frozen step must not keep decoding with the old ones.
    model.load_state_dict(tiny_model(seed=5).to(dtype).state_dict())
    assert torch.equal(generator.generate_ids(ids, 24, attention_mask=mask), hf_greedy(model, ids, mask, 24))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["default", "max-autotune"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_logits_stay_within_rounding_of_eager(mode, dtype):
    """What docs/generation.md promises: compiled logits differ from eager ones by rounding only (float32 below
    1e-6 relative to the logits, bfloat16 within about one rounding step)."""
    model = tiny_model().to(dtype)
    ids, mask = left_padded_batch()
    compiled, eager = (decoder.session(ids, mask, 12) for decoder in (StaticCacheDecoder(model, compile=mode),
                                                                       StaticCacheDecoder(model)))
    eager_logits = eager.prefill()
    compiled.prefill()
    eps = torch.finfo(dtype).eps
    tolerance = dict(rtol=2 * eps, atol=eps) if dtype == torch.bfloat16 else dict(rtol=1e-6, atol=1e-6)
    for _ in range(12):
        token = eager_logits.argmax(-1)
        eager_logits, compiled_logits = eager.step(token), compiled.step(token)
        torch.testing.assert_close(compiled_logits.float(), eager_logits.float(), **tolerance)


@pytest.mark.slow
def test_compiled_step_is_traced_once_per_session_shape(monkeypatch):
    """A step that recompiled after the first token ran unfrozen under max-autotune (2.5× slower): every later
    step of a session must reuse the first step's graph."""
    model = tiny_model()
    ids, mask = left_padded_batch()
    decoder = StaticCacheDecoder(model, compile=True)
    session = decoder.session(ids, mask, 6)
    next_ids = session.prefill().argmax(-1)
    session.step(next_ids)
    monkeypatch.setattr(torch._dynamo.config, "error_on_recompile", True)
    for _ in range(4):
        next_ids = session.step(next_ids).argmax(-1)
