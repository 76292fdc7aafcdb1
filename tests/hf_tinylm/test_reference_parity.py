"""Reference parity: a TinyLM configured as Llama or as GPT-2 computes what transformers' own classes compute.

Each test builds a tiny TinyLM with random weights (norm weights and biases included), copies the weights into
the matching transformers reference model with the mapping helpers below, and checks that logits agree to 1e-5
(plain batch and left-padded batch with an attention mask) and that greedy ``generate`` returns the same ids.

The mapping helpers are written to move into ``conversion/`` later: they only read a TinyLM model and return a
reference config or state dict, and they refuse TinyLM configurations the reference architecture cannot express.
"""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM

# ---- weight mapping helpers (to move into conversion/) -------------------------------------------------------


def _require(condition: bool, message: str):
    if not condition:
        raise ValueError(message)


def _check_all_mapped(model, used: set):
    """Raise if any of the TinyLM's state-dict entries was not read by a mapping (a silently dropped tensor)."""
    missing = sorted(set(model.state_dict()) - used)
    _require(not missing, f"TinyLM tensors with no counterpart in the reference model: {missing}")


def _check_llama_shape(config: TinyLMConfig):
    """Refuse TinyLM configurations that Llama cannot express."""
    attention, ffn, head = config.core["attention"], config.core["ffn"], config.head
    _require(config.embedder["embedder_type"] == "generic", "Llama mapping needs embedder_type='generic'")
    _require(config.core["core_type"] == "generic", "Llama mapping needs core_type='generic' (no FFN sharing)")
    _require(config.positional_encoding_type == "rope", "Llama mapping needs positional_encoding_type='rope'")
    _require(attention["attention_type"] == "generic", "Llama mapping needs attention_type='generic'")
    _require(attention["is_causal"], "Llama mapping needs causal attention")
    _require(ffn["ffn_type"] == "swiglu", "Llama mapping needs ffn_type='swiglu'")
    for section, spec in (("core.attention", attention), ("core.ffn", ffn), ("head", head)):
        _require(spec["normalization"] == "rms_norm", f"Llama mapping needs {section}.normalization='rms_norm'")
        _require(not spec["bias"], f"Llama mapping needs {section}.bias=False")


def llama_config_from_tinylm(config: TinyLMConfig, attn_implementation: str = "eager") -> LlamaConfig:
    """The ``LlamaConfig`` whose ``LlamaForCausalLM`` has the same shapes and computes the same function as a TinyLM
    with rope + rms_norm + swiglu and no biases (raises ValueError for any other TinyLM configuration)."""
    _check_llama_shape(config)
    return LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        hidden_act="silu",
        max_position_embeddings=config.max_position_embeddings,
        rms_norm_eps=config.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": float(config.rope_theta)},
        tie_word_embeddings=config.tie_word_embeddings,
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=0.0,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        attn_implementation=attn_implementation,
    )


def tinylm_to_llama_state_dict(model: TinyLMForCausalLM) -> dict:
    """A ``LlamaForCausalLM`` state dict holding a Llama-shaped TinyLM's weights.

    ``c_attn`` rows are split q | k | v into ``q_proj`` / ``k_proj`` / ``v_proj`` (both use the half-split rotary
    convention, so no row permutation is needed); ``c_proj`` → ``o_proj``; SwiGLU ``linear_1`` (gate) →
    ``gate_proj``, ``linear_3`` (up) → ``up_proj``, ``linear_2`` (down) → ``down_proj``; ``attn_norm`` →
    ``input_layernorm``, ``ffn_norm`` → ``post_attention_layernorm``, ``lm_head.norm`` → ``model.norm``,
    ``lm_head.linear`` → ``lm_head``. Raises ValueError if any TinyLM tensor would be left behind.
    """
    config = model.config
    _check_llama_shape(config)
    source = model.state_dict()
    used = set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return source[key].detach().clone()

    q_size = config.num_attention_heads * config.head_dim
    kv_size = config.num_key_value_heads * config.head_dim
    target = {"model.embed_tokens.weight": take("model.embedder.token_embedder.weight")}
    for layer in range(config.num_hidden_layers):
        tiny, llama = f"model.core.h.{layer}", f"model.layers.{layer}"
        query, key, value = take(f"{tiny}.attn.c_attn.weight").split((q_size, kv_size, kv_size), dim=0)
        target[f"{llama}.self_attn.q_proj.weight"] = query.contiguous()
        target[f"{llama}.self_attn.k_proj.weight"] = key.contiguous()
        target[f"{llama}.self_attn.v_proj.weight"] = value.contiguous()
        target[f"{llama}.self_attn.o_proj.weight"] = take(f"{tiny}.attn.c_proj.weight")
        target[f"{llama}.mlp.gate_proj.weight"] = take(f"{tiny}.ffn.linear_1.weight")
        target[f"{llama}.mlp.up_proj.weight"] = take(f"{tiny}.ffn.linear_3.weight")
        target[f"{llama}.mlp.down_proj.weight"] = take(f"{tiny}.ffn.linear_2.weight")
        target[f"{llama}.input_layernorm.weight"] = take(f"{tiny}.attn_norm.weight")
        target[f"{llama}.post_attention_layernorm.weight"] = take(f"{tiny}.ffn_norm.weight")
    target["model.norm.weight"] = take("lm_head.norm.weight")
    target["lm_head.weight"] = take("lm_head.linear.weight")
    _check_all_mapped(model, used)
    return target


def _check_gpt2_shape(config: TinyLMConfig):
    """Refuse TinyLM configurations that GPT-2 cannot express."""
    attention, ffn, head = config.core["attention"], config.core["ffn"], config.head
    _require(config.embedder["embedder_type"] == "generic", "GPT-2 mapping needs embedder_type='generic'")
    _require(config.core["core_type"] == "generic", "GPT-2 mapping needs core_type='generic' (no FFN sharing)")
    _require(config.positional_encoding_type == "learned", "GPT-2 mapping needs positional_encoding_type='learned'")
    _require(attention["attention_type"] == "generic", "GPT-2 mapping needs attention_type='generic'")
    _require(attention["is_causal"], "GPT-2 mapping needs causal attention")
    _require(attention["group_size"] == 1, "GPT-2 mapping needs multi-head attention (core.attention.group_size=1)")
    _require(ffn["ffn_type"] == "generic", "GPT-2 mapping needs ffn_type='generic'")
    _require(ffn["activation"] == "gelu_tanh", "GPT-2 mapping needs core.ffn.activation='gelu_tanh' (gelu_new)")
    for section, spec in (("core.attention", attention), ("core.ffn", ffn), ("head", head)):
        _require(spec["normalization"] == "layer_norm", f"GPT-2 mapping needs {section}.normalization='layer_norm'")
        _require(spec["bias"], f"GPT-2 mapping needs {section}.bias=True")


def gpt2_config_from_tinylm(config: TinyLMConfig, attn_implementation: str = "eager") -> GPT2Config:
    """The ``GPT2Config`` whose ``GPT2LMHeadModel`` has the same shapes and computes the same function as a TinyLM
    with learned positions + biased layer_norm + generic gelu_tanh FFN + multi-head attention with biases (raises
    ValueError for any other TinyLM configuration). Dropout is off: parity is checked in eval mode anyway."""
    _check_gpt2_shape(config)
    return GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.max_position_embeddings,
        n_embd=config.hidden_size,
        n_layer=config.num_hidden_layers,
        n_head=config.num_attention_heads,
        n_inner=config.intermediate_size,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=config.layer_norm_eps,
        scale_attn_weights=True,
        scale_attn_by_inverse_layer_idx=False,
        reorder_and_upcast_attn=False,
        tie_word_embeddings=config.tie_word_embeddings,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        attn_implementation=attn_implementation,
    )


def tinylm_to_gpt2_state_dict(model: TinyLMForCausalLM) -> dict:
    """A ``GPT2LMHeadModel`` state dict holding a GPT-2-shaped TinyLM's weights.

    GPT-2's ``Conv1D`` computes ``x @ W + b`` with ``W`` of shape [in, out], the transpose of ``nn.Linear``'s
    weight, so every projection weight is transposed. ``c_attn`` keeps its layout: TinyLM's output rows q | k | v
    become GPT-2's output columns q | k | v. ``attn_norm`` → ``ln_1``, ``ffn_norm`` → ``ln_2``, ``ffn.linear_1`` →
    ``mlp.c_fc``, ``ffn.linear_2`` → ``mlp.c_proj``, ``lm_head.norm`` → ``transformer.ln_f``, ``lm_head.linear``
    → ``lm_head`` (tied to ``wte`` when the TinyLM ties its embeddings). Raises ValueError if any TinyLM tensor
    would be left behind.
    """
    config = model.config
    _check_gpt2_shape(config)
    source = model.state_dict()
    used = set()

    def take(key: str) -> torch.Tensor:
        used.add(key)
        return source[key].detach().clone()

    def conv1d(prefix: str) -> dict:
        return {"weight": take(f"{prefix}.weight").t().contiguous(), "bias": take(f"{prefix}.bias")}

    def norm(prefix: str) -> dict:
        return {"weight": take(f"{prefix}.weight"), "bias": take(f"{prefix}.bias")}

    target = {
        "transformer.wte.weight": take("model.embedder.token_embedder.weight"),
        "transformer.wpe.weight": take("model.embedder.positional_encoding.pe.weight"),
    }
    for layer in range(config.num_hidden_layers):
        tiny, gpt2 = f"model.core.h.{layer}", f"transformer.h.{layer}"
        parts = {
            "ln_1": norm(f"{tiny}.attn_norm"),
            "attn.c_attn": conv1d(f"{tiny}.attn.c_attn"),
            "attn.c_proj": conv1d(f"{tiny}.attn.c_proj"),
            "ln_2": norm(f"{tiny}.ffn_norm"),
            "mlp.c_fc": conv1d(f"{tiny}.ffn.linear_1"),
            "mlp.c_proj": conv1d(f"{tiny}.ffn.linear_2"),
        }
        for name, tensors in parts.items():
            for kind, tensor in tensors.items():
                target[f"{gpt2}.{name}.{kind}"] = tensor
    for kind, tensor in norm("lm_head.norm").items():
        target[f"transformer.ln_f.{kind}"] = tensor
    target["lm_head.weight"] = take("lm_head.linear.weight")
    _check_all_mapped(model, used)
    return target


# ---- test helpers ---------------------------------------------------------------------------------------------

VOCAB = 96
HIDDEN = 64
CONTEXT = 64
PAD_ID = 0
BATCH, LENGTH, LEFT_PADDING = 2, 16, 5
NEW_TOKENS = 8
TOLERANCE = 1e-5


def _randomize_(model: TinyLMForCausalLM, seed: int = 1234):
    """Random weights everywhere: norm weights 1 + 0.1·N(0,1), biases 0.1·N(0,1), embeddings 0.5·N(0,1) and
    linear weights N(0, 4/fan_in), so every tensor's mapping matters and the blocks (not the token's own embedding)
    dominate the logits, which keeps greedy continuations from collapsing into one repeated token.
    Tied parameters are one tensor and so stay tied."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():  # shared parameters are listed once
            noise = torch.randn(parameter.shape, generator=generator)
            if "norm" in name and name.endswith(".weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                parameter.copy_(0.1 * noise)
            elif parameter.ndim == 2 and ("token_embedder" in name or ".pe." in name):
                parameter.copy_(0.5 * noise)
            elif parameter.ndim == 2:
                parameter.copy_(2.0 * noise / parameter.shape[1] ** 0.5)
            else:
                raise AssertionError(f"no randomisation rule for {name}")
    return model


def _llama_like_tinylm(tied: bool, attn_implementation: str) -> TinyLMForCausalLM:
    config = TinyLMConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        max_position_embeddings=CONTEXT,
        positional_encoding_type="rope",
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        core={
            "num_layers": 2,
            "attention": {"num_heads": 4, "group_size": 2, "normalization": "rms_norm", "bias": False},
            "ffn": {"ffn_type": "swiglu", "ffn_dim": 96, "normalization": "rms_norm", "bias": False},
        },
        head={"normalization": "rms_norm", "bias": False},
        tie_word_embeddings=tied,
        pad_token_id=PAD_ID,
        attn_implementation=attn_implementation,
    )
    return _randomize_(TinyLMForCausalLM(config)).eval()


def _gpt2_like_tinylm(attn_implementation: str) -> TinyLMForCausalLM:
    config = TinyLMConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        max_position_embeddings=CONTEXT,
        positional_encoding_type="learned",
        layer_norm_eps=1e-5,
        core={
            "num_layers": 2,
            "attention": {"num_heads": 4, "group_size": 1, "normalization": "layer_norm", "bias": True},
            "ffn": {
                "ffn_type": "generic",
                "ffn_dim": 128,
                "activation": "gelu_tanh",
                "normalization": "layer_norm",
                "bias": True,
            },
        },
        head={"normalization": "layer_norm", "bias": True},
        tie_word_embeddings=True,
        pad_token_id=PAD_ID,
        attn_implementation=attn_implementation,
    )
    return _randomize_(TinyLMForCausalLM(config)).eval()


def _llama_reference(tiny: TinyLMForCausalLM, attn_implementation: str) -> LlamaForCausalLM:
    reference = LlamaForCausalLM(llama_config_from_tinylm(tiny.config, attn_implementation))
    reference.load_state_dict(tinylm_to_llama_state_dict(tiny), strict=True)
    assert reference.config._attn_implementation == attn_implementation
    return reference.eval()


def _gpt2_reference(tiny: TinyLMForCausalLM, attn_implementation: str) -> GPT2LMHeadModel:
    reference = GPT2LMHeadModel(gpt2_config_from_tinylm(tiny.config, attn_implementation))
    reference.load_state_dict(tinylm_to_gpt2_state_dict(tiny), strict=True)
    assert reference.config._attn_implementation == attn_implementation
    return reference.eval()


def _random_ids(seed: int = 7) -> torch.LongTensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, VOCAB - 1, (BATCH, LENGTH), generator=generator)  # no pad / end-of-text ids


def _left_padded_batch(seed: int = 8):
    """Row 0 full length, row 1 left-padded by LEFT_PADDING pad tokens; returns (ids, mask, position_ids)."""
    ids = _random_ids(seed)
    mask = torch.ones_like(ids)
    mask[1, :LEFT_PADDING] = 0
    ids = ids.masked_fill(mask == 0, PAD_ID)
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, position_ids


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def _check_tied(tiny: TinyLMForCausalLM, reference, reference_embedding: torch.Tensor):
    tied = tiny.config.tie_word_embeddings
    assert (tiny.lm_head.linear.weight is tiny.model.embedder.token_embedder.weight) == tied
    assert (reference.lm_head.weight is reference_embedding) == tied


def _check_logits(tiny, reference, label: str):
    ids = _random_ids()
    with torch.no_grad():
        diff = _max_diff(tiny(ids).logits, reference(ids).logits)
    print(f"\n{label} plain batch: max |Δlogits| = {diff:.3g}")
    assert diff <= TOLERANCE, f"{label}: logits differ by {diff}"


def _check_left_padded_logits(tiny, reference, label: str):
    ids, mask, position_ids = _left_padded_batch()
    real = mask.bool()
    with torch.no_grad():
        expected = reference(ids, attention_mask=mask, position_ids=position_ids).logits
        given = tiny(ids, attention_mask=mask, position_ids=position_ids).logits
        derived = tiny(ids, attention_mask=mask).logits  # TinyLM derives the same positions from the mask
        unpadded = tiny(ids[1:, LEFT_PADDING:]).logits  # the padded row, run alone
    diffs = {
        "explicit positions": _max_diff(given[real], expected[real]),
        "positions from mask": _max_diff(derived[real], expected[real]),
        "padded row vs alone": _max_diff(given[1, LEFT_PADDING:], unpadded[0]),
    }
    print(f"\n{label} left-padded: " + ", ".join(f"{k} {v:.3g}" for k, v in diffs.items()))
    for name, diff in diffs.items():
        # Running a row alone changes the batch shape and so the reduction order: a TinyLM-internal check, looser.
        tolerance = 10 * TOLERANCE if name == "padded row vs alone" else TOLERANCE
        assert diff <= tolerance, f"{label} left-padded ({name}): logits differ by {diff}"


def _check_generate(tiny, reference, label: str):
    ids, mask, _ = _left_padded_batch(seed=9)
    settings = dict(
        attention_mask=mask,
        max_new_tokens=NEW_TOKENS,
        do_sample=False,
        pad_token_id=PAD_ID,
        eos_token_id=tiny.config.eos_token_id,
    )
    with torch.no_grad():
        expected = reference.generate(ids, **settings)
        got = tiny.generate(ids, **settings)
    print(f"\n{label} greedy generate: {got[:, LENGTH:].tolist()}")
    assert got.shape[1] > LENGTH
    assert torch.equal(got, expected), f"{label}: greedy ids differ\nTinyLM {got.tolist()}\nreference {expected.tolist()}"


ATTN_IMPLEMENTATIONS = ["eager", "sdpa"]


# ---- Llama: rope + rms_norm + swiglu + grouped-query attention, no biases ------------------------------------


@pytest.fixture(params=[True, False], ids=["tied", "untied"])
def tied(request):
    return request.param


@pytest.fixture(params=ATTN_IMPLEMENTATIONS)
def attn_implementation(request):
    return request.param


@pytest.fixture
def llama_pair(tied, attn_implementation):
    tiny = _llama_like_tinylm(tied, attn_implementation)
    reference = _llama_reference(tiny, attn_implementation)
    _check_tied(tiny, reference, reference.model.embed_tokens.weight)
    return tiny, reference, f"llama[{'tied' if tied else 'untied'}-{attn_implementation}]"


def test_llama_logits_match(llama_pair):
    _check_logits(*llama_pair)


def test_llama_left_padded_logits_match(llama_pair):
    _check_left_padded_logits(*llama_pair)


def test_llama_greedy_generate_matches(llama_pair):
    _check_generate(*llama_pair)


# ---- GPT-2: learned positions + biased layer_norm + gelu_tanh MLP + multi-head attention with biases ---------


@pytest.fixture
def gpt2_pair(attn_implementation):
    tiny = _gpt2_like_tinylm(attn_implementation)
    reference = _gpt2_reference(tiny, attn_implementation)
    _check_tied(tiny, reference, reference.transformer.wte.weight)
    return tiny, reference, f"gpt2[{attn_implementation}]"


def test_gpt2_logits_match(gpt2_pair):
    _check_logits(*gpt2_pair)


def test_gpt2_left_padded_logits_match(gpt2_pair):
    _check_left_padded_logits(*gpt2_pair)


def test_gpt2_greedy_generate_matches(gpt2_pair):
    _check_generate(*gpt2_pair)


# ---- the mapping helpers refuse what the reference cannot express ---------------------------------------------


def test_mappings_refuse_mismatched_architectures():
    gpt2_like = _gpt2_like_tinylm("eager")
    llama_like = _llama_like_tinylm(True, "eager")
    with pytest.raises(ValueError, match="rope"):
        tinylm_to_llama_state_dict(gpt2_like)
    with pytest.raises(ValueError, match="learned"):
        tinylm_to_gpt2_state_dict(llama_like)
