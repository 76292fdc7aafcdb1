"""Bad input to the Python API: a ValueError naming the value, before any arithmetic; misspelt config keys warn."""

import logging

import pytest
import torch
from model_factory import tiny_model

from hf_tinylm import TinyLMConfig, TinyLMNextThoughtConfig


@pytest.mark.parametrize(
    "input_ids, message",
    [
        (torch.tensor([[1, 2, 97]]), "input_ids holds 97, outside [0, vocab_size=97)"),
        (torch.tensor([[-3, 2]]), "input_ids holds -3, outside [0, vocab_size=97)"),
        (torch.tensor([1, 2, 3]), "non-empty 2-D [batch, length] tensor, got shape (3,)"),
        (torch.zeros(1, 0, dtype=torch.long), "got shape (1, 0)"),
        (torch.tensor([[1.0, 2.0]]), "integer tensor (torch.long), got torch.float32"),
        ([[1, 2]], "integer tensor (torch.long), got list"),
    ],
)
def test_bad_input_ids_are_named(input_ids, message):
    model = tiny_model()
    with pytest.raises(ValueError) as error:
        model(input_ids)
    assert message in str(error.value)


def test_generate_refuses_a_position_table_too_short_up_front(monkeypatch):
    model = tiny_model(positional_encoding_type="learned")  # max_position_embeddings=64
    calls = []
    monkeypatch.setattr(type(model), "forward", lambda self, *a, **k: calls.append(1))
    with pytest.raises(ValueError, match="reach 69 tokens, past the positional table of max_position_embeddings=64"):
        model.generate(torch.ones(1, 60, dtype=torch.long), max_new_tokens=10, do_sample=False)
    assert not calls  # refused before the first forward


def test_schemes_without_a_table_warn_once_past_the_context(caplog):
    model = tiny_model(positional_encoding_type="rope")
    ids = torch.randint(0, 97, (1, 70))
    with caplog.at_level(logging.WARNING, logger="transformers"):
        model(ids)
        model(ids)
    warnings = [record for record in caplog.records if "past max_position_embeddings=64" in record.getMessage()]
    assert len(warnings) == 1 and "'rope' runs on" in warnings[0].getMessage()


@pytest.mark.parametrize("config_class, typo, intended", [
    (TinyLMConfig, "hiden_size", "hidden_size"),
    (TinyLMConfig, "positional_encodng_type", "positional_encoding_type"),
    (TinyLMNextThoughtConfig, "thought_lenght", "thought_length"),
])
def test_a_misspelt_keyword_warns_with_the_likely_key(config_class, typo, intended):
    with pytest.warns(UserWarning, match=f"unknown keyword {typo}=.*did you mean '{intended}'"):
        config_class(**{typo: 3})


def test_keys_transformers_writes_do_not_warn(recwarn):
    TinyLMConfig(architectures=["TinyLMForCausalLM"], transformers_version="5.24.0", auto_map={}, dtype="float32",
                 name_or_path="x", my_own_note="kept")
    assert not [w for w in recwarn if "unknown keyword" in str(w.message)]


def test_a_config_round_trip_through_its_dict_does_not_warn(recwarn):
    # to_dict() holds private keys of transformers' (`_name_or_path`, close to `name_or_path`).
    config = TinyLMConfig(vocab_size=97, hidden_size=32)
    TinyLMConfig.from_dict(config.to_dict())
    TinyLMNextThoughtConfig.from_dict(TinyLMNextThoughtConfig().to_dict())
    assert not [w for w in recwarn if "unknown keyword" in str(w.message)]


def test_our_generators_warn_too_when_a_rope_model_runs_past_its_context(caplog):
    from hf_tinylm.generation import GreedyGenerator

    model = tiny_model(positional_encoding_type="rope")
    with caplog.at_level(logging.WARNING, logger="transformers"):
        GreedyGenerator(model, ignore_eos=True).generate_ids(torch.ones(1, 60, dtype=torch.long), 8)
    assert any("past max_position_embeddings=64" in record.getMessage() for record in caplog.records)
