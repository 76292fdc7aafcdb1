"""The modeling set: configs, components and models, flat in one folder.

transformers copies these files next to saved weights (``trust_remote_code``), so they import each other only
with flat relative imports (``from .attention import ...``) and nothing outside this folder except through
``try``/``except ImportError`` (which transformers' import check skips).
"""
