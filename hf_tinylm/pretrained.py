"""Loading a pretrained transformers model named by a Hub id or a local folder (the original STLM's
``model_string``), with one clear error when neither the folder nor the Hub can provide it.

Not part of the modeling files copied next to saved weights: a saved model never needs the Hub again.
"""

import os

import torch

MODEL_STRING_FIELD = "model.model_string"


class PretrainedNotFoundError(ValueError):
    """``model_string`` names neither a local folder nor a model this machine can fetch or finds cached."""


def _looks_like_path(name: str) -> bool:
    # A Hub id is "name" or "owner/name"; anything else with slashes, or starting like a path, is a path.
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1


def _load(loader, model_string, field: str, **kwargs):
    """``loader(model_string, **kwargs)`` from a local folder, else the local Hub cache, else the Hub."""
    from huggingface_hub import is_offline_mode

    if not isinstance(model_string, (str, os.PathLike)) or not os.fspath(model_string):
        raise PretrainedNotFoundError(f"{field}={model_string!r} is invalid; allowed: a Hub id or a local folder")
    name = os.fspath(model_string)
    if os.path.isdir(name):
        return loader(name, **kwargs)
    if _looks_like_path(name) or os.path.exists(name):
        raise PretrainedNotFoundError(f"{field}={name!r} is not a folder; allowed: a local folder holding a "
                                      f"transformers model (config.json, weights, tokenizer) or a Hub id")
    try:
        return loader(name, local_files_only=True, **kwargs)
    except OSError:
        pass  # not in the local cache
    reason = "offline mode is on (HF_HUB_OFFLINE)" if is_offline_mode() else None
    if reason is None:
        try:
            return loader(name, **kwargs)
        except OSError as error:
            reason = str(error).splitlines()[0]
    raise PretrainedNotFoundError(
        f"{field}={name!r} is not a local folder and is not in the local Hugging Face cache, and the Hub cannot "
        f"provide it ({reason}); pass a local folder holding the model's files (config.json, weights, tokenizer) "
        f"as {field} instead"
    )


def pretrained_config(model_string, field: str = MODEL_STRING_FIELD):
    from transformers import AutoConfig

    return _load(AutoConfig.from_pretrained, model_string, field)


def pretrained_causal_lm(model_string, field: str = MODEL_STRING_FIELD, dtype=torch.float32, **kwargs):
    """The pretrained causal LM in ``dtype`` (float32 by default, as the original loaded it)."""
    from transformers import AutoModelForCausalLM

    return _load(AutoModelForCausalLM.from_pretrained, model_string, field, dtype=dtype, **kwargs)


def pretrained_tokenizer(model_string, field: str = MODEL_STRING_FIELD, **kwargs):
    from transformers import AutoTokenizer

    return _load(AutoTokenizer.from_pretrained, model_string, field, **kwargs)
