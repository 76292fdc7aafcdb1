"""Original STLM checkpoints → TinyLM folders, proven by logits.

No original checkpoint exists here, so the tests write them from the documented layout (stlm-format.md):
- from a random ``LlamaForCausalLM``, permuting its half-split q/k rows into the original's interleaved order, then
  checking the converted model's logits against that Llama;
- from random weights for configurations Llama cannot express, checking against ``reference_logits`` below: an
  independent forward pass written from the format's numerics (interleaved complex RoPE, RMSNorm eps 1e-6 in
  float32, LayerNorm eps 1e-5, ...) that reads the original key names and shares no code with hf_tinylm.
The reference itself is first checked against transformers' Llama.
"""

import math
import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from conversion import CheckpointMismatchError, ConversionError, UnsafeCheckpointError, convert_stlm_checkpoint
from conversion.stlm import read_stlm_checkpoint, stlm_to_tinylm
from hf_tinylm import TinyLMForCausalLM

TOLERANCE = 1e-5
HIDDEN, CONTEXT, LENGTH = 32, 48, 12
GPT2_VOCAB = 50257
NUM_MERGES = 12  # bpe test vocabulary: 256 bytes + 12 merges + <|pad|> + <|endoftext|>
BPE_VOCAB = 256 + NUM_MERGES + 2


# ---- writing original checkpoints ----------------------------------------------------------------------------------


def original_config(
    positional_encoding_type="rope", *, vocab_size=BPE_VOCAB, tokenizer_type="bpe", num_layers=2, num_heads=4,
    group_size=2, ffn_type="swiglu", activation="gelu", attn_norm="rms_norm", attn_bias=False, ffn_norm="rms_norm",
    ffn_bias=False, head_norm="rms_norm", head_bias=False, core_model_type="generic", tied=True, is_causal=True,
) -> dict:
    """The ``model:`` section of an original run config (every key the generic shell reads)."""
    return {
        "core_model": {
            "core_model_type": core_model_type,
            "num_layers": num_layers,
            "ffn": {"ffn_type": ffn_type, "ffn_dim": 40, "activation": activation, "normalization": ffn_norm,
                    "bias": ffn_bias},
            "attn": {"attn_type": "generic", "num_heads": num_heads, "normalization": attn_norm,
                     "group_size": group_size, "bias": attn_bias, "is_causal": is_causal},
        },
        "embedder": {"tokenizer_type": tokenizer_type, "embedding_model_type": "generic", "dataset_name": "stlm"},
        "lm_head": {"normalization": head_norm, "bias": head_bias, "lm_head_type": "generic"},
        "hidden_dim": HIDDEN,
        "context_window": CONTEXT,
        "vocab_size": vocab_size,
        "model_shell_type": "standard",
        "embedding_weight_tying": tied,
        "positional_encoding_type": positional_encoding_type,
    }


def spec_sincos_table(context: int, dim: int) -> torch.Tensor:
    """stlm-format.md: even dims sin, odd dims cos, div_term = exp(arange(0, H, 2) * -ln(10000)/H); (1, context, H)."""
    position = torch.arange(context, dtype=torch.float32)[:, None]
    div_term = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(context, dim)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    return table[None]


def random_original_state_dict(cfg: dict, seed: int = 0) -> dict:
    """Random weights under the original key names and shapes, ties and shared FFNs included."""
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=generator)

    hidden, vocab = cfg["hidden_dim"], cfg["vocab_size"]
    attn, ffn = cfg["core_model"]["attn"], cfg["core_model"]["ffn"]
    kv_rows = 2 * hidden // attn["group_size"]

    def linear(prefix, out_features, in_features, bias):
        tensors = {f"{prefix}.weight": normal(out_features, in_features, scale=1.5 / in_features**0.5)}
        if bias:
            tensors[f"{prefix}.bias"] = normal(out_features, scale=0.1)
        return tensors

    def norm(prefix, kind, bias):
        if kind == "none":
            return {}
        tensors = {f"{prefix}.weight": 1.0 + normal(hidden, scale=0.1)}
        if bias:
            tensors[f"{prefix}.bias"] = normal(hidden, scale=0.1)
        return tensors

    state = {"embedding_model.token_embedder.weight": normal(vocab, hidden, scale=0.5)}
    if cfg["positional_encoding_type"] == "learned":
        state["embedding_model.positional_encodings.pe.weight"] = normal(cfg["context_window"], hidden, scale=0.5)
    elif cfg["positional_encoding_type"] == "sincos":
        state["embedding_model.positional_encodings.pe"] = spec_sincos_table(cfg["context_window"], hidden)
    shared_ffn = None
    for layer in range(cfg["core_model"]["num_layers"]):
        prefix = f"core_model.transformer.h.{layer}"
        state.update(norm(f"{prefix}.attn_norm", attn["normalization"], attn["bias"]))
        state.update(linear(f"{prefix}.attn.c_attn", hidden + kv_rows, hidden, attn["bias"]))
        state.update(linear(f"{prefix}.attn.c_proj", hidden, hidden, attn["bias"]))
        state.update(norm(f"{prefix}.ffn_norm", ffn["normalization"], ffn["bias"]))
        layer_ffn = {**linear("linear_1", ffn["ffn_dim"], hidden, ffn["bias"]),
                     **linear("linear_2", hidden, ffn["ffn_dim"], ffn["bias"])}
        if ffn["ffn_type"] == "swiglu":
            layer_ffn.update(linear("linear_3", ffn["ffn_dim"], hidden, ffn["bias"]))
        if cfg["core_model"]["core_model_type"] == "generic_ffn_sharing":
            shared_ffn = shared_ffn or layer_ffn  # the same tensors in every layer, as tied parameters are
            layer_ffn = shared_ffn
        state.update({f"{prefix}.ffn.{name}": tensor for name, tensor in layer_ffn.items()})
    state.update(norm("model_head.layer_norm", cfg["lm_head"]["normalization"], cfg["lm_head"]["bias"]))
    tied = cfg["embedding_weight_tying"]
    state["model_head.linear.weight"] = (
        state["embedding_model.token_embedder.weight"] if tied else normal(vocab, hidden, scale=0.5)
    )
    return state


def write_checkpoint(path, cfg: dict, state_dict: dict, *, omegaconf: bool = True, prefix: str = "") -> str:
    """``torch.save`` in the original's layout: model / optimizer / iter_num / the whole run config."""
    run_config = {"model": cfg, "trainer": {"optimizer": {"lr": 6e-4, "name": "adamW"}, "max_iters": 100},
                  "general": {"paths": {"checkpoint_dir": "checkpoints"}}}
    if omegaconf:
        run_config["trainer"]["lr_copy"] = "${trainer.optimizer.lr}"  # Hydra configs carry interpolations
        run_config = OmegaConf.create(run_config)
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
                 "param_groups": [{"lr": 6e-4, "betas": (0.9, 0.95), "params": [0]}]}
    torch.save({"model": {prefix + key: value for key, value in state_dict.items()}, "optimizer": optimizer,
                "iter_num": 100, "config": run_config}, path)
    return os.fspath(path)


def write_merges(path, count: int = NUM_MERGES) -> str:
    """A valid original .model file: ``count`` merges, each of two earlier ids."""
    pairs = [(104, 101), (108, 108), (256, 257), (111, 32), (116, 104), (260, 101), (32, 119), (262, 258), (97, 110),
             (264, 100), (105, 110), (266, 103)][:count]
    with open(path, "w") as handle:
        handle.writelines(f"{first} {second}\n" for first, second in pairs)
    return os.fspath(path)


def half_split_to_interleaved(rows: torch.Tensor, num_heads: int) -> torch.Tensor:
    """The documented permutation, inverted: per head, rows (2, head_dim/2) → transpose → flatten."""
    head_dim = rows.shape[0] // num_heads
    return rows.reshape(num_heads, 2, head_dim // 2, *rows.shape[1:]).transpose(1, 2).reshape(rows.shape)


def random_llama(tied: bool, vocab_size: int = BPE_VOCAB, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=HIDDEN, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=CONTEXT, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, tie_word_embeddings=tied,
        bos_token_id=None, eos_token_id=vocab_size - 1, pad_token_id=None,
    )
    llama = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # non-trivial norms, so that every mapping matters
        for name, parameter in llama.named_parameters():
            if "norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return llama


def llama_original_state_dict(llama: LlamaForCausalLM, permute: bool = True) -> dict:
    """A Llama's weights as the original code stores them (stlm-format.md's verified correspondence)."""
    source, config = llama.state_dict(), llama.config
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    state = {"embedding_model.token_embedder.weight": source["model.embed_tokens.weight"]}
    for layer in range(config.num_hidden_layers):
        ours, theirs = f"core_model.transformer.h.{layer}", f"model.layers.{layer}"
        query = source[f"{theirs}.self_attn.q_proj.weight"]
        key = source[f"{theirs}.self_attn.k_proj.weight"]
        if permute:
            query, key = half_split_to_interleaved(query, heads), half_split_to_interleaved(key, kv_heads)
        state[f"{ours}.attn.c_attn.weight"] = torch.cat([query, key, source[f"{theirs}.self_attn.v_proj.weight"]])
        state[f"{ours}.attn.c_proj.weight"] = source[f"{theirs}.self_attn.o_proj.weight"]
        state[f"{ours}.attn_norm.weight"] = source[f"{theirs}.input_layernorm.weight"]
        state[f"{ours}.ffn_norm.weight"] = source[f"{theirs}.post_attention_layernorm.weight"]
        state[f"{ours}.ffn.linear_1.weight"] = source[f"{theirs}.mlp.gate_proj.weight"]
        state[f"{ours}.ffn.linear_3.weight"] = source[f"{theirs}.mlp.up_proj.weight"]
        state[f"{ours}.ffn.linear_2.weight"] = source[f"{theirs}.mlp.down_proj.weight"]
    state["model_head.layer_norm.weight"] = source["model.norm.weight"]
    state["model_head.linear.weight"] = source["lm_head.weight"]
    return state


def llama_original_config(llama: LlamaForCausalLM, tokenizer_type: str = "bpe") -> dict:
    return original_config("rope", vocab_size=llama.config.vocab_size, tokenizer_type=tokenizer_type,
                           tied=llama.config.tie_word_embeddings)


# ---- an independent forward pass of the original numerics ----------------------------------------------------------

_ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "leakyrelu": F.leaky_relu, "tanh": torch.tanh,
                "sigmoid": torch.sigmoid, "silu": F.silu, "none": lambda x: x}


def _norm(kind: str, state: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    weight, bias = state.get(f"{prefix}.weight"), state.get(f"{prefix}.bias")
    if kind == "rms_norm":
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6)
        out = normed.type_as(x) * weight
        return out + bias if bias is not None else out
    if kind == "layer_norm":
        return F.layer_norm(x, (x.shape[-1],), weight, bias, eps=1e-5)
    return x


def _interleaved_rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (0,1), (2,3), … as complex numbers by position × 10000^(-2i/head_dim). x: [b, s, heads, d]."""
    head_dim = x.shape[-1]
    frequencies = 1.0 / 10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim)
    rotation = torch.polar(torch.ones(len(positions), head_dim // 2), positions.float()[:, None] * frequencies)
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], head_dim // 2, 2))
    return torch.view_as_real(pairs * rotation[None, :, None, :]).reshape(x.shape).type_as(x)


@torch.no_grad()
def reference_logits(cfg: dict, state: dict, ids: torch.Tensor) -> torch.Tensor:
    """The original model's logits, from its config and state dict (original key names), per stlm-format.md."""
    attn, ffn, head = cfg["core_model"]["attn"], cfg["core_model"]["ffn"], cfg["lm_head"]
    hidden, heads, group = cfg["hidden_dim"], attn["num_heads"], attn["group_size"]
    head_dim, kv_heads = hidden // heads, heads // group
    batch, length = ids.shape
    positions = torch.arange(length)

    x = state["embedding_model.token_embedder.weight"][ids]
    if cfg["positional_encoding_type"] == "learned":
        x = x + state["embedding_model.positional_encodings.pe.weight"][positions]
    elif cfg["positional_encoding_type"] == "sincos":
        x = x + state["embedding_model.positional_encodings.pe"][0, :length]

    def linear(prefix, inputs):
        return F.linear(inputs, state[f"{prefix}.weight"], state.get(f"{prefix}.bias"))

    for layer in range(cfg["core_model"]["num_layers"]):
        prefix = f"core_model.transformer.h.{layer}"
        normed = _norm(attn["normalization"], state, f"{prefix}.attn_norm", x)
        query, key, value = linear(f"{prefix}.attn.c_attn", normed).split(
            (hidden, kv_heads * head_dim, kv_heads * head_dim), dim=-1)
        query = query.reshape(batch, length, heads, head_dim)
        key = key.reshape(batch, length, kv_heads, head_dim)
        value = value.reshape(batch, length, kv_heads, head_dim)
        if cfg["positional_encoding_type"] == "rope":
            query, key = _interleaved_rope(query, positions), _interleaved_rope(key, positions)
        # query head j reads key/value head j // group_size
        key, value = key.repeat_interleave(group, dim=2), value.repeat_interleave(group, dim=2)
        scores = torch.einsum("bqhd,bkhd->bhqk", query, key) / math.sqrt(head_dim)
        if attn["is_causal"]:
            scores = scores.masked_fill(~torch.ones(length, length, dtype=torch.bool).tril(), float("-inf"))
        attended = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), value).reshape(batch, length, hidden)
        x = x + linear(f"{prefix}.attn.c_proj", attended)
        normed = _norm(ffn["normalization"], state, f"{prefix}.ffn_norm", x)
        if ffn["ffn_type"] == "swiglu":
            inner = F.silu(linear(f"{prefix}.ffn.linear_1", normed)) * linear(f"{prefix}.ffn.linear_3", normed)
        else:
            inner = _ACTIVATIONS[ffn["activation"]](linear(f"{prefix}.ffn.linear_1", normed))
        x = x + linear(f"{prefix}.ffn.linear_2", inner)
    x = _norm(head["normalization"], state, "model_head.layer_norm", x)
    return F.linear(x, state["model_head.linear.weight"])


def probe_ids(vocab_size: int, seed: int = 3) -> torch.Tensor:
    return torch.randint(0, vocab_size, (2, LENGTH), generator=torch.Generator().manual_seed(seed))


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@torch.no_grad()
def converted_logits(out_dir, ids) -> torch.Tensor:
    model = AutoModelForCausalLM.from_pretrained(out_dir)
    assert isinstance(model, TinyLMForCausalLM)
    return model.eval()(ids).logits


# ---- the reference forward is right --------------------------------------------------------------------------------


def test_reference_forward_matches_transformers_llama():
    llama = random_llama(tied=False)
    ids = probe_ids(BPE_VOCAB)
    with torch.no_grad():
        expected = llama(ids).logits
    diff = max_diff(reference_logits(llama_original_config(llama), llama_original_state_dict(llama), ids), expected)
    print(f"\nreference forward vs LlamaForCausalLM: max |Δlogits| = {diff:.3g}")
    assert diff <= TOLERANCE


# ---- checkpoints made from a Llama ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_llama_checkpoint_converts_with_identical_logits(tmp_path, tied):
    llama = random_llama(tied)
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", llama_original_config(llama), llama_original_state_dict(llama),
                            prefix="_orig_mod." if tied else "")  # torch.compile'd runs prefix every key
    summary = convert_stlm_checkpoint(ckpt, tmp_path / "out", tokenizer_merges=write_merges(tmp_path / "t.model"))
    out = os.fspath(summary)
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json"):
        assert os.path.isfile(os.path.join(out, name)), name

    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert isinstance(model, TinyLMForCausalLM)
    assert (model.lm_head.linear.weight is model.model.embedder.token_embedder.weight) == tied
    ids = probe_ids(BPE_VOCAB)
    with torch.no_grad():
        diff = max_diff(model(ids).logits, llama(ids).logits)
        settings = dict(max_new_tokens=6, do_sample=False, pad_token_id=BPE_VOCAB - 2)
        same_generation = torch.equal(model.generate(ids, **settings), llama.generate(ids, **settings))
    print(f"\nSTLM (from Llama, {'tied' if tied else 'untied'}) → TinyLM vs Llama: max |Δlogits| = {diff:.3g}")
    assert diff <= TOLERANCE
    assert same_generation
    assert model.generation_config.eos_token_id == BPE_VOCAB - 1
    assert model.generation_config.pad_token_id == BPE_VOCAB - 2


def test_unpermuted_rotary_rows_would_change_logits():
    """The parity above is sensitive: skipping the documented permutation gives a visibly different model."""
    llama = random_llama(tied=True)
    ids = probe_ids(BPE_VOCAB)
    wrong = stlm_to_tinylm(llama_original_config(llama), llama_original_state_dict(llama, permute=False))
    with torch.no_grad():
        assert max_diff(wrong(ids).logits, llama(ids).logits) > 1e-3


def test_gpt2_tokenizer_checkpoint(tmp_path):
    llama = random_llama(tied=True, vocab_size=GPT2_VOCAB)
    cfg, state = llama_original_config(llama, "gpt2"), llama_original_state_dict(llama)
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", cfg, state, omegaconf=False)  # plain-dict configs occur too
    out = convert_stlm_checkpoint(ckpt, tmp_path / "out")
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.encode("Hello world", add_special_tokens=False) == [15496, 995]
    ids = probe_ids(GPT2_VOCAB)
    with torch.no_grad():
        assert max_diff(converted_logits(out, ids), llama(ids).logits) <= TOLERANCE
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.eos_token_id == model.config.pad_token_id == 50256


def test_bpe_tokenizer_is_written_from_merges(tmp_path):
    llama = random_llama(tied=True)
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", llama_original_config(llama), llama_original_state_dict(llama))
    out = convert_stlm_checkpoint(ckpt, tmp_path / "out", tokenizer_merges=write_merges(tmp_path / "t.model"))
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert len(tokenizer) == BPE_VOCAB
    assert tokenizer.convert_tokens_to_ids("<|endoftext|>") == BPE_VOCAB - 1
    assert tokenizer.encode("hello", add_special_tokens=False)[0] >= 256  # merges applied


# ---- configurations Llama cannot express, against the reference forward --------------------------------------------

REFERENCE_CASES = {
    "sincos-layernorm-bias-gelu-shared-ffn": dict(
        positional_encoding_type="sincos", group_size=1, ffn_type="generic", activation="gelu", attn_norm="layer_norm",
        attn_bias=True, ffn_norm="layer_norm", ffn_bias=True, head_norm="layer_norm", head_bias=True,
        core_model_type="generic_ffn_sharing"),
    "learned-rmsnorm-bias-swiglu-untied": dict(
        positional_encoding_type="learned", group_size=2, attn_bias=True, ffn_bias=True, head_bias=True, tied=False),
    "none-positions-no-norms-relu-one-kv-head": dict(
        positional_encoding_type="none", group_size=4, ffn_type="generic", activation="relu", attn_norm="none",
        ffn_norm="none", head_norm="none", tied=False),
    "rope-qk-biases-layernorm-tanh-shared-ffn": dict(
        positional_encoding_type="rope", group_size=2, ffn_type="generic", activation="tanh", attn_norm="layer_norm",
        attn_bias=True, ffn_norm="rms_norm", head_norm="layer_norm", core_model_type="generic_ffn_sharing"),
    "rope-bidirectional-leakyrelu": dict(
        positional_encoding_type="rope", group_size=1, ffn_type="generic", activation="leakyrelu", is_causal=False),
    "learned-sigmoid-silu-mixed-norms": dict(
        positional_encoding_type="learned", ffn_type="generic", activation="sigmoid", attn_norm="rms_norm",
        ffn_norm="layer_norm", ffn_bias=True, head_norm="rms_norm"),
}


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_original_configs_match_reference_forward(case):
    cfg = original_config(**REFERENCE_CASES[case])
    state = random_original_state_dict(cfg, seed=len(case))
    ids = probe_ids(cfg["vocab_size"])
    model = stlm_to_tinylm(cfg, state)
    expected = reference_logits(cfg, state, ids)
    with torch.no_grad():
        diff = max_diff(model(ids).logits, expected)
    scale = max(1.0, expected.abs().max().item())
    print(f"\nSTLM [{case}] → TinyLM vs reference forward: max |Δlogits| = {diff:.3g} (max |logit| {scale:.3g})")
    # float32 rounding grows with the logits' size: models without norms reach logits in the hundreds
    assert diff <= TOLERANCE * scale


@pytest.mark.parametrize("case", ["sincos-layernorm-bias-gelu-shared-ffn", "rope-qk-biases-layernorm-tanh-shared-ffn"])
def test_converted_folder_matches_reference_forward(tmp_path, case):
    cfg = original_config(**REFERENCE_CASES[case])
    state = random_original_state_dict(cfg, seed=1)
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", cfg, state, prefix="_orig_mod.")
    summary = convert_stlm_checkpoint(ckpt, tmp_path / "out", tokenizer_merges=write_merges(tmp_path / "t.model"))
    ids = probe_ids(cfg["vocab_size"])
    expected = reference_logits(cfg, state, ids)
    assert max_diff(converted_logits(summary, ids), expected) <= TOLERANCE * max(1.0, expected.abs().max().item())
    if cfg["positional_encoding_type"] == "sincos":
        assert summary.dropped_keys == ("embedding_model.positional_encodings.pe",)
    # One FFN for every layer, stored once and tied again on load.
    model = AutoModelForCausalLM.from_pretrained(summary)
    assert model.model.core.h[1].ffn.linear_1.weight is model.model.core.h[0].ffn.linear_1.weight


def test_bfloat16_checkpoint_keeps_its_dtype():
    cfg = original_config("learned")
    state = {key: tensor.to(torch.bfloat16) for key, tensor in random_original_state_dict(cfg).items()}
    model = stlm_to_tinylm(cfg, state)
    assert model.dtype == torch.bfloat16
    assert torch.equal(model.model.embedder.token_embedder.weight, state["embedding_model.token_embedder.weight"])


# ---- checkpoints that must be refused ------------------------------------------------------------------------------


def test_weights_that_disagree_with_the_config_are_listed(tmp_path):
    cfg = original_config("learned")
    state = random_original_state_dict(cfg)
    del state["core_model.transformer.h.1.ffn.linear_3.weight"]
    state["core_model.transformer.h.0.attn.rotary.freqs"] = torch.zeros(3)
    state["core_model.transformer.h.0.attn.c_proj.weight"] = torch.zeros(HIDDEN, HIDDEN + 1)
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", cfg, state)
    with pytest.raises(CheckpointMismatchError) as error:
        convert_stlm_checkpoint(ckpt, tmp_path / "out", tokenizer_merges=write_merges(tmp_path / "t.model"))
    message = str(error.value)
    assert "missing: core_model.transformer.h.1.ffn.linear_3.weight" in message
    assert "unexpected: core_model.transformer.h.0.attn.rotary.freqs" in message
    assert "wrong shape: core_model.transformer.h.0.attn.c_proj.weight (32, 33) (config: (32, 32))" in message
    assert not os.path.exists(tmp_path / "out")


def test_a_config_that_names_another_architecture_is_listed(tmp_path):
    cfg = original_config("learned", num_layers=3)  # the weights below have 2 layers
    state = random_original_state_dict(original_config("learned"))
    with pytest.raises(CheckpointMismatchError, match=r"missing: core_model\.transformer\.h\.2\.attn_norm\.weight"):
        stlm_to_tinylm(cfg, state)


def test_broken_ties_are_refused():
    cfg = original_config("learned", tied=True)
    state = random_original_state_dict(cfg)
    state["model_head.linear.weight"] = state["model_head.linear.weight"] + 1.0
    with pytest.raises(CheckpointMismatchError, match="embedding_weight_tying"):
        stlm_to_tinylm(cfg, state)
    cfg = original_config("learned", core_model_type="generic_ffn_sharing")
    state = random_original_state_dict(cfg)
    key = "core_model.transformer.h.1.ffn.linear_2.weight"
    state[key] = 2 * state[key]
    with pytest.raises(CheckpointMismatchError, match="h.1.ffn.linear_2.weight differs from layer 0"):
        stlm_to_tinylm(cfg, state)


def test_a_nonstandard_sincos_table_is_refused():
    cfg = original_config("sincos")
    state = random_original_state_dict(cfg)
    state["embedding_model.positional_encodings.pe"] = state["embedding_model.positional_encodings.pe"].flip(-1)
    with pytest.raises(CheckpointMismatchError, match="sinusoidal table"):
        stlm_to_tinylm(cfg, state)


class _RunsCode:
    """Unpickling this calls os.system: the attack a checkpoint can carry."""

    def __init__(self, sentinel):
        self.sentinel = os.fspath(sentinel)

    def __reduce__(self):
        return os.system, (f"touch {self.sentinel}",)


@pytest.mark.parametrize("container", ["zip", "legacy", "plain-pickle"])
def test_a_pickle_that_carries_code_is_refused_and_never_run(tmp_path, container):
    sentinel = tmp_path / "pwned"
    cfg = original_config("learned")
    payload = {"model": random_original_state_dict(cfg), "config": {"model": cfg}, "iter_num": 1,
               "optimizer": _RunsCode(sentinel)}
    path = tmp_path / "evil.pt"
    if container == "plain-pickle":
        with open(path, "wb") as handle:
            pickle.dump(payload, handle)
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=container == "zip")
    with pytest.raises(UnsafeCheckpointError, match="nothing in it was run"):
        convert_stlm_checkpoint(path, tmp_path / "out")
    assert not sentinel.exists()
    assert not (tmp_path / "out").exists()


def test_omegaconf_checkpoint_loads_with_interpolations_resolved(tmp_path):
    cfg = original_config("learned")
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", cfg, random_original_state_dict(cfg))
    model_config, state = read_stlm_checkpoint(ckpt)
    assert model_config == cfg
    assert "model_head.linear.weight" in state


def test_unsupported_or_incomplete_configs_are_refused(tmp_path):
    cfg = original_config("learned", ffn_type="generic", activation="learned")
    with pytest.raises(ConversionError, match="'learned' activation"):
        stlm_to_tinylm(cfg, random_original_state_dict(original_config("learned")))
    cfg = original_config("learned")
    del cfg["core_model"]["attn"]["group_size"]
    with pytest.raises(ConversionError, match="group_size"):
        stlm_to_tinylm(cfg, {})
    cfg = original_config("learned")
    ckpt = write_checkpoint(tmp_path / "ckpt.pt", cfg, random_original_state_dict(cfg))
    with pytest.raises(ConversionError, match="--tokenizer-merges FILE"):
        convert_stlm_checkpoint(ckpt, tmp_path / "out")  # a bpe checkpoint without its merges
    with pytest.raises(ConversionError, match="270"):
        convert_stlm_checkpoint(ckpt, tmp_path / "out", tokenizer_merges=write_merges(tmp_path / "short.model", 5))
    torch.save({"model": random_original_state_dict(cfg)}, tmp_path / "no-config.pt")
    with pytest.raises(ConversionError, match="no 'config' entry"):
        convert_stlm_checkpoint(tmp_path / "no-config.pt", tmp_path / "out")


def test_only_generic_shell_checkpoints_convert_and_the_config_goes_through_config_from_stlm():
    import yaml
    from stlm_original_configs import ORIGINAL_CONFIGS

    from conversion import UnsupportedFeatureError
    from conversion.stlm import tinylm_config_from_stlm

    sections = {name: yaml.safe_load(text)["model"] for name, _, text in ORIGINAL_CONFIGS if "{" not in text}
    config = tinylm_config_from_stlm(sections["ffn_sharing.yaml"])
    assert config.core["core_type"] == "generic_ffn_sharing" and config.eos_token_id == config.pad_token_id == 50256
    for name, family in (("byte_level.yaml", "byte_level"), ("baseline_next_thought.yaml", "next_thought")):
        with pytest.raises(UnsupportedFeatureError, match=f"the checkpoint is a {family} model"):
            tinylm_config_from_stlm(sections[name])
    clash = dict(sections["baseline.yaml"], lm_head={"lm_head_type": "byte_level", "normalization": "rms_norm"})
    with pytest.raises(ConversionError, match="cannot be read: model: core_model_type='generic' cannot be built"):
        tinylm_config_from_stlm(clash)
