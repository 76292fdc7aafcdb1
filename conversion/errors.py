"""Errors raised by the converters.

All are ``ValueError`` subclasses, so callers that already catch ``ValueError`` (the ``tinylm`` command line does)
report them as one line. Each message says what is wrong and, where there is one, what to do about it.
"""


class ConversionError(ValueError):
    """A conversion that cannot be done faithfully."""


class UnsupportedFeatureError(ConversionError):
    """The source model uses a feature that the target architecture cannot express."""


class CheckpointMismatchError(ConversionError):
    """A checkpoint's weights do not match what its own config describes (missing, extra or misshapen tensors)."""


class UnsafeCheckpointError(ConversionError):
    """A checkpoint whose pickle references anything beyond tensors and plain/OmegaConf containers."""


class ParityError(ConversionError):
    """A converted model does not compute what its source computes."""


def format_key_list(keys, limit: int = 12) -> str:
    """``a, b, c`` with at most ``limit`` entries shown, then ``… and N more``."""
    keys = list(keys)
    shown = ", ".join(str(key) for key in keys[:limit])
    return shown if len(keys) <= limit else f"{shown} … and {len(keys) - limit} more"
