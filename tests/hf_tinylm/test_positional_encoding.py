"""The model owns its positional scheme: one interface (AttentionInputs) into attention; rope scaling from
transformers' ROPE_INIT_FUNCTIONS, exact against LlamaForCausalLM; folders saved before the move still load."""

import json

import pytest
import torch
from model_factory import tiny_config, tiny_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

from conversion.llama import from_llama, to_llama
from hf_tinylm import TinyLMConfig, TinyLMForCausalLM
from hf_tinylm.modeling.component_registry import POSITIONAL_ENCODINGS
from hf_tinylm.modeling.positional_encoding import AttentionInputs, RotaryPositionalEncoding

ROPE_SCALINGS = [
    {"rope_type": "linear", "factor": 2.0},
    {"rope_type": "dynamic", "factor": 2.0},
    {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 16},
]


def test_the_model_owns_the_scheme_and_the_embedder_does_not():
    model = tiny_model(positional_encoding_type="learned")
    assert isinstance(model.model.positions, POSITIONAL_ENCODINGS.get("learned"))
    assert not any("positional" in name for name, _ in model.model.embedder.named_modules())
    assert "model.positions.pe.weight" in model.state_dict()


@pytest.mark.parametrize("rope_parameters", ROPE_SCALINGS, ids=[s["rope_type"] for s in ROPE_SCALINGS])
def test_rope_scaling_matches_llama_exactly_and_round_trips(rope_parameters):
    model = tiny_model(rope_parameters=dict(rope_parameters))
    llama = to_llama(model).eval()
    assert llama.config.rope_parameters["rope_type"] == rope_parameters["rope_type"]
    # 80 tokens: past max_position_embeddings=64, where dynamic scaling changes its frequencies.
    ids = torch.randint(0, 97, (2, 80), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(ids).logits, llama(ids).logits
    # Same arithmetic in the same order (both compute frequencies with transformers' ROPE_INIT_FUNCTIONS).
    assert torch.equal(ours, theirs)
    back = from_llama(llama)
    assert back.config.rope_parameters == model.config.rope_parameters


def test_scaled_rope_changes_the_frequencies():
    plain = RotaryPositionalEncoding(tiny_config())
    linear = RotaryPositionalEncoding(tiny_config(rope_parameters={"rope_type": "linear", "factor": 2.0}))
    torch.testing.assert_close(linear.inv_freq, plain.inv_freq / 2.0)


def test_rope_scaling_is_accepted_under_its_old_name_and_saved(tmp_path):
    config = tiny_config(rope_scaling={"type": "linear", "factor": 2.0})
    assert config.rope_parameters == {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    model = TinyLMForCausalLM(config).eval()
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["rope_parameters"]["factor"] == 2.0
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.rope_parameters == config.rope_parameters
    ids = torch.randint(0, 97, (1, 12))
    assert torch.equal(model(ids).logits, reloaded(ids).logits)


@pytest.mark.parametrize(
    "rope_parameters, message",
    [
        ({"rope_type": "linear"}, "factor"),
        ({"rope_type": "wobbly"}, "rope_parameters.rope_type='wobbly' is invalid; allowed: default, linear"),
        ({"rope_type": "linear", "factor": float("nan")}, "rope_parameters.factor=nan is invalid"),
        ("linear", "rope_parameters='linear' is invalid; allowed: None or a dict"),
    ],
)
def test_bad_rope_parameters_are_named(rope_parameters, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        tiny_config(rope_parameters=rope_parameters)


class ScaledSinusoidalPositions(POSITIONAL_ENCODINGS.get("sincos")):
    """A user's own scheme: sinusoidal vectors at half strength. Registered without touching attention."""

    def add_to_embeddings(self, embeddings, position_ids):
        return embeddings + 0.5 * self.table[position_ids].to(embeddings.dtype)


def test_a_registered_scheme_needs_no_change_elsewhere():
    if "half_sincos" not in POSITIONAL_ENCODINGS:
        POSITIONAL_ENCODINGS.register("half_sincos")(ScaledSinusoidalPositions)
    model = tiny_model(positional_encoding_type="half_sincos")
    full = tiny_model(positional_encoding_type="sincos")
    ids = torch.randint(0, 97, (1, 10))
    with torch.no_grad():
        hidden = model.model.embedder(ids)
        positions = torch.arange(10)[None]
        torch.testing.assert_close(
            model.model.positions.add_to_embeddings(hidden, positions) - hidden,
            0.5 * (full.model.positions.add_to_embeddings(hidden, positions) - hidden),
        )
        cached = model.generate(ids, max_new_tokens=5, do_sample=False)
        uncached = model.generate(ids, max_new_tokens=5, do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached)


@pytest.mark.parametrize("scheme", ["rope", "alibi", "shaw_relative", "learned"])
def test_attention_inputs_carry_what_each_scheme_needs(scheme):
    model = tiny_model(positional_encoding_type=scheme)
    hidden = torch.zeros(1, 5, 32)
    inputs = model.model.positions.attention_inputs(model.config, hidden, None, None, torch.arange(5)[None])
    assert isinstance(inputs, AttentionInputs)
    assert (inputs.rotary is not None) == (scheme == "rope")
    assert (inputs.relative_buckets is not None) == (scheme == "shaw_relative")
    if scheme == "alibi":  # the per-head bias rides in the mask
        assert inputs.mask.dtype == torch.float32 and inputs.mask.shape == (1, 4, 5, 5)


def test_folders_saved_with_positions_in_the_embedder_still_load(tmp_path):
    """Before issue 13 the learned table was saved as model.embedder.positional_encoding.pe.weight."""
    model = tiny_model(positional_encoding_type="learned")
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights["model.embedder.positional_encoding.pe.weight"] = weights.pop("model.positions.pe.weight")
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert torch.equal(reloaded.model.positions.pe.weight, model.model.positions.pe.weight)
    ids = torch.randint(0, 97, (1, 12))
    assert torch.equal(model(ids).logits, reloaded(ids).logits)
    # Saved again, it carries the new name only.
    reloaded.save_pretrained(tmp_path / "again")
    assert "model.positions.pe.weight" in load_file(tmp_path / "again" / "model.safetensors")


def test_a_folder_saved_by_the_previous_release_loads_with_its_logits():
    """tests/fixtures/tinylm_saved_by_054b6e6: a learned-position TinyLM saved by commit 054b6e6 (before issue 13),
    with the logits that code computed; its code files are left out, so hf_tinylm's own classes load it."""
    from pathlib import Path

    folder = Path(__file__).parent.parent / "fixtures" / "tinylm_saved_by_054b6e6"
    expected = load_file(folder / "expected_logits.safetensors")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert isinstance(model, TinyLMForCausalLM)
    with torch.no_grad():
        logits = model(expected["input_ids"]).logits
    # Same weights, same arithmetic; another CPU may round its matrix products differently.
    torch.testing.assert_close(logits, expected["logits"], rtol=1e-5, atol=1e-6)
