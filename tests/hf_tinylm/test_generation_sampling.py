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
from hf_tinylm.generation.logits import apply_repetition_penalty, min_p_filter, top_k_filter, top_p_filter

INF = float("inf")
# probabilities 0.5, 0.3, 0.15, 0.05, stored out of order so the filters must map their choice back
PROBABILITIES = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
LOGITS = PROBABILITIES.log()


def kept(logits):
    return torch.isfinite(logits)[0].tolist()


def test_top_k_keeps_the_k_best_and_ties():
    logits = torch.tensor([[1.0, 3.0, 2.0, 5.0, 4.0]])
    assert top_k_filter(logits, 2).tolist() == [[-INF, -INF, -INF, 5.0, 4.0]]
    assert kept(top_k_filter(torch.tensor([[1.0, 2.0, 2.0, 0.0]]), 1)) == [False, True, True, False]
    assert torch.equal(top_k_filter(logits, 10), logits)


@pytest.mark.parametrize(
    "top_p, expected",
    [(0.3, [False, True, False, False]),  # 0.5 alone reaches 0.3
     (0.75, [False, True, False, True]),  # 0.5 + 0.3
     (0.85, [True, True, False, True]),  # 0.5 + 0.3 + 0.15
     (1.0, [True, True, True, True])],
)
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, expected):
    assert kept(top_p_filter(LOGITS, top_p)) == expected


@pytest.mark.parametrize(
    "min_p, expected",
    [(0.2, [True, True, False, True]),  # threshold 0.1
     (0.5, [False, True, False, True]),  # threshold 0.25
     (0.0, [True, True, True, True])],
)
def test_min_p_is_relative_to_the_most_likely_token(min_p, expected):
    assert kept(min_p_filter(LOGITS, min_p)) == expected


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[True, True, False, False]])
    assert apply_repetition_penalty(logits, seen, 2.0).tolist() == [[1.0, -2.0, 0.5, 3.0]]


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
    # a penalty of 2 on the best token: logit ln4 → ln2, so 1 : 2 : 2
    seen = torch.tensor([[False, False, True]])
    penalized = Sampler(model, repetition_penalty=2.0).distribution(logits, seen)
    torch.testing.assert_close(penalized, torch.tensor([[0.2, 0.4, 0.4]]))
    greedy = Sampler(model, temperature=0.0).distribution(logits)
    assert greedy.tolist() == [[0.0, 0.0, 1.0]]


@pytest.mark.parametrize(
    "options",
    [dict(temperature=0.7, top_k=10), dict(top_p=0.8), dict(temperature=1.3, min_p=0.05),
     dict(temperature=0.9, top_k=20, top_p=0.9, min_p=0.02, repetition_penalty=1.4)],
)
def test_filters_agree_with_transformers_processors(options):
    torch.manual_seed(1)
    logits = torch.randn(4, 97) * 3
    context = torch.randint(0, 97, (4, 12))
    seen = torch.zeros(4, 97, dtype=torch.bool).scatter_(1, context, True)
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
    expected = processors(context, logits.clone())
    ours = Sampler(tiny_model(), **options).process_logits(logits, seen if "repetition_penalty" in options else None)
    assert torch.equal(torch.isfinite(ours), torch.isfinite(expected))
    torch.testing.assert_close(ours.softmax(-1), expected.softmax(-1))


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


def test_without_a_seed_sampling_follows_torch_and_matches_generate():
    """Same filters, same probabilities, same torch.multinomial draw: model.generate()'s tokens."""
    model = tiny_model()
    ids = torch.tensor([[3, 1, 4, 1, 5, 9]])
    torch.manual_seed(11)
    with torch.no_grad():
        expected = model.generate(ids, do_sample=True, top_k=30, temperature=0.8, max_new_tokens=12,
                                  pad_token_id=0, eos_token_id=None)
    torch.manual_seed(11)
    got = TopKSampler(model, top_k=30, temperature=0.8, ignore_eos=True).generate_ids(ids, 12)
    assert torch.equal(got, expected)


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
        expected = model.generate(ids, do_sample=False, repetition_penalty=1.5, max_new_tokens=12,
                                  pad_token_id=0, eos_token_id=None)
    assert torch.equal(GreedyGenerator(model, repetition_penalty=1.5, ignore_eos=True).generate_ids(ids, 12), expected)


def test_repetition_penalty_ignores_padding():
    model = tiny_model()
    ids, mask = torch.tensor([[0, 0, 5, 6], [1, 2, 3, 4]]), torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    batched = GreedyGenerator(model, repetition_penalty=1.5, ignore_eos=True).generate_ids(ids, 8, attention_mask=mask)
    alone = GreedyGenerator(model, repetition_penalty=1.5, ignore_eos=True).generate_ids(ids[:1, 2:], 8)
    assert torch.equal(batched[0, 4:], alone[0, 2:])


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
