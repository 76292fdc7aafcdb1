"""A name → class table per kind of component with several members, so that a config string picks a class.

Pure Python (no torch, no other project import): configs validate names against these tables without importing
the modeling code. Each table starts with the names hf_tinylm builds in; the classes join when their modules are
imported (``@NORMALIZATIONS.register("rms_norm")``), and users may register their own names the same way.
"""


class ComponentRegistry:
    """Maps the names used in configs to component classes of one kind (norms, FFNs, ...)."""

    def __init__(self, kind: str, built_in: tuple):
        self.kind = kind
        self._built_in = tuple(built_in)
        self._classes = {}

    def register(self, name: str):
        """Class decorator: ``@NORMALIZATIONS.register("rms_norm")``."""

        def add(cls):
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._classes[name] = cls
            cls.registered_name = name
            return cls

        return add

    def names(self) -> list:
        return sorted(set(self._built_in) | set(self._classes))

    def __contains__(self, name) -> bool:
        return name in self._built_in or name in self._classes

    def check(self, name, field: str = None):
        """Config-side validation: ``name`` is built in or registered."""
        if not isinstance(name, str) or name not in self:
            where = field or self.kind
            raise ValueError(f"{where}={name!r} is not a known {self.kind}; allowed: {', '.join(self.names())}")

    def get(self, name: str, field: str = None):
        """The class registered under ``name`` (its module must have been imported)."""
        self.check(name, field)
        if name not in self._classes:
            raise ValueError(f"{self.kind} {name!r} is built in but its module was not imported")
        return self._classes[name]


NORMALIZATIONS = ComponentRegistry("normalization", ("rms_norm", "layer_norm", "none"))
POSITIONAL_ENCODINGS = ComponentRegistry(
    "positional encoding", ("none", "learned", "sincos", "rope", "alibi", "shaw_relative")
)
FEED_FORWARDS = ComponentRegistry("feed-forward", ("generic", "swiglu"))
ACTIVATIONS = ComponentRegistry(
    "activation", ("gelu", "gelu_tanh", "relu", "leakyrelu", "tanh", "sigmoid", "silu", "none", "learned")
)
CORES = ComponentRegistry("core", ("generic", "generic_ffn_sharing"))

# Kinds with a single member need no table: the config names the one allowed value.
EMBEDDER_TYPES = ("generic",)
ATTENTION_TYPES = ("generic",)
HEAD_TYPES = ("generic",)
