"""Original STLM checkpoints → a TinyLM model folder that ``AutoModelForCausalLM`` loads.

An original checkpoint is a ``torch.save``d dict: ``model`` (the state dict), ``optimizer``, ``iter_num`` and
``config`` (the whole run config, an OmegaConf ``DictConfig`` or a plain dict, with the model under ``model``). Its
layout and numerics are those of ``shared/reference/stlm-format.md``; what changes on the way:

- keys are renamed (``embedding_model.`` → ``model.embedder.``, ``core_model.transformer.h.`` → ``model.core.h.``,
  ``model_head.layer_norm`` → ``lm_head.norm``, ``model_head.linear`` → ``lm_head.linear``); ``_orig_mod.`` segments
  left by ``torch.compile`` (and a leading ``module.`` from DDP) are removed;
- rotary models: the original rotates interleaved pairs (0,1), (2,3), … of each head, TinyLM (like Llama) the
  half-split pairs (d, d + head_dim/2), so the query and key rows (and biases) of ``c_attn`` are permuted per head;
- the original's sinusoidal table (``embedding_model.positional_encodings.pe``, saved as a frozen parameter) is
  checked against TinyLM's and dropped: TinyLM recomputes it. Buffers (``freqs_cis``, ``inv_freq``, causal masks)
  are dropped too;
- a tied head (``embedding_weight_tying``) and shared FFNs (``generic_ffn_sharing``) are checked to really be the
  same tensors, then stored once.

Everything else must match the config exactly: missing, unexpected and misshapen tensors are listed in one error.
"""

import dataclasses
import os
import re

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM, config_from_stlm, stlm_family
from hf_tinylm.modeling.positional_encoding import sinusoidal_table
from tokenizers_ext.atomic_files import atomic_output_dir, check_output_dir

from .errors import CheckpointMismatchError, ConversionError, UnsupportedFeatureError, format_key_list
from .mapping import qkv_split_sizes
from .safe_loading import load_checkpoint
from .verify import check_logit_parity

GPT2_VOCAB_SIZE = 50257
SINCOS_TABLE_KEY = "embedding_model.positional_encodings.pe"
# Non-persistent state that some versions save: recomputed by TinyLM, never weights.
_BUFFER_SUFFIXES = (".freqs_cis", ".inv_freq", ".masked_bias", ".attn.bias")
_LAYER_KEY = re.compile(r"^core_model\.transformer\.h\.(\d+)\.(.+)$")
_TINY_LAYER_KEY = re.compile(r"^model\.core\.h\.(\d+)\.(.+)$")
_RENAMES = (  # original prefix → TinyLM prefix (layers are handled by the regular expressions above)
    ("embedding_model.token_embedder.", "model.embedder.token_embedder."),
    ("embedding_model.positional_encodings.pe.", "model.positions.pe."),
    ("model_head.layer_norm.", "lm_head.norm."),
    ("model_head.linear.", "lm_head.linear."),
)


# ---- reading -------------------------------------------------------------------------------------------------------


def _plain(value):
    """OmegaConf containers (interpolations resolved) → plain dicts and lists."""
    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def read_stlm_checkpoint(ckpt_path) -> tuple:
    """``(model_config, state_dict)`` of an original checkpoint: the ``config["model"]`` section as a plain dict
    and the weights, loaded without running any pickled code (see ``safe_loading``)."""
    checkpoint = load_checkpoint(ckpt_path)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise ConversionError(f"{ckpt_path} is not an original STLM checkpoint (expected a dict with 'model', "
                              f"'config', 'optimizer' and 'iter_num' entries)")
    if "config" not in checkpoint:
        raise ConversionError(f"{ckpt_path} has weights but no 'config' entry, so its architecture is unknown; "
                              f"add the run config (with its 'model' section) to the checkpoint dict and convert again")
    config = _plain(checkpoint["config"])
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ConversionError(f"the config in {ckpt_path} has no 'model' section; it is not an original STLM run "
                              f"config")
    state_dict = checkpoint["model"]
    if not isinstance(state_dict, dict) or not all(isinstance(t, torch.Tensor) for t in state_dict.values()):
        raise ConversionError(f"the 'model' entry of {ckpt_path} is not a state dict of tensors")
    return config["model"], dict(state_dict)


def tinylm_config_from_stlm(model_config: dict, **overrides) -> TinyLMConfig:
    """``hf_tinylm.config_from_stlm`` (with the original tokenizers' special ids), refusing what cannot be converted:
    checkpoints of the generic shell only."""
    try:
        kind = model_config["embedder"]["tokenizer_type"]
        vocab_size = model_config["vocab_size"]
    except (KeyError, TypeError):
        kind, vocab_size = None, None
    if kind == "gpt2" and isinstance(vocab_size, int) and vocab_size < GPT2_VOCAB_SIZE:
        raise ConversionError(f"the checkpoint uses the gpt2 tokenizer ({GPT2_VOCAB_SIZE} tokens) but its "
                              f"vocab_size is {vocab_size}; the model and tokenizer do not fit together")
    try:
        family = stlm_family(model_config)
        if family != "tinylm":
            raise UnsupportedFeatureError(
                f"the checkpoint is a {family} model; only checkpoints of the generic shell (embedder, core and head "
                f"'generic', core 'generic' or 'generic_ffn_sharing') can be converted"
            )
        config = config_from_stlm(model_config, **overrides)
    except UnsupportedFeatureError:
        raise
    except ValueError as error:
        raise ConversionError(f"the checkpoint's model config cannot be read: {error}") from None
    ffn = config.core["ffn"]
    if ffn["ffn_type"] == "generic" and ffn["activation"] == "learned":
        raise UnsupportedFeatureError(
            "the original's 'learned' activation cannot be converted: TinyLM's learned activation is this project's "
            "own parametrisation, not the original's"
        )
    return config


def _strip_wrappers(state_dict: dict) -> dict:
    """Remove ``_orig_mod.`` segments (torch.compile) and a leading ``module.`` (DistributedDataParallel)."""
    stripped, origin = {}, {}
    for key, tensor in state_dict.items():
        parts = [part for part in key.split(".") if part != "_orig_mod"]
        if parts and parts[0] == "module":
            parts = parts[1:]
        name = ".".join(parts)
        if name in stripped:
            raise CheckpointMismatchError(f"checkpoint keys {origin[name]} and {key} are the same weight once "
                                          f"_orig_mod./module. prefixes are removed; the checkpoint is ambiguous")
        stripped[name], origin[name] = tensor, key
    return stripped


def _tinylm_key(key: str):
    match = _LAYER_KEY.match(key)
    if match:
        return f"model.core.h.{match.group(1)}.{match.group(2)}"
    for original, tiny in _RENAMES:
        if key.startswith(original):
            return tiny + key[len(original):]
    return None


def _original_key(key: str) -> str:
    match = _TINY_LAYER_KEY.match(key)
    if match:
        return f"core_model.transformer.h.{match.group(1)}.{match.group(2)}"
    for original, tiny in _RENAMES:
        if key.startswith(tiny):
            return original + key[len(tiny):]
    return key


# ---- the conversion proper -----------------------------------------------------------------------------------------


def interleaved_to_half_split(rows: torch.Tensor, num_heads: int, head_dim: int) -> torch.Tensor:
    """Reorder the rows of ``num_heads`` stacked heads from the interleaved rotary layout (pairs (2i, 2i+1)) to the
    half-split one (pairs (i, i + head_dim/2)): per head, rows (head_dim/2, 2) → transpose → flatten. Works on
    weights ``[rows, in]`` and biases ``[rows]``."""
    shape = rows.shape
    return rows.reshape(num_heads, head_dim // 2, 2, *shape[1:]).transpose(1, 2).reshape(shape)


def _check_sincos_table(table: torch.Tensor, config: TinyLMConfig):
    expected = sinusoidal_table(config.max_position_embeddings, config.hidden_size)
    if table.numel() != expected.numel():
        raise CheckpointMismatchError(f"{SINCOS_TABLE_KEY} has shape {tuple(table.shape)}, the config implies "
                                      f"(1, {config.max_position_embeddings}, {config.hidden_size})")
    # Rounding differences only: float32 angles of large positions, or a half-precision checkpoint.
    tolerance = max(1e-3, torch.finfo(table.dtype).eps) if table.is_floating_point() else 0.0
    difference = (table.reshape(expected.shape).float() - expected).abs().max().item()
    if not difference <= tolerance:
        raise CheckpointMismatchError(
            f"the checkpoint's sinusoidal table {SINCOS_TABLE_KEY} differs from the standard one by {difference:.3g}; "
            f"TinyLM recomputes the standard table, so this model cannot be converted faithfully"
        )


def _expected_shapes(config: TinyLMConfig) -> dict:
    with torch.device("meta"):
        model = TinyLMForCausalLM(config)
    return {key: tuple(tensor.shape) for key, tensor in model.state_dict().items()}


def tinylm_state_dict_from_stlm(state_dict: dict, config: TinyLMConfig) -> tuple:
    """``(tinylm_state_dict, dropped_keys)`` for an original state dict; raises ``CheckpointMismatchError`` listing
    every missing, unexpected or misshapen tensor, and for ties the config promises but the weights break."""
    original = _strip_wrappers(state_dict)
    renamed, unexpected, dropped = {}, [], []
    for key, tensor in original.items():
        if key == SINCOS_TABLE_KEY and config.positional_encoding_type == "sincos":
            _check_sincos_table(tensor, config)
            dropped.append(key)
        elif key.endswith(_BUFFER_SUFFIXES):
            dropped.append(key)
        elif (tiny_key := _tinylm_key(key)) is None:
            unexpected.append(key)
        else:
            renamed[tiny_key] = tensor

    expected = _expected_shapes(config)
    embedding_key, head_key = "model.embedder.token_embedder.weight", "lm_head.linear.weight"
    if config.tie_word_embeddings and head_key not in renamed and embedding_key in renamed:
        renamed[head_key] = renamed[embedding_key]  # a tied head saved once
    if config.core["core_type"] == "generic_ffn_sharing":
        for key in expected:  # shared FFNs saved once, under layer 0
            match = _TINY_LAYER_KEY.match(key)
            layer_zero = f"model.core.h.0.{match.group(2)}" if match else None
            if match and match.group(2).startswith("ffn.") and key not in renamed and layer_zero in renamed:
                renamed[key] = renamed[layer_zero]

    unexpected += [_original_key(key) for key in renamed if key not in expected]
    missing = [_original_key(key) for key in expected if key not in renamed]
    misshapen = [f"{_original_key(key)} {tuple(renamed[key].shape)} (config: {shape})"
                 for key, shape in expected.items() if key in renamed and tuple(renamed[key].shape) != shape]
    if missing or unexpected or misshapen:
        problems = [f"{label}: {format_key_list(keys)}" for label, keys in
                    (("missing", missing), ("unexpected", sorted(unexpected)), ("wrong shape", misshapen)) if keys]
        raise CheckpointMismatchError(
            "the checkpoint's weights do not match its config (" + "; ".join(problems) + "); the config and the "
            "weights must come from the same run"
        )

    if config.tie_word_embeddings and not torch.equal(renamed[head_key], renamed[embedding_key]):
        raise CheckpointMismatchError("the config says embedding_weight_tying=true but model_head.linear.weight "
                                      "differs from embedding_model.token_embedder.weight")
    if config.core["core_type"] == "generic_ffn_sharing":
        for key in renamed:
            match = _TINY_LAYER_KEY.match(key)
            if match and match.group(2).startswith("ffn.") and match.group(1) != "0":
                if not torch.equal(renamed[key], renamed[f"model.core.h.0.{match.group(2)}"]):
                    raise CheckpointMismatchError(
                        f"the config says core_model_type=generic_ffn_sharing but {_original_key(key)} differs from "
                        f"layer 0's; TinyLM shares the whole FFN, so this model cannot be converted faithfully"
                    )

    if config.positional_encoding_type == "rope":
        qkv_rows = qkv_split_sizes(config)
        for layer in range(config.num_hidden_layers):
            for kind in ("weight", "bias"):
                key = f"model.core.h.{layer}.attn.c_attn.{kind}"
                if key not in renamed:
                    continue
                query, keys, values = renamed[key].split(qkv_rows, dim=0)
                renamed[key] = torch.cat([
                    interleaved_to_half_split(query, config.num_attention_heads, config.head_dim),
                    interleaved_to_half_split(keys, config.num_key_value_heads, config.head_dim),
                    values,
                ])
    return renamed, sorted(dropped)


def _common_dtype(state_dict: dict) -> torch.dtype:
    dtypes = {tensor.dtype for tensor in state_dict.values() if tensor.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else torch.float32


def stlm_to_tinylm(model_config: dict, state_dict: dict) -> TinyLMForCausalLM:
    """The ``TinyLMForCausalLM`` (eval mode, in the checkpoint's dtype) holding an original model's weights."""
    config = tinylm_config_from_stlm(model_config)
    weights, _ = tinylm_state_dict_from_stlm(state_dict, config)
    return _build(config, weights, _common_dtype(state_dict))


def _build(config: TinyLMConfig, weights: dict, dtype: torch.dtype) -> TinyLMForCausalLM:
    model = TinyLMForCausalLM(config)
    model.load_state_dict(weights, strict=True)  # copies, casting to float32 exactly
    model.generation_config = GenerationConfig(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
    return model.to(dtype).eval()


# ---- the tokenizer -------------------------------------------------------------------------------------------------


def stlm_tokenizer(config: TinyLMConfig, tokenizer_merges=None):
    """The original's tokenizer for this config: GPT-2's, or the byte-level BPE of a ``.model`` merges file."""
    kind = config.embedder["tokenizer_type"]
    try:
        import tokenizers_ext
    except ImportError as error:
        raise ConversionError(f"writing the tokenizer needs the tokenizers_ext package ({error}); install hf-tinylm "
                              f"with its tokenizers") from None
    if kind == "gpt2":
        if tokenizer_merges is not None:
            raise ConversionError("this checkpoint uses the gpt2 tokenizer; a merges file is only for bpe checkpoints, "
                                  "drop --tokenizer-merges")
        tokenizer = tokenizers_ext.GPT2Tokenizer()
        if len(tokenizer) > config.vocab_size:
            raise ConversionError(f"the gpt2 tokenizer has {len(tokenizer)} tokens but the model only "
                                  f"{config.vocab_size}; the checkpoint is not a gpt2-tokenizer model")
        return tokenizer
    if tokenizer_merges is None:
        dataset = config.embedder.get("dataset_name")
        raise ConversionError(f"this checkpoint uses a bpe tokenizer{f' (trained on {dataset})' if dataset else ''}; "
                              f"pass the .model merges file it was trained with: --tokenizer-merges FILE")
    if not os.path.isfile(tokenizer_merges):
        raise FileNotFoundError(f"merges file {tokenizer_merges} does not exist; pass the .model file of the "
                                f"checkpoint's bpe tokenizer")
    try:
        tokenizer = tokenizers_ext.BPETokenizer.from_stlm_merges(tokenizer_merges)
    except ValueError as error:
        raise ConversionError(f"cannot read merges file {tokenizer_merges}: {error}") from None
    if len(tokenizer) != config.vocab_size:
        raise ConversionError(f"the merges file {tokenizer_merges} gives a tokenizer of {len(tokenizer)} tokens but "
                              f"the model has vocab_size {config.vocab_size}; pass the merges file this model was "
                              f"trained with")
    return tokenizer


# ---- the whole conversion ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConversionSummary:
    """What a conversion wrote; ``os.fspath(summary)`` is the output folder."""

    out_dir: str
    num_parameters: int
    dropped_keys: tuple
    reload_difference: float

    def __fspath__(self) -> str:
        return self.out_dir

    def __str__(self) -> str:
        return self.out_dir


def convert_stlm_checkpoint(ckpt_path, out_dir, tokenizer_merges=None, force: bool = False) -> ConversionSummary:
    """Convert an original STLM checkpoint into a TinyLM folder (config.json, model.safetensors,
    generation_config.json, tokenizer) that ``AutoModelForCausalLM`` / ``AutoTokenizer`` load.

    The folder appears only once complete, after the saved model has been reloaded and checked to give the same
    logits as the converted one; an existing ``out_dir`` is replaced only with ``force``. Raises
    ``FileNotFoundError``, ``FileExistsError`` or a ``ConversionError`` subclass (all with a message saying what to do).
    """
    ckpt_path = os.fspath(ckpt_path)
    check_output_dir(out_dir, force, sources=[ckpt_path])  # fail before the slow part
    model_config, state_dict = read_stlm_checkpoint(ckpt_path)
    config = tinylm_config_from_stlm(model_config)
    tokenizer = stlm_tokenizer(config, tokenizer_merges)
    weights, dropped = tinylm_state_dict_from_stlm(state_dict, config)
    model = _build(config, weights, _common_dtype(state_dict))
    del state_dict, weights

    with atomic_output_dir(out_dir, force, sources=[ckpt_path]) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        reloaded = AutoModelForCausalLM.from_pretrained(staging, dtype=model.dtype)
        if not isinstance(reloaded, TinyLMForCausalLM):
            raise ConversionError(f"the saved folder reloads as {type(reloaded).__name__}, not TinyLMForCausalLM")
        difference = check_logit_parity(model, reloaded, "reloading the converted model")
        sample = "Hello world, converted."
        if AutoTokenizer.from_pretrained(staging).encode(sample, add_special_tokens=False) != tokenizer.encode(
            sample, add_special_tokens=False
        ):
            raise ConversionError("the saved tokenizer does not reload with the same ids; nothing was written")
    return ConversionSummary(
        out_dir=os.path.abspath(os.fspath(out_dir)),
        num_parameters=model.num_parameters(),
        dropped_keys=tuple(dropped),
        reload_difference=difference,
    )
