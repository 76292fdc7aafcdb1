"""``model_from_stlm`` / ``config_from_stlm``: every original config builds, trains a step, saves and reloads."""

import copy
import subprocess
import sys

import pytest
import torch
import yaml
from stlm_original_configs import ORIGINAL_CONFIGS
from transformers import AutoModelForCausalLM, Phi3Config, Phi3ForCausalLM, Qwen2Config, Qwen2ForCausalLM

import hf_tinylm
from hf_tinylm import config_from_stlm, model_from_stlm, stlm_family, stlm_section
from hf_tinylm.pretrained import PretrainedNotFoundError

FAMILY_CLASSES = {
    "tinylm": hf_tinylm.TinyLMForCausalLM,
    "byte_level": hf_tinylm.TinyLMByteForCausalLM,
    "next_thought": hf_tinylm.TinyLMNextThoughtForCausalLM,
    "hf_core": hf_tinylm.TinyLMHFCoreForCausalLM,
    "hugging_face": Phi3ForCausalLM,
}


@pytest.fixture(scope="module")
def pretrained_folders(tmp_path_factory):
    """Tiny random stand-ins for the Hub models the original configs name, saved as local folders."""
    from model_factory import char_tokenizer

    root = tmp_path_factory.mktemp("pretrained")
    folders = {}
    small = dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=97)
    for name, model in (
        ("qwen2", Qwen2ForCausalLM(Qwen2Config(hidden_size=32, intermediate_size=64, **small))),
        ("qwen2_large", Qwen2ForCausalLM(Qwen2Config(hidden_size=48, intermediate_size=96, **small))),
        ("phi3", Phi3ForCausalLM(Phi3Config(hidden_size=32, intermediate_size=64, pad_token_id=None,
                                            bos_token_id=None, eos_token_id=96, **small))),
    ):
        folder = root / name
        model.save_pretrained(folder)
        char_tokenizer().save_pretrained(folder)
        folders[name] = str(folder)
    return folders


def original_section(text: str, folders: dict) -> dict:
    return yaml.safe_load(text.format(**folders))["model"]


def _token_ids(model, length=32):
    vocab = model.config.vocab_size
    return torch.randint(0, min(vocab, 50256), (2, length), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("file_name, family, text", ORIGINAL_CONFIGS, ids=[entry[0] for entry in ORIGINAL_CONFIGS])
def test_every_original_config_builds_trains_saves_and_reloads(tmp_path, pretrained_folders, file_name, family, text):
    section = original_section(text, pretrained_folders)
    assert stlm_family(section) == family
    model = model_from_stlm(section)
    assert type(model) is FAMILY_CLASSES[family]
    assert model.tokenizer is not None  # GPT-2's, or the pretrained model's own

    # One training step: loss from labels, gradients on what trains, the weights move.
    ids = _token_ids(model)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in trainable]
    loss = model(input_ids=ids, labels=ids).loss
    assert torch.isfinite(loss)
    loss.backward()
    torch.optim.AdamW(trainable, lr=1e-3).step()
    assert any(not torch.equal(old, new) for old, new in zip(before, trainable))
    if family == "hf_core":  # the original freezes the pretrained body
        assert all(not p.requires_grad for p in model.core.parameters())
        assert any(p.requires_grad for p in model.embedder.parameters())

    # Save → reload through the Auto class: same class, same logits (same arithmetic on the same tensors).
    model.eval()
    model.save_pretrained(tmp_path)
    if family == "hugging_face":
        model.tokenizer.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is type(model)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, reloaded(input_ids=ids).logits)
    assert reloaded.tokenizer is not None if family != "hugging_face" else True

    # to_stlm() gives back a section that builds the same architecture.
    section_again = stlm_section(reloaded)
    assert stlm_family(section_again) == family
    rebuilt = model_from_stlm(section_again)
    assert type(rebuilt) is type(model)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert type(config_from_stlm(section_again)) is type(model.config)


def test_hf_core_holds_the_pretrained_body_and_loads_as_remote_code(tmp_path, pretrained_folders):
    section = original_section(ORIGINAL_CONFIGS[7][2], pretrained_folders)
    model = model_from_stlm(section).eval()
    pretrained = Qwen2ForCausalLM.from_pretrained(pretrained_folders["qwen2"])
    for name, tensor in pretrained.model.state_dict().items():
        assert torch.equal(model.core.body.state_dict()[name], tensor), name
    # Fed the same embeddings, our core's output is the pretrained body's last hidden state.
    embeds = torch.randn(1, 8, 32)
    with torch.no_grad():
        ours = model.core(embeds).last_hidden_state
        theirs = pretrained.model(inputs_embeds=embeds).last_hidden_state
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)

    model.save_pretrained(tmp_path)
    ids = [[15496, 995, 11, 198, 50256]]
    with torch.no_grad():
        expected = model(input_ids=torch.tensor(ids)).logits
    torch.save({"logits": expected, "state": model.state_dict()}, tmp_path / "expected.pt")
    # A process that cannot import hf_tinylm still loads the folder with trust_remote_code: the same tensors, and the
    # same logits up to float32 rounding (the reloaded weights sit at other addresses, and BLAS kernels may sum a
    # product in another order by alignment).
    script = f"""
import sys, builtins, torch
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split('.')[0] in ('hf_tinylm', 'tokenizers_ext', 'experimental'):
        raise ImportError('blocked: ' + name)
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
with torch.no_grad():
    logits = model(input_ids=torch.tensor({ids!r})).logits
expected = torch.load({str(tmp_path / 'expected.pt')!r})
for name, tensor in model.state_dict().items():
    assert torch.equal(tensor, expected['state'][name]), name
torch.testing.assert_close(logits, expected['logits'], rtol=1e-6, atol=1e-6)
print(type(model).__name__)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "TinyLMHFCoreForCausalLM"


def test_hf_core_generates_the_same_with_and_without_cache(pretrained_folders):
    model = model_from_stlm(original_section(ORIGINAL_CONFIGS[7][2], pretrained_folders)).eval()
    prompt = torch.tensor([[15496, 995, 11]])
    cached = model.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=True, pad_token_id=50256)
    uncached = model.generate(prompt, max_new_tokens=8, do_sample=False, use_cache=False, pad_token_id=50256)
    assert torch.equal(cached, uncached)


def test_hugging_face_config_is_the_pretrained_model_whole(pretrained_folders):
    section = original_section(ORIGINAL_CONFIGS[9][2], pretrained_folders)
    model = model_from_stlm(section).eval()
    pretrained = Phi3ForCausalLM.from_pretrained(pretrained_folders["phi3"]).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, pretrained(input_ids=ids).logits)
    assert model.tokenizer.encode("hi", add_special_tokens=False) == [ord("h") - 32, ord("i") - 32]


# ---- clashing combinations -------------------------------------------------------------------------------------
def _baseline_section() -> dict:
    return yaml.safe_load(ORIGINAL_CONFIGS[0][2])["model"]


def _with(section: dict, **changes) -> dict:
    section = copy.deepcopy(section)
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = section
        for parent in parents:
            target = target.setdefault(parent, {})
        target[key] = value
    return section


CLASHES = [
    ({"embedder__embedding_model_type": "byte_level"}, ["embedding_model_type='byte_level'", "lm_head_type='generic'"]),
    ({"lm_head__lm_head_type": "byte_level"}, ["lm_head_type='byte_level'", "byte_level + lm_head_type byte_level"]),
    ({"model_shell_type": "byte_shell"}, ["model_shell_type='byte_shell'", "generic + lm_head_type generic"]),
    ({"embedder__embedding_model_type": "hierarchical"}, ["core_model_type='generic'", "hierarchical"]),
    ({"lm_head__lm_head_type": "latent_2_seq"}, ["core_model_type='generic'", "latent_2_seq"]),
    ({"embedder__embedding_model_type": "hf_embedder"}, ["core_model_type='generic'", "hf_embedder"]),
    ({"lm_head__lm_head_type": "hf_head"}, ["core_model_type='generic'", "hf_head"]),
    ({"core_model__core_model_type": "next_thought_baseline"},
     ["core_model_type='next_thought_baseline'", "hierarchical + lm_head_type latent_2_seq"]),
    ({"core_model__core_model_type": "hf_core", "model_shell_type": "byte_shell", "model_string": "x"},
     ["core_model_type='hf_core'", "model_shell_type='byte_shell'", "hf_embedder + lm_head_type hf_head"]),
    ({"core_model__core_model_type": "hf_core", "lm_head__lm_head_type": "hf_head", "model_string": "x"},
     ["lm_head_type='hf_head'", "embedding_model_type generic + lm_head_type generic"]),
    ({"core_model__core_model_type": "hf_core", "embedder__embedding_model_type": "hf_embedder", "model_string": "x"},
     ["embedding_model_type='hf_embedder'", "lm_head_type='generic'"]),
    ({"core_model__core_model_type": "hf_core", "embedder__embedding_model_type": "byte_level",
      "lm_head__lm_head_type": "byte_level", "model_string": "x"}, ["core_model_type='hf_core'", "byte_level"]),
    ({"core_model__core_model_type": "hf_core"}, ["model.model_string is missing"]),
    ({"model_string": "Qwen/Qwen2-0.5B"}, ["model.model_string='Qwen/Qwen2-0.5B' is only read with", "hf_core"]),
    ({"embedder__tokenizer_type": "hf_tokenizer"}, ["tokenizer_type='hf_tokenizer'", "hf_embedder"]),
    ({"core_model__core_model_type": "moe"}, ["core_model_type='moe' is not a known type", "generic_ffn_sharing"]),
    ({"embedder__embedding_model_type": "poolformer"}, ["embedding_model_type='poolformer'", "hierarchical"]),
    ({"model_shell_type": "cascade"}, ["model_shell_type='cascade'", "byte_shell"]),
]


@pytest.mark.parametrize("changes, words", CLASHES, ids=[str(sorted(c)) + str(i) for i, (c, _) in enumerate(CLASHES)])
def test_a_combination_that_does_not_fit_names_the_parts_that_clash(changes, words):
    section = _with(_baseline_section(), **changes)
    for build in (stlm_family, config_from_stlm, model_from_stlm):
        with pytest.raises(ValueError) as raised:
            build(section)
        for word in words:
            assert word in str(raised.value), (word, str(raised.value))


def test_hugging_face_with_a_non_hf_tokenizer_clashes(pretrained_folders):
    section = original_section(ORIGINAL_CONFIGS[9][2], pretrained_folders)
    section["embedder"]["tokenizer_type"] = "gpt2"
    with pytest.raises(ValueError, match="tokenizer_type='gpt2' clashes with embedding_model_type 'hf_embedder'"):
        model_from_stlm(section)


# ---- pretrained models that cannot be had ----------------------------------------------------------------------
def test_an_unreachable_hub_id_gets_one_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    section = yaml.safe_load(ORIGINAL_CONFIGS[7][2].format(qwen2="Qwen/Qwen2-0.5B"))["model"]
    for build in (config_from_stlm, model_from_stlm):
        with pytest.raises(PretrainedNotFoundError) as raised:
            build(section)
        message = str(raised.value)
        assert "model.model_string='Qwen/Qwen2-0.5B'" in message
        assert "pass a local folder" in message
        assert "\n" not in message


def test_a_missing_local_folder_is_named(tmp_path):
    section = yaml.safe_load(ORIGINAL_CONFIGS[7][2].format(qwen2=str(tmp_path / "nowhere")))["model"]
    with pytest.raises(PretrainedNotFoundError, match="nowhere' is not a folder"):
        model_from_stlm(section)


@pytest.mark.parametrize("index, hidden_dim", [(7, 64), (9, 48)])
def test_hidden_dim_must_match_the_pretrained_core(pretrained_folders, index, hidden_dim):
    section = original_section(ORIGINAL_CONFIGS[index][2], pretrained_folders)
    section["hidden_dim"] = hidden_dim
    with pytest.raises(ValueError, match=f"={hidden_dim} differs from the pretrained .*32"):
        model_from_stlm(section)


# ---- spellings the original's files and code disagree on ---------------------------------------------------------
def test_next_thought_spellings_of_the_files_and_the_code_are_both_read():
    from_files = yaml.safe_load(ORIGINAL_CONFIGS[6][2])["model"]
    config = config_from_stlm(from_files)
    assert config.embedder["pct_pool_per_layer"] == [0.3, 0.5, 0.6, 0.6]
    assert config.embedder["pooling_num_heads"] == 12
    assert config.embedder["embedder_type"] == "hierarchical" and config.core["core_type"] == "baseline"
    as_code = copy.deepcopy(from_files)
    as_code["embedder"]["pct_pool_per_layer"] = as_code["embedder"].pop("pooling_pct_per_layer")
    as_code["embedder"]["embedding_model_type"] = "hierarchical"
    assert config_from_stlm(as_code).to_dict() == config.to_dict()

    both = copy.deepcopy(from_files)
    both["embedder"]["pct_pool_per_layer"] = [0.1, 0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match="pooling_pct_per_layer=.*pct_pool_per_layer=.*same setting"):
        config_from_stlm(both)
    wrong_layers = copy.deepcopy(from_files)
    wrong_layers["embedder"]["pooling_layers"] = 3
    with pytest.raises(ValueError, match="pooling_layers=3 does not match"):
        config_from_stlm(wrong_layers)


def test_byte_context_window_repeated_in_the_embedder_must_agree():
    section = yaml.safe_load(ORIGINAL_CONFIGS[4][2])["model"]
    assert config_from_stlm(section).byte_context_window == 12
    section["embedder"]["byte_context_window"] = 8
    with pytest.raises(ValueError, match="embedder.byte_context_window=8 differs from model.byte_context_window=12"):
        config_from_stlm(section)


def test_overrides_reach_the_config():
    config = config_from_stlm(_baseline_section(), dropout=0.1)
    assert config.dropout == 0.1
    assert config.eos_token_id == config.pad_token_id == 50256
