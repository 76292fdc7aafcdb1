"""The Hugging Face adapter moved to ``hf_tinylm.hf_adapter`` (``tinylm compare --pretrained`` runs on it);
these names stay importable from here."""

from hf_tinylm.hf_adapter import CACHE_FIELD, HFCore, HFEmbedder, HFHead, HFShell, HFTokenizer  # noqa: F401

__all__ = ["HFShell", "HFTokenizer", "HFEmbedder", "HFCore", "HFHead"]
