"""Saved byte-level and next-thought folders load with trust_remote_code in a process without hf_tinylm."""

import json
import os
import subprocess
import sys

import torch

from experimental.byte_level import TinyLMByteConfig, TinyLMByteForCausalLM
from experimental.next_thought import TinyLMNextThoughtConfig, TinyLMNextThoughtForCausalLM

REMOTE_CODE_SCRIPT = r"""
import importlib.abc, json, os, sys


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("hf_tinylm", "experimental", "tokenizers_ext"):
            raise ImportError(f"{name} is blocked in this process")


assert not any(os.path.isfile(os.path.join(entry or os.getcwd(), "hf_tinylm", "__init__.py")) for entry in sys.path)
sys.meta_path.insert(0, Block())

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

inputs = torch.load(sys.argv[1], weights_only=True)
results = {}
for name, folder in json.loads(sys.argv[2]).items():
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    lm, info = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, output_loading_info=True)
    base = AutoModel.from_pretrained(folder, trust_remote_code=True)
    ids = inputs[name]
    with torch.no_grad():
        logits = lm.eval()(ids).logits
        hidden = base.eval()(ids).last_hidden_state
        generated = lm.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False)
    torch.save({"logits": logits, "hidden": hidden, "generated": generated}, os.path.join(sys.argv[3], name + ".pt"))
    results[name] = {
        "classes": [type(config).__name__, type(lm).__name__, type(base).__name__],
        "modules": [type(lm).__module__, type(base).__module__],
        "clean": all(not value for value in info.values()),
    }
results["leaked"] = sorted(name for name in sys.modules if name.split(".")[0] in ("hf_tinylm", "experimental"))
print("RESULT " + json.dumps(results))
"""


def perturbed(model):
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def test_saved_folders_load_without_the_packages(tmp_path):
    torch.manual_seed(0)
    byte_config = TinyLMByteConfig(
        vocab_size=300, eos_token_id=299, hidden_size=32, max_position_embeddings=32, byte_embedding_dim=16,
        byte_embedder={"num_layers": 1, "attention": {"num_heads": 2}},
        byte_decoder={"num_layers": 1, "attention": {"num_heads": 2}},
        core={"num_layers": 1, "attention": {"num_heads": 4, "group_size": 2}, "ffn": {"ffn_dim": 64}},
    )
    byte_model = TinyLMByteForCausalLM(byte_config)
    # A small made-up vocabulary: token i spells the bytes of str(i).
    table = torch.full((300, 12), byte_config.byte_pad_id, dtype=torch.int16)
    for token in range(300):
        spelled = str(token).encode()
        table[token, : len(spelled)] = torch.tensor(list(spelled), dtype=torch.int16)
    byte_model.set_token_bytes(table)
    byte_model = perturbed(byte_model)
    thought_config = TinyLMNextThoughtConfig(
        vocab_size=97, embedding_dim=32, latent_dim=24, thought_length=4,
        embedder={"pooling_num_heads": 4, "attention": {"num_heads": 4}},
        latent_decoder={"attention": {"num_heads": 4}}, positional_encoding_type="rope",
    )
    thought_model = perturbed(TinyLMNextThoughtForCausalLM(thought_config))

    models = {"byte": byte_model, "next_thought": thought_model}
    inputs = {"byte": torch.randint(0, 300, (2, 7)), "next_thought": torch.randint(0, 97, (2, 10))}
    folders = {}
    for name, model in models.items():
        folders[name] = str(tmp_path / name)
        model.save_pretrained(folders[name])
        assert json.loads((tmp_path / name / "config.json").read_text())["auto_map"] == type(model).AUTO_MAP
    torch.save(inputs, tmp_path / "inputs.pt")

    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), HF_MODULES_CACHE=str(tmp_path / "modules"))
    proc = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_SCRIPT, str(tmp_path / "inputs.pt"), json.dumps(folders), str(tmp_path)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result.pop("leaked") == []
    expected_classes = {
        "byte": ["TinyLMByteConfig", "TinyLMByteForCausalLM", "TinyLMByteModel"],
        "next_thought": ["TinyLMNextThoughtConfig", "TinyLMNextThoughtForCausalLM", "TinyLMNextThoughtModel"],
    }
    for name, model in models.items():
        assert result[name]["classes"] == expected_classes[name]
        assert all(module.startswith("transformers_modules.") for module in result[name]["modules"])
        assert result[name]["clean"]
        outputs = torch.load(tmp_path / f"{name}.pt", weights_only=True)
        ids = inputs[name]
        with torch.no_grad():
            assert torch.equal(outputs["logits"], model(ids).logits), name
            assert torch.equal(outputs["hidden"], model.model(ids).last_hidden_state), name
            expected = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False)
        assert torch.equal(outputs["generated"], expected), name
