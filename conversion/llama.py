"""TinyLM ⇄ Llama (``LlamaForCausalLM``), weight for weight.

A TinyLM computes exactly what a Llama computes when it uses rotary positions, RMSNorm everywhere, a SwiGLU FFN and
no biases: both rotate queries and keys in the half-split convention, so the weights move without any permutation.

=====================================  =============================================
TinyLM                                 Llama
=====================================  =============================================
model.embedder.token_embedder          model.embed_tokens
core.h.{i}.attn_norm                   layers.{i}.input_layernorm
core.h.{i}.attn.c_attn  (rows q|k|v)   layers.{i}.self_attn.q_proj / k_proj / v_proj
core.h.{i}.attn.c_proj                 layers.{i}.self_attn.o_proj
core.h.{i}.ffn_norm                    layers.{i}.post_attention_layernorm
core.h.{i}.ffn.linear_1 / 3 / 2        layers.{i}.mlp.gate_proj / up_proj / down_proj
lm_head.norm                           model.norm
lm_head.linear                         lm_head
=====================================  =============================================

A TinyLM whose layers share one FFN (``generic_ffn_sharing``) becomes a Llama holding a copy of it in every layer.
Llama's ``attention_bias`` / ``mlp_bias`` become TinyLM biases; TinyLM then also gives the pre-norm a bias, which is
set to zero, so the function is unchanged. Anything else that one side cannot express raises
``UnsupportedFeatureError`` naming the feature.
"""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM
from hf_tinylm.modeling.configuration_tinylm import ROPE_TYPES

from .errors import UnsupportedFeatureError
from .mapping import StateDictReader, build_like, check_features, qkv_split_sizes


def _llama_blockers(config: TinyLMConfig) -> list:
    """Why a TinyLM config has no Llama equivalent (empty when it has one)."""
    attention, ffn, head = config.core["attention"], config.core["ffn"], config.head
    problems = []
    if config.embedder["embedder_type"] != "generic":
        problems.append(f"the {config.embedder['embedder_type']!r} embedder has no Llama equivalent")
    if config.core["core_type"] not in ("generic", "generic_ffn_sharing"):
        problems.append(f"the {config.core['core_type']!r} core has no Llama equivalent")
    if config.head["head_type"] != "generic":
        problems.append(f"the {config.head['head_type']!r} LM head has no Llama equivalent")
    if config.positional_encoding_type != "rope":
        problems.append(f"{config.positional_encoding_type} positions have no Llama equivalent (Llama uses rope)")
    if attention["attention_type"] != "generic":
        problems.append(f"{attention['attention_type']!r} attention has no Llama equivalent")
    if not attention["is_causal"]:
        problems.append("bidirectional attention (core.attention.is_causal=false) has no Llama equivalent")
    if ffn["ffn_type"] != "swiglu":
        problems.append(f"the {ffn['ffn_type']} FFN ({ffn['activation']}) has no Llama equivalent (Llama uses swiglu)")
    for section, spec in (("core.attention", attention), ("core.ffn", ffn), ("head", head)):
        if spec["normalization"] != "rms_norm":
            problems.append(f"{section}.normalization={spec['normalization']} has no Llama equivalent "
                            f"(Llama uses rms_norm)")
        elif spec["bias"]:
            problems.append(f"{section}.bias=true (a biased RMSNorm) has no Llama equivalent")
    return problems


def llama_config_from_tinylm(config: TinyLMConfig, attn_implementation: str = None) -> LlamaConfig:
    """The ``LlamaConfig`` of the Llama that computes what a TinyLM with this config computes."""
    check_features(_llama_blockers(config), "Llama")
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
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
        initializer_range=config.initializer_range,
        rms_norm_eps=config.rms_norm_eps,
        rope_parameters=dict(config.rope_parameters),  # rope scaling (linear, dynamic, yarn, llama3) carries over
        tie_word_embeddings=config.tie_word_embeddings,
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=config.attention_dropout,
        use_cache=config.use_cache,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        **extra,
    )


def tinylm_to_llama_state_dict(model: TinyLMForCausalLM) -> dict:
    """A ``LlamaForCausalLM`` state dict holding this TinyLM's weights (see the module's table)."""
    config = model.config
    check_features(_llama_blockers(config), "Llama")
    source = StateDictReader(model.state_dict(), "TinyLM")
    qkv_sizes = qkv_split_sizes(config)
    target = {"model.embed_tokens.weight": source.take("model.embedder.token_embedder.weight")}
    for layer in range(config.num_hidden_layers):
        tiny, llama = f"model.core.h.{layer}", f"model.layers.{layer}"
        query, key, value = source.take(f"{tiny}.attn.c_attn.weight").split(qkv_sizes, dim=0)
        target[f"{llama}.self_attn.q_proj.weight"] = query.contiguous()
        target[f"{llama}.self_attn.k_proj.weight"] = key.contiguous()
        target[f"{llama}.self_attn.v_proj.weight"] = value.contiguous()
        target[f"{llama}.self_attn.o_proj.weight"] = source.take(f"{tiny}.attn.c_proj.weight")
        target[f"{llama}.mlp.gate_proj.weight"] = source.take(f"{tiny}.ffn.linear_1.weight")
        target[f"{llama}.mlp.up_proj.weight"] = source.take(f"{tiny}.ffn.linear_3.weight")
        target[f"{llama}.mlp.down_proj.weight"] = source.take(f"{tiny}.ffn.linear_2.weight")
        target[f"{llama}.input_layernorm.weight"] = source.take(f"{tiny}.attn_norm.weight")
        target[f"{llama}.post_attention_layernorm.weight"] = source.take(f"{tiny}.ffn_norm.weight")
    target["model.norm.weight"] = source.take("lm_head.norm.weight")
    target["lm_head.weight"] = source.take("lm_head.linear.weight")
    source.check_all_taken()
    return target


def to_llama(model: TinyLMForCausalLM, attn_implementation: str = None) -> LlamaForCausalLM:
    """A ``LlamaForCausalLM`` computing what ``model`` computes (same dtype; the attention backend of ``model``
    unless ``attn_implementation`` is given). Raises ``UnsupportedFeatureError`` naming what Llama lacks."""
    if not isinstance(model, TinyLMForCausalLM):
        raise TypeError(f"to_llama expects a TinyLMForCausalLM, got {type(model).__name__}")
    implementation = attn_implementation or model.config._attn_implementation
    config = llama_config_from_tinylm(model.config, implementation)
    return build_like(LlamaForCausalLM, config, tinylm_to_llama_state_dict(model), model)


# ---- Llama → TinyLM -------------------------------------------------------------------------------------------------


def _rope_theta(config: LlamaConfig) -> float:
    parameters = getattr(config, "rope_parameters", None) or {}
    theta = parameters.get("rope_theta", getattr(config, "rope_theta", None))
    return 10000.0 if theta is None else float(theta)


def _tinylm_blockers(config: LlamaConfig) -> list:
    """Why a Llama config has no TinyLM equivalent (empty when it has one)."""
    problems = []
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if head_dim * config.num_attention_heads != config.hidden_size:
        problems.append(f"head_dim={head_dim} with {config.num_attention_heads} heads ≠ "
                        f"hidden_size={config.hidden_size} "
                        f"has no TinyLM equivalent (TinyLM's head size is hidden_size / num_heads)")
    if config.hidden_act not in ("silu", "swish"):
        problems.append(f"hidden_act={config.hidden_act!r} has no TinyLM equivalent (TinyLM's swiglu gate is silu)")
    parameters = getattr(config, "rope_parameters", None) or {}
    rope_type = parameters.get("rope_type", "default")
    if rope_type not in ROPE_TYPES:
        problems.append(f"rope scaling {rope_type!r} has no TinyLM equivalent (TinyLM has {', '.join(ROPE_TYPES)})")
    if getattr(config, "pretraining_tp", 1) not in (None, 1):
        problems.append(f"pretraining_tp={config.pretraining_tp} has no TinyLM equivalent")
    return problems


def tinylm_config_from_llama(config: LlamaConfig, **overrides) -> TinyLMConfig:
    """The ``TinyLMConfig`` of the TinyLM that computes what a Llama with this config computes."""
    check_features(_tinylm_blockers(config), "TinyLM", source="this Llama")
    kv_heads = config.num_key_value_heads or config.num_attention_heads
    attention_bias, mlp_bias = bool(config.attention_bias), bool(getattr(config, "mlp_bias", False))
    kwargs = dict(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        max_position_embeddings=config.max_position_embeddings,
        positional_encoding_type="rope",
        rope_theta=_rope_theta(config),
        rope_parameters={**(getattr(config, "rope_parameters", None) or {}), "rope_theta": _rope_theta(config)},
        rms_norm_eps=float(config.rms_norm_eps),
        core={
            "core_type": "generic",
            "num_layers": config.num_hidden_layers,
            "attention": {
                "attention_type": "generic",
                "num_heads": config.num_attention_heads,
                "group_size": config.num_attention_heads // kv_heads,
                "normalization": "rms_norm",
                "bias": attention_bias,
                "is_causal": True,
            },
            "ffn": {"ffn_type": "swiglu", "ffn_dim": config.intermediate_size, "activation": "silu",
                    "normalization": "rms_norm", "bias": mlp_bias},
        },
        head={"head_type": "generic", "normalization": "rms_norm", "bias": False},
        # A Llama-family model brings its own tokenizer: the one saved beside it.
        embedder={"tokenizer_type": "auto"},
        tie_word_embeddings=bool(config.tie_word_embeddings),
        attention_dropout=float(getattr(config, "attention_dropout", 0.0) or 0.0),
        initializer_range=config.initializer_range,
        use_cache=getattr(config, "use_cache", True),
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    kwargs.update(overrides)
    return TinyLMConfig(**kwargs)


def llama_to_tinylm_state_dict(model: LlamaForCausalLM, config: TinyLMConfig) -> dict:
    """A ``TinyLMForCausalLM`` state dict (for ``config`` from ``tinylm_config_from_llama``) holding a Llama's weights.

    q/k/v (and their biases) are stacked into ``c_attn``; where Llama's biases make TinyLM's pre-norms biased too,
    those norm biases are zero.
    """
    source = StateDictReader(model.state_dict(), "Llama")
    target = {"model.embedder.token_embedder.weight": source.take("model.embed_tokens.weight")}
    attention_bias, mlp_bias = config.core["attention"]["bias"], config.core["ffn"]["bias"]
    for layer in range(config.num_hidden_layers):
        tiny, llama = f"model.core.h.{layer}", f"model.layers.{layer}"
        projections = [f"{llama}.self_attn.{name}" for name in ("q_proj", "k_proj", "v_proj")]
        target[f"{tiny}.attn.c_attn.weight"] = torch.cat([source.take(f"{name}.weight") for name in projections])
        target[f"{tiny}.attn.c_proj.weight"] = source.take(f"{llama}.self_attn.o_proj.weight")
        target[f"{tiny}.attn_norm.weight"] = source.take(f"{llama}.input_layernorm.weight")
        if attention_bias:
            target[f"{tiny}.attn.c_attn.bias"] = torch.cat([source.take(f"{name}.bias") for name in projections])
            target[f"{tiny}.attn.c_proj.bias"] = source.take(f"{llama}.self_attn.o_proj.bias")
            target[f"{tiny}.attn_norm.bias"] = torch.zeros_like(target[f"{tiny}.attn_norm.weight"])
        for tiny_name, llama_name in (("linear_1", "gate_proj"), ("linear_3", "up_proj"), ("linear_2", "down_proj")):
            target[f"{tiny}.ffn.{tiny_name}.weight"] = source.take(f"{llama}.mlp.{llama_name}.weight")
            if mlp_bias:
                target[f"{tiny}.ffn.{tiny_name}.bias"] = source.take(f"{llama}.mlp.{llama_name}.bias")
        target[f"{tiny}.ffn_norm.weight"] = source.take(f"{llama}.post_attention_layernorm.weight")
        if mlp_bias:
            target[f"{tiny}.ffn_norm.bias"] = torch.zeros_like(target[f"{tiny}.ffn_norm.weight"])
    target["lm_head.norm.weight"] = source.take("model.norm.weight")
    target["lm_head.linear.weight"] = source.take("lm_head.weight")
    source.check_all_taken()
    return target


def from_llama(model: LlamaForCausalLM, attn_implementation: str = None) -> TinyLMForCausalLM:
    """A ``TinyLMForCausalLM`` computing what a ``LlamaForCausalLM`` computes (same dtype and attention backend unless
    ``attn_implementation`` is given). Raises ``UnsupportedFeatureError`` naming what TinyLM lacks."""
    if not isinstance(model, LlamaForCausalLM):
        raise TypeError(f"from_llama expects a LlamaForCausalLM, got {type(model).__name__}")
    if getattr(model.config, "quantization_config", None) is not None and not _is_gguf(model.config):
        raise UnsupportedFeatureError("a quantized Llama has no TinyLM equivalent; load it unquantized and "
                                      "convert that")
    config = tinylm_config_from_llama(
        model.config, attn_implementation=attn_implementation or model.config._attn_implementation
    )
    return build_like(TinyLMForCausalLM, config, llama_to_tinylm_state_dict(model, config), model)


def _is_gguf(config) -> bool:
    # A GGUF file is dequantized on load: the model holds ordinary floating-point weights.
    quantization = config.quantization_config
    if isinstance(quantization, dict):
        method = quantization.get("quant_method")
    else:
        method = getattr(quantization, "quant_method", None)
    return str(method).lower().endswith("gguf")
