"""The ``model:`` sections of ten full configs shipped by the original STLM repository
(LeonGuertler/SuperTinyLanguageModels, ``configs/full_configs/*.yaml``), transcribed with their keys, nesting and
spellings as in the files and only the sizes shrunk so that tests run in seconds. ``{qwen2}``, ``{qwen2_large}``
and ``{phi3}`` stand for the Hub ids the files name (Qwen/Qwen2-0.5B, Qwen/Qwen2-1.5B,
microsoft/Phi-3-mini-4k-instruct); tests put tiny local stand-ins there.

Each entry: (file name, our family, model section as YAML text).
"""

_GENERIC_CORE = """\
  core_model:
    core_model_type: {core_type}
    num_layers: 2
    ffn:
      ffn_type: swiglu
      ffn_dim: 64
      normalization: rms_norm
      bias: false
    attn:
      attn_type: generic
      num_heads: 4
      normalization: rms_norm
      group_size: 2
      bias: false
      is_causal: true
"""

_STANDARD_REST = """\
  embedder:
    tokenizer_type: gpt2
    embedding_model_type: generic
    dataset_name: {dataset}
  lm_head:
    normalization: rms_norm
    bias: false
    lm_head_type: generic
  hidden_dim: 32
  context_window: 64
  vocab_size: 50257
  model_shell_type: standard
  embedding_weight_tying: true
  positional_encoding_type: rope
"""


def _standard(core_type: str, dataset: str) -> str:
    return "model:\n" + _GENERIC_CORE.format(core_type=core_type) + _STANDARD_REST.format(dataset=dataset)


_BYTE_LEVEL = "model:\n" + _GENERIC_CORE.format(core_type="generic") + """\
  embedder:
    tokenizer_type: "gpt2"
    byte_tokenizer_type: "bpe"
    embedding_model_type: byte_level
    byte_context_window: 12
    dataset_name: simple_en_wiki
  lm_head:
    normalization: rms_norm
    bias: false
    lm_head_type: byte_level

  hidden_dim: 32
  context_window: 64
  vocab_size: 50257
  byte_vocab_size: 258
  byte_context_window: 12
  byte_embedding_dim: 16
  model_shell_type: standard
  embedding_weight_tying: false
  positional_encoding_type: rope
"""

_NEXT_THOUGHT = """\
model:
  core_model:
    core_model_type: next_thought_baseline

  embedder:
    tokenizer_type: gpt2
    embedding_model_type: hierarchical_encoder
    dataset_name: simple_en_wiki
    pooling_layers: 5
    pooling_dims: [96, 192, 192, 192, 480]
    pooling_pct_per_layer: [0.3, 0.5, 0.6, 0.6]
    num_heads: 12

    standard_ffn_block:
      ffn_type: swiglu
      ffn_dim: 64
      normalization: rms_norm
      bias: false

    standard_attn_block:
      attn_type: generic
      num_heads: 16
      normalization: rms_norm
      group_size: 4
      bias: false
      is_causal: false

  lm_head:
    lm_head_type: latent_2_seq
    latent_decoded_into: 4
    num_layers: 2

    standard_ffn_block:
      ffn_type: swiglu
      ffn_dim: 64
      normalization: rms_norm
      bias: false

    standard_attn_block:
      attn_type: generic
      num_heads: 16
      normalization: rms_norm
      group_size: 4
      bias: false
      is_causal: true

  latent_dim: 480
  embedding_dim: 96

  context_window: 64
  vocab_size: 50257
  model_shell_type: standard
  embedding_weight_tying: false
  positional_encoding_type: learned
"""


def _hf_core(model_string: str, hidden_dim: int) -> str:
    return f"""\
model:
  model_string: "{model_string}"
  core_model:
    core_model_type: hf_core
  embedder:
    tokenizer_type: gpt2
    embedding_model_type: generic
    dataset_name: stlm
  lm_head:
    normalization: rms_norm
    bias: false
    lm_head_type: generic
  hidden_dim: {hidden_dim}
  context_window: 64
  vocab_size: 50257
  model_shell_type: standard
  embedding_weight_tying: true
  positional_encoding_type: rope
"""


_HUGGING_FACE = """\
model:
  model_string: "{phi3}"
  core_model:
    core_model_type: hf_core
  embedder:
    embedding_model_type: hf_embedder
    tokenizer_type: hf_tokenizer
    dataset_name: simple_en_wiki
  lm_head:
    lm_head_type: hf_head
  hidden_dim: 32
  context_window: 64
  vocab_size: 97
  model_shell_type: standard
  embedding_weight_tying: false
  positional_encoding_type: rope
"""

ORIGINAL_CONFIGS = [
    ("baseline.yaml", "tinylm", _standard("generic", "simple_en_wiki")),
    ("debug.yaml", "tinylm", _standard("generic", "stlm")),
    ("ffn_sharing.yaml", "tinylm", _standard("generic_ffn_sharing", "simple_en_wiki")),
    ("knowledge_distillation.yaml", "tinylm", _standard("generic", "stlm")),
    ("byte_level.yaml", "byte_level", _BYTE_LEVEL),
    ("byte_debug.yaml", "byte_level", _BYTE_LEVEL),
    ("baseline_next_thought.yaml", "next_thought", _NEXT_THOUGHT),
    ("gpt2_qwen_training.yaml", "hf_core", _hf_core("{qwen2}", 32)),
    ("teachermodel_training.yaml", "hf_core", _hf_core("{qwen2_large}", 48)),
    ("hugging_face.yaml", "hugging_face", _HUGGING_FACE),
]
