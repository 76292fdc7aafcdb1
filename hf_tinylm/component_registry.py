"""A name → class table per kind of component, so that a config string picks a class.

Kept free of any other project import: transformers copies this file flat next to saved weights.
"""


class ComponentRegistry:
    """Maps the names used in configs to component classes of one kind (norms, FFNs, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
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
        return sorted(self._classes)

    def __contains__(self, name) -> bool:
        return name in self._classes

    def get(self, name: str, field: str = None):
        if name not in self._classes:
            where = field or self.kind
            raise ValueError(f"{where}={name!r} is not a known {self.kind}; allowed: {', '.join(self.names())}")
        return self._classes[name]
