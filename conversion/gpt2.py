"""TinyLM ⇄ GPT-2 (``GPT2LMHeadModel``), weight for weight.

GPT-2 is a TinyLM with learned positions, biased LayerNorm, a generic two-layer FFN (``gelu_new``, which is
TinyLM's ``gelu_tanh``), multi-head attention with biases and a biased final LayerNorm (TinyLM
``head={"normalization": "layer_norm", "bias": True}``).

=====================================  =============================================
TinyLM                                 GPT-2
=====================================  =============================================
model.embedder.token_embedder          transformer.wte
model.positions.pe  transformer.wpe
core.h.{i}.attn_norm                   transformer.h.{i}.ln_1
core.h.{i}.attn.c_attn  (rows q|k|v)   transformer.h.{i}.attn.c_attn  (columns q|k|v)
core.h.{i}.attn.c_proj                 transformer.h.{i}.attn.c_proj
core.h.{i}.ffn_norm                    transformer.h.{i}.ln_2
core.h.{i}.ffn.linear_1 / linear_2     transformer.h.{i}.mlp.c_fc / c_proj
lm_head.norm                           transformer.ln_f
lm_head.linear                         lm_head
=====================================  =============================================

GPT-2's ``Conv1D`` stores ``[in, out]`` weights, the transpose of ``nn.Linear``'s, so every projection is transposed.
Going to GPT-2, some TinyLM features become plain GPT-2 weights without changing the function: a sinusoidal table
(or no positions at all) becomes the ``wpe`` table (or zeros), grouped-query attention has its key/value heads
repeated into multi-head attention, absent biases become zeros, and a shared FFN is copied into every layer.
Anything else that one side cannot express raises ``UnsupportedFeatureError`` naming the feature.
"""

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM

from .errors import UnsupportedFeatureError
from .mapping import StateDictReader, build_like, check_features, qkv_split_sizes

# TinyLM activation → GPT-2 ``activation_function`` (transformers' ACT2FN names) computing the same function.
_TO_GPT2_ACTIVATION = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu", "silu": "silu", "tanh": "tanh",
                       "sigmoid": "sigmoid", "leakyrelu": "leaky_relu", "none": "linear"}
_FROM_GPT2_ACTIVATION = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu",
                         "gelu_python": "gelu", "relu": "relu", "silu": "silu", "swish": "silu", "tanh": "tanh",
                         "sigmoid": "sigmoid", "leaky_relu": "leakyrelu", "linear": "none"}
_TO_GPT2_POSITIONS = ("learned", "sincos", "none")


def _gpt2_blockers(config: TinyLMConfig) -> list:
    """Why a TinyLM config has no GPT-2 equivalent (empty when it has one)."""
    attention, ffn, head = config.core["attention"], config.core["ffn"], config.head
    problems = []
    if config.embedder["embedder_type"] != "generic":
        problems.append(f"the {config.embedder['embedder_type']!r} embedder has no GPT-2 equivalent")
    if config.core["core_type"] not in ("generic", "generic_ffn_sharing"):
        problems.append(f"the {config.core['core_type']!r} core has no GPT-2 equivalent")
    if config.head["head_type"] != "generic":
        problems.append(f"the {config.head['head_type']!r} LM head has no GPT-2 equivalent")
    if config.positional_encoding_type not in _TO_GPT2_POSITIONS:
        problems.append(f"{config.positional_encoding_type} positions have no GPT-2 equivalent "
                        f"(GPT-2 adds learned absolute positions)")
    if attention["attention_type"] != "generic":
        problems.append(f"{attention['attention_type']!r} attention has no GPT-2 equivalent")
    if not attention["is_causal"]:
        problems.append("bidirectional attention (core.attention.is_causal=false) has no GPT-2 equivalent")
    if ffn["ffn_type"] != "generic":
        problems.append(f"the {ffn['ffn_type']} FFN has no GPT-2 equivalent (GPT-2 uses a two-layer MLP)")
    elif ffn["activation"] not in _TO_GPT2_ACTIVATION:
        problems.append(f"the {ffn['activation']!r} activation has no GPT-2 equivalent")
    for section, spec in (("core.attention", attention), ("core.ffn", ffn), ("head", head)):
        if spec["normalization"] != "layer_norm":
            problems.append(f"{section}.normalization={spec['normalization']} has no GPT-2 equivalent "
                            f"(GPT-2 uses layer_norm)")
    return problems


def gpt2_config_from_tinylm(config: TinyLMConfig, attn_implementation: str = None) -> GPT2Config:
    """The ``GPT2Config`` of the GPT-2 that computes what a TinyLM with this config computes."""
    check_features(_gpt2_blockers(config), "GPT-2")
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    return GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.max_position_embeddings,
        n_embd=config.hidden_size,
        n_layer=config.num_hidden_layers,
        n_head=config.num_attention_heads,
        n_inner=config.intermediate_size,
        activation_function=_TO_GPT2_ACTIVATION[config.core["ffn"]["activation"]],
        resid_pdrop=0.0,  # TinyLM has no residual dropout
        embd_pdrop=config.dropout,
        attn_pdrop=config.attention_dropout,
        layer_norm_epsilon=config.layer_norm_eps,
        initializer_range=config.initializer_range,
        scale_attn_weights=True,
        scale_attn_by_inverse_layer_idx=False,
        reorder_and_upcast_attn=False,
        tie_word_embeddings=config.tie_word_embeddings,
        use_cache=config.use_cache,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        **extra,
    )


def _position_table(model: TinyLMForCausalLM, source: StateDictReader) -> torch.Tensor:
    config = model.config
    if config.positional_encoding_type == "learned":
        return source.take("model.positions.pe.weight")
    if config.positional_encoding_type == "sincos":
        return model.model.positions.table.detach().clone()
    weight = source.state_dict["model.embedder.token_embedder.weight"]
    return torch.zeros(config.max_position_embeddings, config.hidden_size, dtype=weight.dtype)


def _expand_key_value_heads(rows: torch.Tensor, config: TinyLMConfig) -> torch.Tensor:
    """Key or value rows of ``num_key_value_heads`` heads → one head per query head (query head j reads j // g)."""
    head_rows = rows.reshape(config.num_key_value_heads, config.head_dim, *rows.shape[1:])
    expanded = head_rows.repeat_interleave(config.core["attention"]["group_size"], dim=0)
    return expanded.reshape(config.num_attention_heads * config.head_dim, *rows.shape[1:])


def tinylm_to_gpt2_state_dict(model: TinyLMForCausalLM) -> dict:
    """A ``GPT2LMHeadModel`` state dict holding this TinyLM's weights (see the module's table)."""
    config = model.config
    check_features(_gpt2_blockers(config), "GPT-2")
    source = StateDictReader(model.state_dict(), "TinyLM")
    qkv_sizes = qkv_split_sizes(config)

    def weight_and_bias(prefix: str, out_features: int) -> tuple:
        weight = source.take(f"{prefix}.weight")
        bias_key = f"{prefix}.bias"
        bias = source.take(bias_key) if bias_key in source else torch.zeros(out_features, dtype=weight.dtype)
        return weight, bias

    def attention_rows(tensor: torch.Tensor) -> torch.Tensor:
        query, key, value = tensor.split(qkv_sizes, dim=0)
        return torch.cat([query, _expand_key_value_heads(key, config), _expand_key_value_heads(value, config)])

    target = {
        "transformer.wte.weight": source.take("model.embedder.token_embedder.weight"),
        "transformer.wpe.weight": _position_table(model, source),
    }
    hidden = config.hidden_size
    for layer in range(config.num_hidden_layers):
        tiny, gpt2 = f"model.core.h.{layer}", f"transformer.h.{layer}"
        linears = {  # TinyLM nn.Linear → GPT-2 Conv1D, with its output size (for absent biases)
            "attn.c_attn": (f"{tiny}.attn.c_attn", sum(qkv_sizes)),
            "attn.c_proj": (f"{tiny}.attn.c_proj", hidden),
            "mlp.c_fc": (f"{tiny}.ffn.linear_1", config.intermediate_size),
            "mlp.c_proj": (f"{tiny}.ffn.linear_2", hidden),
        }
        for name, (prefix, size) in linears.items():
            weight, bias = weight_and_bias(prefix, size)
            if name == "attn.c_attn":
                weight, bias = attention_rows(weight), attention_rows(bias)
            target[f"{gpt2}.{name}.weight"] = weight.t().contiguous()
            target[f"{gpt2}.{name}.bias"] = bias
        for name, prefix in (("ln_1", f"{tiny}.attn_norm"), ("ln_2", f"{tiny}.ffn_norm")):
            target[f"{gpt2}.{name}.weight"], target[f"{gpt2}.{name}.bias"] = weight_and_bias(prefix, hidden)
    target["transformer.ln_f.weight"], target["transformer.ln_f.bias"] = weight_and_bias("lm_head.norm", hidden)
    target["lm_head.weight"] = source.take("lm_head.linear.weight")
    source.check_all_taken()
    return target


def to_gpt2(model: TinyLMForCausalLM, attn_implementation: str = None) -> GPT2LMHeadModel:
    """A ``GPT2LMHeadModel`` computing what ``model`` computes (same dtype; the attention backend of ``model``
    unless ``attn_implementation`` is given). Raises ``UnsupportedFeatureError`` naming what GPT-2 lacks."""
    if not isinstance(model, TinyLMForCausalLM):
        raise TypeError(f"to_gpt2 expects a TinyLMForCausalLM, got {type(model).__name__}")
    implementation = attn_implementation or model.config._attn_implementation
    config = gpt2_config_from_tinylm(model.config, implementation)
    return build_like(GPT2LMHeadModel, config, tinylm_to_gpt2_state_dict(model), model)


# ---- GPT-2 → TinyLM -------------------------------------------------------------------------------------------------


def _tinylm_blockers(config: GPT2Config) -> list:
    """Why a GPT-2 config has no TinyLM equivalent (empty when it has one)."""
    problems = []
    if config.activation_function not in _FROM_GPT2_ACTIVATION:
        problems.append(f"activation_function={config.activation_function!r} has no TinyLM equivalent")
    if not config.scale_attn_weights:
        problems.append("unscaled attention (scale_attn_weights=false) has no TinyLM equivalent")
    if config.scale_attn_by_inverse_layer_idx:
        problems.append("scale_attn_by_inverse_layer_idx=true has no TinyLM equivalent")
    if getattr(config, "add_cross_attention", False):
        problems.append("cross-attention has no TinyLM equivalent")
    return problems


def _valid_token_id(value, vocab_size: int):
    """GPT2Config's defaults name id 50256 whatever the vocabulary; ids outside it are dropped, not carried."""
    values = value if isinstance(value, list) else [value]
    if any(not isinstance(item, int) or not 0 <= item < vocab_size for item in values):
        return None
    return value


def tinylm_config_from_gpt2(config: GPT2Config, **overrides) -> TinyLMConfig:
    """The ``TinyLMConfig`` of the TinyLM that computes what a GPT-2 with this config computes."""
    check_features(_tinylm_blockers(config), "TinyLM", source="this GPT-2")
    ids = {name: _valid_token_id(getattr(config, name, None), config.vocab_size)
           for name in ("bos_token_id", "eos_token_id", "pad_token_id")}
    kwargs = dict(
        vocab_size=config.vocab_size,
        hidden_size=config.n_embd,
        max_position_embeddings=config.n_positions,
        positional_encoding_type="learned",
        layer_norm_eps=float(config.layer_norm_epsilon),
        core={
            "core_type": "generic",
            "num_layers": config.n_layer,
            "attention": {"attention_type": "generic", "num_heads": config.n_head, "group_size": 1,
                          "normalization": "layer_norm", "bias": True, "is_causal": True},
            "ffn": {"ffn_type": "generic", "ffn_dim": config.n_inner or 4 * config.n_embd,
                    "activation": _FROM_GPT2_ACTIVATION[config.activation_function],
                    "normalization": "layer_norm", "bias": True},
        },
        head={"head_type": "generic", "normalization": "layer_norm", "bias": True},
        tie_word_embeddings=bool(config.tie_word_embeddings),
        dropout=float(config.embd_pdrop),  # GPT-2's residual dropout (resid_pdrop) has no TinyLM counterpart
        attention_dropout=float(config.attn_pdrop),
        initializer_range=config.initializer_range,
        use_cache=getattr(config, "use_cache", True),
        **ids,
    )
    kwargs.update(overrides)
    return TinyLMConfig(**kwargs)


def gpt2_to_tinylm_state_dict(model: GPT2LMHeadModel, config: TinyLMConfig) -> dict:
    """A ``TinyLMForCausalLM`` state dict (for ``config`` from ``tinylm_config_from_gpt2``) holding GPT-2's weights."""
    source = StateDictReader(model.state_dict(), "GPT-2")
    target = {
        "model.embedder.token_embedder.weight": source.take("transformer.wte.weight"),
        "model.positions.pe.weight": source.take("transformer.wpe.weight"),
    }
    for layer in range(config.num_hidden_layers):
        tiny, gpt2 = f"model.core.h.{layer}", f"transformer.h.{layer}"
        for gpt2_name, tiny_name in (("attn.c_attn", "attn.c_attn"), ("attn.c_proj", "attn.c_proj"),
                                     ("mlp.c_fc", "ffn.linear_1"), ("mlp.c_proj", "ffn.linear_2")):
            target[f"{tiny}.{tiny_name}.weight"] = source.take(f"{gpt2}.{gpt2_name}.weight").t().contiguous()
            target[f"{tiny}.{tiny_name}.bias"] = source.take(f"{gpt2}.{gpt2_name}.bias")
        for gpt2_name, tiny_name in (("ln_1", "attn_norm"), ("ln_2", "ffn_norm")):
            for kind in ("weight", "bias"):
                target[f"{tiny}.{tiny_name}.{kind}"] = source.take(f"{gpt2}.{gpt2_name}.{kind}")
    for kind in ("weight", "bias"):
        target[f"lm_head.norm.{kind}"] = source.take(f"transformer.ln_f.{kind}")
    target["lm_head.linear.weight"] = source.take("lm_head.weight")
    # Checkpoints written by older transformers carry the causal mask as buffers: not weights, nothing to move.
    mask_buffers = [key for key in source.state_dict if key.endswith((".attn.bias", ".attn.masked_bias"))]
    source.check_all_taken(ignored=mask_buffers)
    return target


def from_gpt2(model: GPT2LMHeadModel, attn_implementation: str = None) -> TinyLMForCausalLM:
    """A ``TinyLMForCausalLM`` computing what a ``GPT2LMHeadModel`` computes (same dtype and attention backend unless
    ``attn_implementation`` is given). Raises ``UnsupportedFeatureError`` naming what TinyLM lacks."""
    if not isinstance(model, GPT2LMHeadModel):
        raise TypeError(f"from_gpt2 expects a GPT2LMHeadModel, got {type(model).__name__}")
    if getattr(model.config, "quantization_config", None) is not None:
        raise UnsupportedFeatureError("a quantized GPT-2 has no TinyLM equivalent; load it unquantized and "
                                      "convert that")
    config = tinylm_config_from_gpt2(
        model.config, attn_implementation=attn_implementation or model.config._attn_implementation
    )
    return build_like(TinyLMForCausalLM, config, gpt2_to_tinylm_state_dict(model, config), model)
