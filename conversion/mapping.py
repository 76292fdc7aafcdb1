"""Pieces every weight mapping uses: read a state dict so that no tensor is forgotten, and build the target model."""

import copy

import torch

from .errors import ConversionError, UnsupportedFeatureError, format_key_list


class StateDictReader:
    """Hands out copies of a state dict's tensors and remembers which were taken, so a mapping that leaves one
    behind (a tensor silently dropped, the classic cause of an export that loads but talks gibberish) is an error."""

    def __init__(self, state_dict: dict, name: str):
        self.state_dict = state_dict
        self.name = name
        self.taken = set()

    def __contains__(self, key: str) -> bool:
        return key in self.state_dict

    def take(self, key: str) -> torch.Tensor:
        if key not in self.state_dict:
            raise ConversionError(f"the {self.name} model has no tensor {key}; it does not have the layout its config "
                                  f"describes")
        self.taken.add(key)
        return self.state_dict[key].detach().clone()

    def check_all_taken(self, ignored=()):
        left = sorted(set(self.state_dict) - self.taken - set(ignored))
        if left:
            raise ConversionError(f"{self.name} tensors with no counterpart in the converted model: "
                                  f"{format_key_list(left)}; refusing to drop them")


def check_features(problems: list, target: str, source: str = "this TinyLM"):
    """Raise ``UnsupportedFeatureError`` listing every reason ``source`` cannot become ``target``."""
    if problems:
        raise UnsupportedFeatureError(f"cannot convert {source} to {target}: " + "; ".join(problems))


def qkv_split_sizes(config) -> tuple:
    """Row counts ``(query, key, value)`` of TinyLM's stacked ``c_attn`` for this config, for ``Tensor.split``."""
    kv_size = config.num_key_value_heads * config.head_dim
    return config.num_attention_heads * config.head_dim, kv_size, kv_size


def build_like(model_class, config, state_dict: dict, source):
    """``model_class(config)`` loaded strictly with ``state_dict``, in ``source``'s dtype and train/eval mode, with
    ``source``'s generation defaults (``transfer_generation_config``)."""
    # Built in the source's dtype as from_pretrained(dtype=...) builds it: weights in that dtype, computed tables
    # (rotary frequencies) in the float32 their code asks for. Casting a float32 model afterwards would round those
    # tables too, and a bfloat16 target would then part from its source (and from itself once saved and reloaded).
    target = model_class._from_config(config, dtype=source.dtype)
    target.load_state_dict(state_dict, strict=True)
    target.train(source.training)
    transfer_generation_config(source, target)
    return target


def transfer_generation_config(source, target):
    """Carry the source's generation defaults (eos/pad ids, sampling settings) over to the converted model."""
    generation_config = getattr(source, "generation_config", None)
    if generation_config is not None and getattr(target, "generation_config", None) is not None:
        target.generation_config = copy.deepcopy(generation_config)
