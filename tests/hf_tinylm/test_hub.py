"""Saving, reloading and pushing TinyLM models: exact round trips, shared tensors, remote code, model card, Hub push."""

import contextlib
import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors import safe_open
from safetensors.torch import load as load_safetensors
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from fake_hub import FakeHub, run_push_in_subprocess

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM, TinyLMModel, TinyLMPreTrainedModel
from hf_tinylm.hub import push_model_card
from hf_tinylm.modeling.activations import ACTIVATIONS
from hf_tinylm.model_card import CARD_MARKER, count_parameters, model_card_text
from hf_tinylm.modeling.positional_encoding import (
    alibi_slopes,
    rotary_inverse_frequencies,
    sinusoidal_table,
)
from hf_tinylm.modeling.saving import SharingMixin

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELING_DIR = os.path.join(REPO_ROOT, "hf_tinylm", "modeling")
AUTO_MAP = TinyLMPreTrainedModel.AUTO_MAP

VOCAB = 64
IDS = torch.tensor([[5, 17, 3, 60, 42, 8, 1], [63, 0, 22, 9, 31, 14, 2]])


def tiny_config(**overrides) -> TinyLMConfig:
    """hidden 16, 2 layers, 4 heads in 2 key/value groups, vocab 64; nested section dicts are merged."""
    kwargs = {
        "vocab_size": VOCAB,
        "hidden_size": 16,
        "max_position_embeddings": 32,
        "max_relative_position": 4,
        "core": {"num_layers": 2, "attention": {"num_heads": 4, "group_size": 2}, "ffn": {"ffn_dim": 32}},
    }
    for key, value in overrides.items():
        if key == "core":
            for sub_key, sub_value in value.items():
                if isinstance(sub_value, dict):
                    kwargs["core"].setdefault(sub_key, {}).update(sub_value)
                else:
                    kwargs["core"][sub_key] = sub_value
        else:
            kwargs[key] = value
    return TinyLMConfig(**kwargs)


def perturbed(model):
    """Move every parameter away from its initial value, so a silent re-initialisation on load shows."""
    generator = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for parameter in model.parameters():  # each shared parameter once
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


@contextlib.contextmanager
def transformers_warnings():
    """Collect what transformers logs (its loggers do not propagate to pytest's caplog)."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def assert_clean_loading_info(info: dict):
    assert info["missing_keys"] == set()
    assert info["unexpected_keys"] == set()
    assert info["mismatched_keys"] == set()
    assert info["error_msgs"] == []


def saved_keys(folder) -> set:
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as handle:
        return set(handle.keys())


# ---- save → reload: every tensor, buffer and logit identical, for each component -----------------------------
_NORM_CASES = {
    "rms_norm_bias": {"core": {"attention": {"normalization": "rms_norm", "bias": True},
                               "ffn": {"normalization": "rms_norm", "bias": True}},
                      "head": {"normalization": "rms_norm", "bias": True}},
    "layer_norm_bias": {"core": {"attention": {"normalization": "layer_norm", "bias": True},
                                 "ffn": {"normalization": "layer_norm", "bias": True}},
                        "head": {"normalization": "layer_norm", "bias": True}},
    "layer_norm_no_bias": {"core": {"attention": {"normalization": "layer_norm"}, "ffn": {"normalization": "layer_norm"}},
                           "head": {"normalization": "layer_norm"}},
    "no_norm": {"core": {"attention": {"normalization": "none"}, "ffn": {"normalization": "none"}},
                "head": {"normalization": "none"}},
}

ROUND_TRIP_CASES = {
    **{f"pos_{name}": {"positional_encoding_type": name}
       for name in ("rope", "learned", "sincos", "none", "alibi", "shaw_relative")},
    **{f"norm_{name}": overrides for name, overrides in _NORM_CASES.items()},
    **{f"generic_ffn_{name}": {"core": {"ffn": {"ffn_type": "generic", "activation": name}}}
       for name in ACTIVATIONS.names()},
    "generic_ffn_bias": {"core": {"ffn": {"ffn_type": "generic", "activation": "learned", "bias": True}}},
    "swiglu": {"core": {"ffn": {"ffn_type": "swiglu"}}},
    "core_generic": {"core": {"core_type": "generic"}},
    "core_ffn_sharing": {"core": {"core_type": "generic_ffn_sharing"}},
    "ffn_sharing_generic_learned": {"core": {"core_type": "generic_ffn_sharing",
                                             "ffn": {"ffn_type": "generic", "activation": "learned", "bias": True}}},
    "tied": {"tie_word_embeddings": True},
    "untied": {"tie_word_embeddings": False},
    "untied_ffn_sharing_alibi": {"tie_word_embeddings": False, "positional_encoding_type": "alibi",
                                 "core": {"core_type": "generic_ffn_sharing"}},
    "mha_bidirectional": {"core": {"attention": {"group_size": 1, "is_causal": False}}},
}

# The non-persistent buffers each positional scheme recomputes on load, and their correct values.
EXPECTED_BUFFERS = {
    "rope": ("model.positions.inv_freq", lambda c: rotary_inverse_frequencies(c.head_dim, c.rope_theta)),
    "sincos": ("model.positions.table",
               lambda c: sinusoidal_table(c.max_position_embeddings, c.hidden_size)),
    "alibi": ("model.positions.slopes", lambda c: alibi_slopes(c.num_attention_heads)),
}


@pytest.mark.parametrize("overrides", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_save_reload_is_exact(tmp_path, overrides):
    config = tiny_config(**overrides)
    model = perturbed(TinyLMForCausalLM(config))
    model.save_pretrained(tmp_path)

    with transformers_warnings() as warnings_logged:
        reloaded, info = TinyLMForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    reloaded.eval()
    assert_clean_loading_info(info)
    assert not [message for message in warnings_logged if "LOAD REPORT" in message or "initialized" in message]

    expected_state, reloaded_state = model.state_dict(), reloaded.state_dict()
    assert set(reloaded_state) == set(expected_state)
    for name, tensor in expected_state.items():
        assert reloaded_state[name].dtype == tensor.dtype, name
        assert torch.equal(reloaded_state[name], tensor), name

    # Non-persistent buffers are not in the file: they must have been recomputed, not left as meta garbage.
    expected_buffers, reloaded_buffers = dict(model.named_buffers()), dict(reloaded.named_buffers())
    assert set(reloaded_buffers) == set(expected_buffers)
    for name, buffer in expected_buffers.items():
        assert reloaded_buffers[name].device.type == "cpu", name
        assert torch.equal(reloaded_buffers[name], buffer), name
    scheme = config.positional_encoding_type
    if scheme in EXPECTED_BUFFERS:
        name, compute = EXPECTED_BUFFERS[scheme]
        assert name in reloaded_buffers and name not in reloaded_state
        assert torch.equal(reloaded_buffers[name], compute(config))

    with torch.no_grad():
        expected_logits = model(IDS).logits
        reloaded_logits = reloaded(IDS).logits
    assert torch.isfinite(expected_logits).all()
    assert torch.equal(reloaded_logits, expected_logits)
    ignored = {"_name_or_path"}
    reloaded_config = {key: value for key, value in reloaded.config.to_dict().items() if key not in ignored}
    assert reloaded_config == {key: value for key, value in model.config.to_dict().items() if key not in ignored}


def test_base_model_round_trip(tmp_path):
    model = perturbed(TinyLMModel(tiny_config(positional_encoding_type="shaw_relative")))
    model.save_pretrained(tmp_path)
    reloaded, info = TinyLMModel.from_pretrained(tmp_path, output_loading_info=True)
    assert_clean_loading_info(info)
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(IDS).last_hidden_state, model(IDS).last_hidden_state)


# ---- shared tensors: stored once, shared again after reload --------------------------------------------------
@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_tied_and_ffn_shared_weights_survive_reload(tmp_path, tie):
    config = tiny_config(tie_word_embeddings=tie, core={"core_type": "generic_ffn_sharing", "num_layers": 3})
    model = perturbed(TinyLMForCausalLM(config))
    with transformers_warnings() as warnings_logged:
        model.save_pretrained(tmp_path)  # safetensors raises on shared memory unless the sharing is declared
    assert not [message for message in warnings_logged if "share" in message.lower()]

    keys = saved_keys(tmp_path)
    state = model.state_dict()
    ffn_keys = {key for key in keys if ".ffn." in key}
    assert ffn_keys == {key for key in state if key.startswith("model.core.h.0.ffn.")}
    assert ("lm_head.linear.weight" in keys) is (not tie)
    # Every stored tensor is a distinct one: the file holds each unique parameter exactly once.
    assert len(keys) == len(list(model.parameters()))
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as handle:
        for key in keys:
            assert torch.equal(handle.get_tensor(key), state[key]), key

    reloaded, info = TinyLMForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert_clean_loading_info(info)
    embedding = reloaded.model.embedder.token_embedder.weight
    assert (reloaded.lm_head.linear.weight is embedding) is tie
    if not tie:
        assert reloaded.lm_head.linear.weight.data_ptr() != embedding.data_ptr()
        assert torch.equal(reloaded.lm_head.linear.weight, model.lm_head.linear.weight)
    blocks = reloaded.model.core.h
    first = dict(blocks[0].ffn.named_parameters())
    for block in blocks[1:]:
        assert block.ffn is blocks[0].ffn
        for name, parameter in block.ffn.named_parameters():
            assert parameter is first[name]
            assert parameter.data_ptr() == first[name].data_ptr()
        assert block.attn.c_attn.weight is not blocks[0].attn.c_attn.weight
    assert len(list(reloaded.parameters())) == len(list(model.parameters()))

    # Still shared in use: one update moves every alias.
    with torch.no_grad():
        embedding.add_(1.0)
        first["linear_1.weight"].add_(1.0)
    assert torch.equal(reloaded.lm_head.linear.weight, embedding) is tie
    assert torch.equal(blocks[-1].ffn.linear_1.weight, first["linear_1.weight"])

    # Saving the reloaded model again stores the same set of tensors.
    reloaded.save_pretrained(tmp_path / "again")
    assert saved_keys(tmp_path / "again") == keys


# ---- trust_remote_code: a process without hf_tinylm loads the saved folder -----------------------------------
REMOTE_CODE_SCRIPT = r"""
import importlib.abc, json, sys


class BlockHfTinyLM(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hf_tinylm" or name.startswith("hf_tinylm."):
            raise ImportError(f"{name} is blocked in this process")


# The environment itself must not offer the package (no PYTHONPATH, cwd elsewhere) ...
import os
assert not any(os.path.isfile(os.path.join(entry or os.getcwd(), "hf_tinylm", "__init__.py")) for entry in sys.path)
# ... and nothing may import it later (an installed copy, say): the saved folder alone must suffice.
sys.meta_path.insert(0, BlockHfTinyLM())
try:
    import hf_tinylm  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("hf_tinylm is importable in the remote-code process")

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

folder, ids_path, out_path, resaved = sys.argv[1:5]
config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
lm, lm_info = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, output_loading_info=True)
base, base_info = AutoModel.from_pretrained(folder, trust_remote_code=True, output_loading_info=True)
ids = torch.load(ids_path, weights_only=True)
with torch.no_grad():
    logits = lm.eval()(ids).logits
    hidden = base.eval()(ids).last_hidden_state
torch.save({"logits": logits, "hidden": hidden}, out_path)
lm.save_pretrained(resaved)  # without hf_tinylm: the auto_map and the code, but no model card
infos = {
    name: {key: sorted(map(str, value)) for key, value in info.items()}
    for name, info in (("lm", lm_info), ("base", base_info))
}
print("RESULT " + json.dumps({
    "classes": [type(config).__name__, type(lm).__name__, type(base).__name__],
    "modules": [type(config).__module__, type(lm).__module__, type(base).__module__],
    "infos": infos,
    "tied": lm.lm_head.linear.weight is lm.model.embedder.token_embedder.weight,
    "ffn_shared": all(block.ffn is lm.model.core.h[0].ffn for block in lm.model.core.h),
    "hf_tinylm_loaded": any(name.split(".")[0] == "hf_tinylm" for name in sys.modules),
}))
"""


def test_remote_code_loads_without_the_package(tmp_path):
    config = tiny_config(
        positional_encoding_type="rope",
        core={"core_type": "generic_ffn_sharing", "ffn": {"ffn_type": "generic", "activation": "learned"}},
    )
    model = perturbed(TinyLMForCausalLM(config))
    folder = tmp_path / "saved"
    model.save_pretrained(folder)
    saved_config = json.loads((folder / "config.json").read_text())
    assert saved_config["auto_map"] == AUTO_MAP
    assert issubclass(TinyLMForCausalLM, SharingMixin)  # the mixin's old name still imports
    # Only the modeling set travels with the weights: no Hub, model-card or original-format helpers.
    python_files = {path.name for path in folder.glob("*.py")}
    assert {"configuration_tinylm.py", "modeling_tinylm.py", "saving.py"} <= python_files
    assert python_files <= set(os.listdir(MODELING_DIR)) - {"__init__.py"}, python_files
    assert (folder / "README.md").is_file()

    ids_path, out_path = tmp_path / "ids.pt", tmp_path / "out.pt"
    torch.save(IDS, ids_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), HF_MODULES_CACHE=str(tmp_path / "modules"))
    proc = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_SCRIPT, *map(str, (folder, ids_path, out_path, tmp_path / "resaved"))],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[len("RESULT "):])

    assert result["classes"] == ["TinyLMConfig", "TinyLMForCausalLM", "TinyLMModel"]
    assert all(module.startswith("transformers_modules.") for module in result["modules"]), result["modules"]
    assert not result["hf_tinylm_loaded"]
    assert result["tied"] and result["ffn_shared"]
    clean = {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}
    assert result["infos"]["lm"] == clean
    # The base model leaves the head's weights behind without complaint (_keys_to_ignore_on_load_unexpected).
    assert result["infos"]["base"] == clean

    outputs = torch.load(out_path, weights_only=True)
    with torch.no_grad():
        assert torch.equal(outputs["logits"], model(IDS).logits)
        assert torch.equal(outputs["hidden"], model.model(IDS).last_hidden_state)

    resaved = tmp_path / "resaved"
    assert json.loads((resaved / "config.json").read_text())["auto_map"] == AUTO_MAP
    assert {path.name for path in resaved.glob("*.py")} == python_files
    assert not (resaved / "README.md").exists()


# ---- Auto classes ------------------------------------------------------------------------------------------
def test_auto_classes_from_config():
    config = tiny_config()
    assert type(AutoModelForCausalLM.from_config(config)) is TinyLMForCausalLM
    assert type(AutoModel.from_config(config)) is TinyLMModel
    auto_config = AutoConfig.for_model(
        "tinylm", vocab_size=VOCAB, hidden_size=16, core={"num_layers": 1, "attention": {"num_heads": 4}}
    )
    assert isinstance(auto_config, TinyLMConfig)
    assert (auto_config.vocab_size, auto_config.num_hidden_layers) == (VOCAB, 1)


# ---- model card ----------------------------------------------------------------------------------------------
def _card_data(text: str):
    card = ModelCard(text)
    return card.data.to_dict()


def test_card_counts_shared_and_tied_parameters_once():
    config = tiny_config(core={"core_type": "generic_ffn_sharing", "num_layers": 3})
    model = TinyLMForCausalLM(config)
    unique = {parameter.data_ptr(): parameter.numel() for parameter in model.state_dict().values()}
    naive = sum(tensor.numel() for tensor in model.state_dict().values())
    counts = count_parameters(model)
    assert counts["total"] == sum(unique.values()) == sum(p.numel() for p in model.parameters())
    assert counts["total"] == model.num_parameters()  # transformers' count: callers wanting the total use it
    assert counts["total"] < naive
    # By hand: embedding 64×16 (tied, once); per layer c_attn 16×32 + c_proj 16×16 + two norms 2×16;
    # one SwiGLU 3×16×32 for all layers; final norm 16.
    embedding, per_layer, ffn, final_norm = 64 * 16, 16 * 32 + 16 * 16 + 2 * 16, 3 * 16 * 32, 16
    assert counts["total"] == embedding + 3 * per_layer + ffn + final_norm
    assert counts["embedding"] == embedding
    assert counts["non_embedding"] == counts["total"] - embedding
    text = model_card_text(model)
    assert f"{counts['total']:,} total" in text
    assert f"{counts['non_embedding']:,} non-embedding" in text

    untied = TinyLMForCausalLM(tiny_config(tie_word_embeddings=False, positional_encoding_type="learned"))
    untied_counts = count_parameters(untied)
    assert untied_counts["embedding"] == 2 * 64 * 16 + 32 * 16  # token table, output projection, position table
    assert untied_counts["total"] == sum(p.numel() for p in untied.state_dict().values())
    # Why count_parameters stays: transformers counts an untied output projection as non-embedding.
    assert untied.num_parameters(exclude_embeddings=True) == untied_counts["non_embedding"] + 64 * 16


def test_card_describes_the_architecture():
    config = tiny_config(
        positional_encoding_type="alibi",
        tie_word_embeddings=False,
        core={"core_type": "generic_ffn_sharing", "attention": {"normalization": "layer_norm", "bias": True},
              "ffn": {"ffn_type": "generic", "activation": "gelu_tanh", "normalization": "none"}},
        embedder={"tokenizer_type": "bpe", "dataset_name": "simple_en_wiki"},
    )
    model = TinyLMForCausalLM(config)
    model.add_model_tags(["my-tag"])
    text = model_card_text(model, repo_id="user/some-tinylm", tags=["extra", "tinylm"])
    data = _card_data(text)
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == "text-generation"
    assert data["tags"] == ["tinylm", "hf_tinylm", "my-tag", "extra"]
    assert CARD_MARKER in text
    for fragment in (
        "| Hidden size | 16 |",
        "| Layers | 2 |",
        "4 query heads / 2 key-value heads (group size 2)",
        "| Head dim | 4 |",
        "`generic` two-layer MLP, inner dim 32, activation `gelu_tanh`",
        "attention: LayerNorm (with bias); FFN: none; final: RMSNorm (without bias)",
        "`alibi`",
        "one FFN shared by all 2 layers",
        "untied",
        "| Context window | 32 tokens |",
        "64 tokens, `bpe` tokenizer (trained on `simple_en_wiki`)",
        'AutoModelForCausalLM.from_pretrained("user/some-tinylm", trust_remote_code=True)',
    ):
        assert fragment in text, fragment

    swiglu_text = model_card_text(TinyLMForCausalLM(tiny_config()))
    for fragment in ("SwiGLU", "inner dim 32", "`rope`", "tied: the LM head reuses", "no FFN sharing", "`gpt2` tokenizer"):
        assert fragment in swiglu_text, fragment

    base = TinyLMModel(tiny_config())
    base_text = model_card_text(base)
    assert _card_data(base_text)["pipeline_tag"] == "feature-extraction"
    assert "AutoModel.from_pretrained(" in base_text


def test_card_of_an_unknown_model_type_names_it():
    model = TinyLMForCausalLM(tiny_config())
    model.config.model_type = "mystery"
    with pytest.raises(ValueError, match=r"model_type='mystery' has no model card layout; allowed: tinylm, tinylm_byte"):
        model_card_text(model)


def test_save_pretrained_writes_card_but_never_overwrites(tmp_path):
    model = TinyLMForCausalLM(tiny_config(positional_encoding_type="sincos"))
    model.save_pretrained(tmp_path / "fresh")
    card = (tmp_path / "fresh" / "README.md").read_text()
    assert card == model_card_text(model)
    assert "`sincos`" in card

    own = tmp_path / "own"
    own.mkdir()
    (own / "README.md").write_text("# my notes\n")
    model.save_pretrained(own)
    assert (own / "README.md").read_text() == "# my notes\n"
    assert (own / "model.safetensors").is_file()

    model.save_pretrained(tmp_path / "rank1", is_main_process=False)
    assert not (tmp_path / "rank1" / "README.md").exists()


# ---- push_to_hub against the fake Hub ----------------------------------------------------------------------
PUSH_SCRIPT = r"""
import sys
from huggingface_hub import HfApi
from hf_tinylm import TinyLMForCausalLM

folder, repo_id, own_card_repo, saved_repo, save_dir = sys.argv[1:6]
model = TinyLMForCausalLM.from_pretrained(folder)
model.add_model_tags(["my-tag"])

api = HfApi()
api.create_repo(own_card_repo)
api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n# Written by hand\n", path_in_repo="README.md",
                repo_id=own_card_repo)
model.push_to_hub(own_card_repo)

commit = model.push_to_hub(repo_id, tags=["extra-tag"])
print("COMMIT", commit.commit_url)
# Pushing again regenerates our own card (keeping the tags it had).
model.push_to_hub(repo_id, tags=["second-push"], commit_message="second push")
# Nothing changed since: transformers' commit only, no card commit.
model.push_to_hub(repo_id, commit_message="third push")

model.save_pretrained(save_dir, push_to_hub=True, repo_id=saved_repo, commit_message="save and push")
"""


def test_push_to_hub_uploads_generated_card(tmp_path):
    config = tiny_config(positional_encoding_type="alibi", core={"core_type": "generic_ffn_sharing"})
    model = perturbed(TinyLMForCausalLM(config))
    local = tmp_path / "local"
    model.save_pretrained(local)
    (local / "README.md").unlink()  # the push must generate its own card, not reuse the local one
    local_files = set(os.listdir(local))
    python_files = {name for name in local_files if name.endswith(".py")}
    assert {"modeling_tinylm.py", "configuration_tinylm.py", "saving.py"} <= python_files
    assert not {"hub.py", "model_card.py"} & python_files

    repo_id, own_card_repo, saved_repo = "user/tinylm-test", "user/tinylm-own-card", "user/tinylm-saved"
    with FakeHub() as hub:
        proc = run_push_in_subprocess(
            PUSH_SCRIPT, hub.url, timeout=120, cwd=REPO_ROOT, env={"PYTHONPATH": REPO_ROOT},
            args=[local, repo_id, own_card_repo, saved_repo, tmp_path / "save_and_push"],
        )
        assert hub.errors == []
        assert hub.unknown_requests == []
        assert f"COMMIT {hub.url}/{repo_id}/commit/" in proc.stdout
        files = dict(hub.repos[repo_id])
        own_card_files = dict(hub.repos[own_card_repo])
        saved_files = dict(hub.repos[saved_repo])
        summaries = [commit["summary"] for commit in hub.commits[repo_id]]
        own_card_summaries = [commit["summary"] for commit in hub.commits[own_card_repo]]
        saved_summaries = [commit["summary"] for commit in hub.commits[saved_repo]]

    # Our card goes up first, then transformers' push_to_hub uploads it again with the weights.
    assert summaries == ["Add model card", "Upload TinyLMForCausalLM", "Update model card", "second push", "third push"]
    assert own_card_summaries == [
        "Upload README.md with huggingface_hub", "Update model card", "Upload TinyLMForCausalLM",
    ]
    assert saved_summaries == ["Add model card", "save and push"]
    expected_files = python_files | {"config.json", "generation_config.json", "model.safetensors", "README.md"}
    assert set(files) == expected_files

    readme = files["README.md"].decode()
    data = _card_data(readme)
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "text-generation"
    assert data["tags"] == ["tinylm", "hf_tinylm", "my-tag", "extra-tag", "second-push"]
    assert CARD_MARKER in readme and readme.count(CARD_MARKER) == 1
    assert "`alibi`" in readme and "one FFN shared by all 2 layers" in readme
    assert f'from_pretrained("{repo_id}", trust_remote_code=True)' in readme

    assert json.loads(files["config.json"])["auto_map"] == AUTO_MAP
    for name in python_files:
        assert files[name] == (local / name).read_bytes(), name
    received = load_safetensors(files["model.safetensors"])
    assert set(received) == saved_keys(local)
    state = model.state_dict()
    for name, tensor in received.items():
        assert torch.equal(tensor, state[name]), name

    # A README somebody wrote on the Hub is kept; the push only adds the tags.
    own_readme = own_card_files["README.md"].decode()
    assert "# Written by hand" in own_readme and CARD_MARKER not in own_readme
    own_data = _card_data(own_readme)
    assert own_data["license"] == "mit"
    assert own_data["tags"] == ["tinylm", "hf_tinylm", "my-tag"]
    assert "model.safetensors" in own_card_files

    # save_pretrained(push_to_hub=True) uploads the generated card too (transformers' own path would not).
    saved_readme = saved_files["README.md"].decode()
    assert CARD_MARKER in saved_readme and f'from_pretrained("{saved_repo}"' in saved_readme
    assert {"model.safetensors", "config.json", "modeling_tinylm.py"} <= set(saved_files)
    assert load_safetensors(saved_files["model.safetensors"]).keys() == received.keys()


@pytest.mark.parametrize("target", [{"revision": "dev"}, {"create_pr": True}], ids=["branch", "pull_request"])
def test_card_is_not_pushed_to_main_for_a_branch_or_pull_request(target):
    # transformers reads README.md from main only; pushing ours there would change main behind the branch's back.
    # HF_HUB_OFFLINE is set in tests (conftest): any request to the Hub would raise here.
    model = TinyLMForCausalLM(tiny_config())
    assert push_model_card(model, "user/tinylm-branch", **target) is None
