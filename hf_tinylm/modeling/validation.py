"""Validation shared by every config: each check raises ValueError naming the field, the value and what is allowed.

Pure Python (configs import it without the modeling code). Numbers are checked with ``math.isfinite`` first:
NaN compares false with everything, so a plain ``value <= 0`` test lets it through.
"""

import copy
import difflib
import inspect
import math
import warnings


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def require_positive_int(field: str, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{field}={value!r} is invalid; allowed: a positive integer")


def require_bool(field: str, value):
    if not isinstance(value, bool):
        raise ValueError(f"{field}={value!r} is invalid; allowed: true or false")


def require_number(field: str, value, low: float = None, high: float = None, low_open=False, high_open=False):
    """A finite int or float within the given bounds (closed unless ``*_open``)."""
    if low is not None and high is not None:
        allowed = f"a finite number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low == 0 and low_open:
        allowed = "a finite positive number"
    elif low is not None:
        allowed = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        allowed = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        allowed = "a finite number"
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{field}={value!r} is invalid; allowed: {allowed}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{field}={value!r} is invalid; allowed: {allowed}")


def require_positive_number(field: str, value):
    require_number(field, value, low=0, low_open=True)


def require_fraction(field: str, value):
    """A probability-like rate in [0, 1) (dropout)."""
    require_number(field, value, low=0, high=1, high_open=True)


def require_choice(field: str, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{field}={value!r} is invalid; allowed: {', '.join(allowed)}")


def merge_section(name: str, defaults: dict, given) -> dict:
    """Defaults overlaid with the user's values; unknown keys are refused so typos never pass silently."""
    if given is None:
        return copy.deepcopy(defaults)
    if not isinstance(given, dict):
        raise ValueError(f"{name} must be a dict, got {type(given).__name__} {given!r}")
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ValueError(f"{name}.{key} is not a known field; allowed: {', '.join(sorted(defaults))}")
        if isinstance(defaults[key], dict):
            merged[key] = merge_section(f"{name}.{key}", defaults[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_special_token_ids(config):
    """bos/eos/pad token ids (each None, an id or a list of ids) must lie in [0, vocab_size)."""
    for field in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(config, field, None)
        for token_id in value if isinstance(value, list) else [value]:
            if token_id is not None and (
                isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 <= token_id < config.vocab_size
            ):
                raise ValueError(
                    f"{field}={value!r} is invalid; allowed: None or an id in [0, vocab_size={config.vocab_size})"
                )


def warn_misspelt_keywords(config_class, kwargs: dict):
    """Warn about keyword arguments no config knows that look like a misspelt known name (``hiden_size``).

    transformers stores unknown keywords as plain attributes, so a typo would otherwise do nothing silently;
    keys it writes itself (``architectures``, ``transformers_version``, ...) are known and never warned about.
    """
    known = set()
    for cls in config_class.__mro__:
        if "__init__" in vars(cls):
            known.update(inspect.signature(cls.__init__).parameters)
        known.update(name for name in vars(cls) if not name.startswith("__"))
    known.update(getattr(config_class, "__dataclass_fields__", {}))
    candidates = sorted(name for name in known if not name.startswith("_") and name not in ("self", "kwargs"))
    for key in kwargs:
        # Private keys (``_name_or_path``, ``_attn_implementation_autoset``) are transformers' own bookkeeping.
        if not isinstance(key, str) or key in known or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.85)
        if close:
            warnings.warn(
                f"{config_class.__name__} got an unknown keyword {key}={kwargs[key]!r}; did you mean {close[0]!r}? "
                f"(unknown keywords are kept as plain attributes and change nothing)",
                UserWarning,
                stacklevel=3,
            )
