"""The models ``tinylm compare`` trains, all at one scale so that the comparison is fair.

The original STLM baseline architecture (rope, RMSNorm, SwiGLU, grouped-query attention, tied embeddings), scaled
to a CPU budget, two variants the original studied (the FFN shared by every layer; learned absolute positions
instead of rope), and two baselines built from transformers' own classes at the baseline's non-embedding
parameter count: ``LlamaForCausalLM`` (the same architecture, built by transformers) and ``GPT2LMHeadModel``
(learned positions, LayerNorm with biases, a GELU MLP whose width is solved to match the count).
"""

import dataclasses

# The scaled baseline: 4 layers of width 128, 8 query heads sharing 2 key/value heads (the original's group of 4),
# SwiGLU inner width 344 (the original's ffn_dim/hidden ratio 1320/512 ≈ 2.6, rounded to a multiple of 8).
SCALE = {"hidden": 128, "layers": 4, "heads": 8, "group_size": 4, "ffn_dim": 344}


@dataclasses.dataclass(frozen=True)
class Candidate:
    name: str
    family: str          # "tinylm" (ours) or "transformers" (a baseline built from transformers' classes)
    description: str
    model: dict          # the ``model:`` entry of a training config (docs/training.md)


def _stlm_section(vocab_size: int, context: int, core_type="generic", positions="rope") -> dict:
    """An original STLM ``model:`` section at the compare scale."""
    return {
        "core_model": {
            "core_model_type": core_type,
            "num_layers": SCALE["layers"],
            "ffn": {"ffn_type": "swiglu", "ffn_dim": SCALE["ffn_dim"], "normalization": "rms_norm", "bias": False},
            "attn": {"attn_type": "generic", "num_heads": SCALE["heads"], "normalization": "rms_norm",
                     "group_size": SCALE["group_size"], "bias": False, "is_causal": True},
        },
        "embedder": {"tokenizer_type": "bpe", "embedding_model_type": "generic", "dataset_name": "default"},
        "lm_head": {"normalization": "rms_norm", "bias": False, "lm_head_type": "generic"},
        "hidden_dim": SCALE["hidden"],
        "context_window": context,
        "vocab_size": vocab_size,
        "model_shell_type": "standard",
        "embedding_weight_tying": True,
        "positional_encoding_type": positions,
    }


def _llama(vocab_size: int, context: int) -> dict:
    return {"transformers": {
        "config_class": "LlamaConfig", "vocab_size": vocab_size, "hidden_size": SCALE["hidden"],
        "num_hidden_layers": SCALE["layers"], "num_attention_heads": SCALE["heads"],
        "num_key_value_heads": SCALE["heads"] // SCALE["group_size"], "intermediate_size": SCALE["ffn_dim"],
        "max_position_embeddings": context, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
    }}


def gpt2_inner_width(hidden: int, layers: int, target_non_embedding: int) -> int:
    """GPT-2's MLP width whose model has ``target_non_embedding`` non-embedding parameters (to a multiple of 8).

    Per layer GPT-2 has 2 LayerNorms (4·h), attention c_attn + c_proj with biases (4·h² + 4·h) and the MLP
    (2·h·n + n + h); plus the final LayerNorm (2·h). Solved for n.
    """
    fixed = layers * (4 * hidden + 4 * hidden * hidden + 4 * hidden + hidden) + 2 * hidden
    per_unit = layers * (2 * hidden + 1)
    return max(8, round((target_non_embedding - fixed) / per_unit / 8) * 8)


def tinylm_non_embedding(vocab_size: int, context: int) -> int:
    """The scaled baseline's non-embedding parameter count (attention, FFN, norms)."""
    hidden, layers = SCALE["hidden"], SCALE["layers"]
    kv = hidden // SCALE["group_size"]
    per_layer = hidden * (hidden + 2 * kv) + hidden * hidden + 3 * hidden * SCALE["ffn_dim"] + 2 * hidden
    return layers * per_layer + hidden


def _gpt2(vocab_size: int, context: int) -> dict:
    inner = gpt2_inner_width(SCALE["hidden"], SCALE["layers"], tinylm_non_embedding(vocab_size, context))
    return {"transformers": {
        "config_class": "GPT2Config", "vocab_size": vocab_size, "n_embd": SCALE["hidden"], "n_layer": SCALE["layers"],
        "n_head": SCALE["heads"], "n_inner": inner, "n_positions": context, "tie_word_embeddings": True,
        "activation_function": "gelu_new", "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
    }}


def roster(vocab_size: int, context: int) -> dict:
    """Every model ``tinylm compare`` knows, by name, in report order."""
    candidates = [
        Candidate("stlm-baseline", "tinylm", "the original's baseline (rope, RMSNorm, SwiGLU, GQA, tied), scaled",
                  {"stlm": _stlm_section(vocab_size, context)}),
        Candidate("stlm-ffn-sharing", "tinylm", "the baseline with one FFN shared by all layers (generic_ffn_sharing)",
                  {"stlm": _stlm_section(vocab_size, context, core_type="generic_ffn_sharing")}),
        Candidate("stlm-learned-pos", "tinylm", "the baseline with learned absolute positions instead of rope",
                  {"stlm": _stlm_section(vocab_size, context, positions="learned")}),
        Candidate("llama", "transformers", "LlamaForCausalLM at the baseline's shape", _llama(vocab_size, context)),
        Candidate("gpt2", "transformers", "GPT2LMHeadModel, MLP width matched to the baseline's non-embedding "
                                          "parameters", _gpt2(vocab_size, context)),
    ]
    return {candidate.name: candidate for candidate in candidates}


DEFAULT_MODELS = ("stlm-baseline", "stlm-ffn-sharing", "stlm-learned-pos", "llama", "gpt2")
