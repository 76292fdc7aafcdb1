"""The offline fake Hub (tests/fake_hub.py) accepts real ``push_to_hub`` calls from transformers."""

import json
import urllib.error
import urllib.request

import pytest
import torch
from safetensors.torch import load as load_safetensors
from transformers import LlamaConfig, LlamaForCausalLM

from fake_hub import FakeHub, run_push_in_subprocess

REPO_ID = "user/tiny-llama"

PUSH_SCRIPT = r"""
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

model = LlamaForCausalLM.from_pretrained(sys.argv[1])
print("MODEL_COMMIT", model.push_to_hub(sys.argv[2]))

backend = Tokenizer(models.WordLevel({"<unk>": 0, "hello": 1, "world": 2}, unk_token="<unk>"))
backend.pre_tokenizer = pre_tokenizers.Whitespace()
tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")
print("TOKENIZER_COMMIT", tokenizer.push_to_hub(sys.argv[2]))
"""


def _tiny_llama() -> LlamaForCausalLM:
    config = LlamaConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=64,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


def test_push_to_hub_model_and_tokenizer_reach_fake_hub(tmp_path):
    model = _tiny_llama()
    local_dir = tmp_path / "local"
    model.save_pretrained(local_dir)

    with FakeHub() as hub:
        proc = run_push_in_subprocess(PUSH_SCRIPT, hub.url, timeout=120, args=[local_dir, REPO_ID])

        assert hub.errors == []
        assert hub.unknown_requests == []
        assert f"MODEL_COMMIT {hub.url}/{REPO_ID}/commit/" in proc.stdout
        assert ("POST", "/api/repos/create") in hub.requests
        assert ("POST", f"/api/models/{REPO_ID}/commit/main") in hub.requests

        files = hub.repos[REPO_ID]
        for name in ("config.json", "model.safetensors", "README.md", "tokenizer.json", "tokenizer_config.json"):
            assert name in files, f"{name} not uploaded; got {sorted(files)}"
        assert [c["summary"] for c in hub.commits[REPO_ID]] == ["Upload LlamaForCausalLM", "Upload tokenizer"]

    assert json.loads(files["config.json"])["hidden_size"] == 16
    received = load_safetensors(files["model.safetensors"])
    expected = model.state_dict()
    assert set(received) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(received[name], tensor), name


def _urlopen(url: str, timeout: float = 5):
    return urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=timeout)


def test_fake_hub_logs_unknown_requests_and_stops():
    with FakeHub() as hub:
        url = hub.url
        assert url.startswith("http://127.0.0.1:")
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            _urlopen(f"{url}/api/not-a-real-endpoint", timeout=5)
        assert excinfo.value.code == 404
        assert hub.unknown_requests == [("GET", "/api/not-a-real-endpoint")]

        # A missing file in a missing repo / an existing repo gives the error codes huggingface_hub maps.
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            _urlopen(f"{url}/user/none/resolve/main/README.md", timeout=5)
        assert excinfo.value.headers["X-Error-Code"] == "RepoNotFound"

    with pytest.raises(OSError):
        _urlopen(f"{url}/api/whoami-v2", timeout=2)
