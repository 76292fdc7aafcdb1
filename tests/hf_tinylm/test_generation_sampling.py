"""Samplers: each filter against hand-computed distributions and transformers' own processors; seeds."""

import math

import pytest
import torch
from model_factory import tiny_model
from transformers.generation.logits_process import (
    LogitsProcessorList,
    MinPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from hf_tinylm.generation import GreedyGenerator, Sampler, TopKSampler, TopPSampler

INF = float("inf")
# probabilities 0.5, 0.3, 0.15, 0.05, stored out of order so the filters must map their choice back
PROBABILITIES = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
LOGITS = PROBABILITIES.log()
NO_EOS = dict(pad_token_id=0, eos_token_id=None)


def kept(distribution):
    return (distribution > 0)[0].tolist()


def test_top_k_keeps_the_k_best_and_ties():
    model = tiny_model()
    logits = torch.tensor([[1.0, 3.0, 2.0, 5.0, 4.0]])
    assert kept(TopKSampler(model, top_k=2).distribution(logits)) == [False, False, False, True, True]
    assert kept(TopKSampler(model, top_k=1).distribution(torch.tensor([[1.0, 2.0, 2.0, 0.0]]))) == [
        False, True, True, False]
    assert kept(TopKSampler(model, top_k=10).distribution(logits)) == [True] * 5


@pytest.mark.parametrize(
    "top_p, expected",
    [(0.3, [False, True, False, False]),  # 0.5 alone reaches 0.3
     (0.75, [False, True, False, True]),  # 0.5 + 0.3
     (0.85, [True, True, False, True]),  # 0.5 + 0.3 + 0.15
     (1.0, [True, True, True, True])],
)
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, expected):
    assert kept(TopPSampler(tiny_model(), top_p=top_p).distribution(LOGITS)) == expected


@pytest.mark.parametrize(
    "min_p, expected",
    [(0.2, [True, True, False, True]),  # threshold 0.1
     (0.5, [False, True, False, True]),  # threshold 0.25
     (0.0, [True, True, True, True])],
)
def test_min_p_is_relative_to_the_most_likely_token(min_p, expected):
    assert kept(Sampler(tiny_model(), min_p=min_p).distribution(LOGITS)) == expected


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    generator = GreedyGenerator(tiny_model(), repetition_penalty=2.0)
    assert generator.process_logits(logits, torch.tensor([[1, 0, 1]])).tolist() == [[1.0, -2.0, 0.5, 3.0]]
    with pytest.raises(ValueError, match="repetition_penalty=2.0 needs input_ids.*allowed"):
        generator.process_logits(logits)


def test_sampler_distribution_by_hand():
    model = tiny_model()
    logits = torch.tensor([[0.0, math.log(2.0), math.log(4.0)]])
    # temperature 0.5 squares the odds: 1 : 4 : 16
    hot = Sampler(model, temperature=0.5).distribution(logits)
    torch.testing.assert_close(hot, torch.tensor([[1 / 21, 4 / 21, 16 / 21]]))
    # ... and top-k 2 drops the first: 4 : 16
    top2 = TopKSampler(model, top_k=2, temperature=0.5).distribution(logits)
    torch.testing.assert_close(top2, torch.tensor([[0.0, 0.2, 0.8]]))
    # nucleus 0.5 of 1 : 2 : 4 (4/7 > 0.5) keeps only the best
    nucleus = TopPSampler(model, top_p=0.5).distribution(logits)
    torch.testing.assert_close(nucleus, torch.tensor([[0.0, 0.0, 1.0]]))
    # a penalty of 2 on the best token, present in the context: logit ln4 → ln2, so 1 : 2 : 2
    penalized = Sampler(model, repetition_penalty=2.0).distribution(logits, torch.tensor([[2, 2]]))
    torch.testing.assert_close(penalized, torch.tensor([[0.2, 0.4, 0.4]]))
    greedy = Sampler(model, temperature=0.0).distribution(logits)
    assert greedy.tolist() == [[0.0, 0.0, 1.0]]


def transformers_processors(options):
    processors = LogitsProcessorList()
    if "repetition_penalty" in options:
        processors.append(RepetitionPenaltyLogitsProcessor(options["repetition_penalty"]))
    processors.append(TemperatureLogitsWarper(options.get("temperature", 1.0)))
    if "top_k" in options:
        processors.append(TopKLogitsWarper(options["top_k"]))
    if "top_p" in options:
        processors.append(TopPLogitsWarper(options["top_p"]))
    if "min_p" in options:
        processors.append(MinPLogitsWarper(options["min_p"]))
    return processors


@pytest.mark.parametrize(
    "options",
    [dict(temperature=0.7, top_k=10), dict(top_p=0.8), dict(temperature=1.3, min_p=0.05),
     dict(temperature=0.9, top_k=20, top_p=0.9, min_p=0.02, repetition_penalty=1.4)],
)
def test_filters_are_transformers_processors_in_generates_order(options):
    torch.manual_seed(1)
    logits = torch.randn(4, 97) * 3
    context = torch.randint(0, 97, (4, 12))
    expected = transformers_processors(options)(context, logits.clone())
    assert torch.equal(Sampler(tiny_model(), **options).process_logits(logits, context), expected)


# Options as model.generate() spells them; top_k=0 and min_p=None switch its defaults off.
GENERATE_OFF = dict(temperature=1.0, top_k=0, top_p=1.0, min_p=None, repetition_penalty=1.0)


@pytest.mark.parametrize(
    "options",
    [dict(top_k=30, temperature=0.8), dict(top_p=0.7), dict(min_p=0.5, temperature=1.5),
     dict(top_k=40, top_p=0.9, min_p=0.05, temperature=0.7, repetition_penalty=3.0)],
)
def test_seeded_sampling_draws_what_generate_draws(options):
    """Same processors, same softmax, same torch.multinomial from the same generator state: the same tokens,
    on a left-padded batch too."""
    model = tiny_model()
    ids = torch.tensor([[0, 0, 3, 1, 4, 1], [2, 7, 1, 8, 2, 8]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    torch.manual_seed(11)
    with torch.no_grad():
        expected = model.generate(ids, attention_mask=mask, do_sample=True, max_new_tokens=12,
                                  **{**GENERATE_OFF, **options}, **NO_EOS)
    got = Sampler(model, seed=11, ignore_eos=True, **options).generate_ids(ids, 12, attention_mask=mask)
    assert torch.equal(got, expected)
    torch.manual_seed(11)  # without a seed, torch's global generator
    assert torch.equal(Sampler(model, ignore_eos=True, **options).generate_ids(ids, 12, attention_mask=mask), expected)


def test_samples_follow_the_distribution():
    sampler = TopKSampler(tiny_model(), top_k=3, temperature=1.0)
    logits = torch.tensor([[0.0, math.log(2.0), math.log(3.0), -1.0, -2.0]]).expand(20000, 5)
    scores = sampler.process_logits(logits)
    draws = sampler.select(scores, torch.Generator().manual_seed(0))
    frequencies = torch.bincount(draws, minlength=5).float() / draws.numel()
    torch.testing.assert_close(frequencies, torch.tensor([1 / 6, 2 / 6, 3 / 6, 0.0, 0.0]), atol=0.015, rtol=0)


def test_a_seed_makes_sampling_reproducible():
    model = tiny_model()
    ids = torch.tensor([[3, 1, 4, 1, 5]])
    first = TopKSampler(model, top_k=40, temperature=1.2, seed=7, ignore_eos=True)
    same = first.generate_ids(ids, 16)
    assert torch.equal(same, first.generate_ids(ids, 16))  # every call restarts from the seed
    again = TopKSampler(model, top_k=40, temperature=1.2, seed=7, ignore_eos=True)
    assert torch.equal(same, again.generate_ids(ids, 16))
    assert not torch.equal(same, first.generate_ids(ids, 16, seed=8))
    nucleus = TopPSampler(model, top_p=0.95, min_p=0.01, seed=3, ignore_eos=True)
    assert torch.equal(nucleus.generate_ids(ids, 16), nucleus.generate_ids(ids, 16))


def test_top_k_one_and_zero_temperature_are_greedy():
    model = tiny_model()
    ids = torch.tensor([[2, 7, 1, 8]])
    greedy = GreedyGenerator(model, ignore_eos=True).generate_ids(ids, 10)
    assert torch.equal(TopKSampler(model, top_k=1, ignore_eos=True).generate_ids(ids, 10), greedy)
    assert torch.equal(Sampler(model, temperature=0.0, ignore_eos=True).generate_ids(ids, 10), greedy)


def test_repetition_penalty_matches_generate():
    model = tiny_model()
    ids = torch.tensor([[2, 7, 1, 8, 2, 8]])
    with torch.no_grad():
        expected = model.generate(ids, do_sample=False, repetition_penalty=3.0, max_new_tokens=12, **NO_EOS)
        unpenalized = model.generate(ids, do_sample=False, max_new_tokens=12, **NO_EOS)
    assert not torch.equal(expected, unpenalized)  # the penalty decides tokens here
    assert torch.equal(GreedyGenerator(model, repetition_penalty=3.0, ignore_eos=True).generate_ids(ids, 12), expected)


def test_repetition_penalty_ignores_padding_as_generate_does():
    """A left-padded row gets the tokens it gets alone, even when the padding id is the token it would choose:
    the penalty skips each row's leading padding, as model.generate() does."""
    model = tiny_model()
    generator = GreedyGenerator(model, repetition_penalty=3.0, ignore_eos=True)
    alone = generator.generate_ids(torch.tensor([[5, 6]]), 8)
    pad = int(alone[0, 2])  # the first token it chooses
    ids, mask = torch.tensor([[pad, pad, 5, 6], [1, 2, 3, 4]]), torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    batched = generator.generate_ids(ids, 8, attention_mask=mask)
    assert torch.equal(batched[0, 4:], alone[0, 2:])
    with torch.no_grad():
        expected = model.generate(ids, attention_mask=mask, do_sample=False, repetition_penalty=3.0,
                                  max_new_tokens=8, pad_token_id=pad, eos_token_id=None)
    assert torch.equal(batched, expected)


@pytest.mark.parametrize(
    "cls, options, message",
    [(TopKSampler, dict(top_k=0), "top_k=0"), (TopPSampler, dict(top_p=0.0), "top_p=0.0"),
     (TopPSampler, dict(top_p=1.5), "top_p=1.5"), (Sampler, dict(min_p=-0.1), "min_p=-0.1"),
     (Sampler, dict(temperature=-1), "temperature=-1"), (Sampler, dict(seed="x"), "seed='x'"),
     (GreedyGenerator, dict(repetition_penalty=0), "repetition_penalty=0")],
)
def test_bad_options_raise_clear_errors(cls, options, message):
    with pytest.raises(ValueError, match=f"{message}.*allowed"):
        cls(tiny_model(), **options)
