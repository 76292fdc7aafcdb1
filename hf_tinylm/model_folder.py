"""Checks on a saved model folder before transformers reads it, so that what is wrong gets named plainly.

transformers' own errors for a damaged folder are accurate but far from the cause ("Should have a `model_type`
key", "Error while deserializing header", "You need to have sentencepiece or tiktoken installed"); these checks
read only the small parts (config.json, the safetensors headers and sizes, the tokenizer file names) and say
which file is wrong and how.
"""

import json
import os
import struct

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
# safetensors: an 8-byte little-endian header length, the JSON header, then the tensor bytes.
_HEADER_LENGTH_BYTES = 8


class ModelFolderError(ValueError):
    """A model folder that cannot be loaded, with the file and the reason."""


def check_model_folder(folder: str, need_tokenizer: bool = True):
    """Raise ``ModelFolderError`` naming the first problem found in ``folder``; return None when it looks sound."""
    if not os.path.isdir(folder):
        raise ModelFolderError(f"{folder} is not a folder (allowed: a folder written by save_pretrained)")
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise ModelFolderError(f"{folder} is not a model folder: it has no config.json")
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFolderError(f"{config_path} is not valid JSON ({error})") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise ModelFolderError(f"{config_path} has no model_type string; it does not describe a transformers model")
    weights = [name for name in WEIGHT_FILES if os.path.isfile(os.path.join(folder, name))]
    if not weights:
        raise ModelFolderError(f"{folder} has no weights (allowed: {', '.join(WEIGHT_FILES)})")
    for path in _safetensors_files(folder, weights[0]):
        check_safetensors_file(path)
    if need_tokenizer and not any(os.path.isfile(os.path.join(folder, name)) for name in TOKENIZER_FILES):
        raise ModelFolderError(
            f"{folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); save one with "
            "tokenizer.save_pretrained(folder)"
        )


def _safetensors_files(folder: str, weights: str) -> list:
    if weights == "model.safetensors":
        return [os.path.join(folder, weights)]
    if weights.endswith(".index.json"):
        index_path = os.path.join(folder, weights)
        try:
            with open(index_path, encoding="utf-8") as handle:
                shards = sorted(set(json.load(handle)["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise ModelFolderError(f"{index_path} is not a valid weight index ({error!r})") from None
        return [os.path.join(folder, shard) for shard in shards]
    return []


def check_safetensors_file(path: str):
    """The header parses and the file is as long as the header says: else "... is truncated or corrupt"."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise ModelFolderError(f"{name} is missing from {os.path.dirname(path)} (the weight index names it)")
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as handle:
            (header_length,) = struct.unpack("<Q", handle.read(_HEADER_LENGTH_BYTES))
            if header_length > size - _HEADER_LENGTH_BYTES:
                raise ValueError("header longer than the file")
            header = json.loads(handle.read(header_length))
        end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    except (struct.error, ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError):
        raise ModelFolderError(f"{name} is truncated or corrupt (its header cannot be read); save the model again")
    if _HEADER_LENGTH_BYTES + header_length + end != size:
        raise ModelFolderError(
            f"{name} is truncated or corrupt: its header describes {_HEADER_LENGTH_BYTES + header_length + end:,} "
            f"bytes, the file has {size:,}; save the model again"
        )
