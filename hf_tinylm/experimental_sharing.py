"""Model cards for the experimental model families (byte-level, next-thought).

Each family names its classes in ``AUTO_MAP`` and its tags in ``FAMILY_TAGS`` (see ``SharingMixin``) and
describes itself with ``experimental_model_card``; saving and pushing are SharingMixin's.
"""

from huggingface_hub import ModelCardData

from .model_card import CARD_MARKER, LOAD_PLACEHOLDER


def experimental_model_card(model, summary: str, rows: list, repo_id: str = None, tags=None) -> str:
    """README.md text in the layout of TinyLM's card: front matter, architecture table, loading snippet."""
    causal = hasattr(model, "get_output_embeddings") and model.get_output_embeddings() is not None
    auto_class = "AutoModelForCausalLM" if causal else "AutoModel"
    data = ModelCardData(
        library_name="transformers",
        pipeline_tag="text-generation" if causal else "feature-extraction",
        tags=model.model_card_tags(tags),
    )
    table = "\n".join(f"| {label} | {value} |" for label, value in rows)
    title = repo_id.split("/")[-1] if repo_id else f"TinyLM ({type(model).__name__})"
    location = repo_id or LOAD_PLACEHOLDER
    return f"""---
{data.to_yaml()}
---

{CARD_MARKER}

# {title}

{summary}
This card was generated from the model's configuration.

## Architecture

| Component | Configuration |
|---|---|
{table}

## How to load

The modeling code is stored next to the weights, so loading needs `trust_remote_code=True` (but not the
`hf_tinylm` package):

```python
from transformers import {auto_class}

model = {auto_class}.from_pretrained("{location}", trust_remote_code=True)
```
"""
