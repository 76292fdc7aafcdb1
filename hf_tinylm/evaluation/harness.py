"""One evaluation harness for every model: TinyLM families, plain transformers causal LMs, wrapped pretrained models.

A model here is anything whose ``model(input_ids=, attention_mask=)`` returns ``.logits`` (TinyLM models,
``GPT2LMHeadModel``, ``LlamaForCausalLM`` and the rest of ``AutoModelForCausalLM``,
``hf_tinylm.hf_adapter.HFShell``), with ``.generate`` for ``generation_speed``. It comes with a transformers
tokenizer, used as ``tokenizer.encode(text, add_special_tokens=False)``; its ``bos_token_id`` (else
``eos_token_id``) starts every scored sequence. The context window is ``config.max_position_embeddings`` (or
``n_positions``), 256 without either.

- ``validation_metrics(model, tokenizer, text, window=None, batch_size=8) -> dict``: ``val_loss`` (nats per token of
  the model's own tokenizer), ``perplexity`` (``exp(val_loss)``), ``bits_per_byte`` (total NLL / UTF-8 bytes / ln 2:
  comparable across tokenizers), ``tokens``, ``bytes``. Built on ``metrics.evaluate_bits_per_byte``: the text is cut
  into windows of ``window − 1`` tokens (default ``min(context, 256)``), each scored after the start id.
- ``mcq_scores(model, tokenizer, items, batch_size=8) -> list[list[float]]``: Σ log p(choice tokens | context tokens)
  for every choice of every item; ``mcq_accuracy(...) -> float``: the share of items whose best-scored choice is the
  answer (ties go to the first choice). An item is ``{"context": str, "choices": [str, ...], "answer": int}``.
- ``cloze_items(text, n_items=200, n_choices=4, seed=0) -> list[item]``: last-word cloze items from held-out text.
- ``load_bigbench_task(path, max_examples=None) -> (name, items)``: a BIG-bench multiple-choice ``task.json``;
  ``TaskFormatError`` (a ``ValueError``) with a one-line message for a file it cannot use.
- ``generation_speed(model, tokenizer, prompt=..., new_tokens=64, repeats=1) -> float``: new tokens per second of
  greedy ``generate``, batch 1, after one warm-up call.
- ``parameter_counts(model) -> {"params", "non_embedding_params"}``: shared and tied tensors counted once.

How a choice is scored (``mcq_scores``). Whitespace at the end of the context moves to the front of the choice (so
"Answer: " + "Paris" is scored as "Answer:" + " Paris", the split GPT-2-style tokenizers see in running text; the
scored string is the same). The context is tokenized alone; the choice's tokens are those of ``encode(context +
choice)`` after the context's tokens when that encoding starts with them, and ``encode(choice)`` otherwise (a
tokenizer that merges across the boundary), appended to the context's tokens. The sequence is ``[start id] +
context + choice``, cut from the left to the model's window plus one (inputs are all but the last token), so long
contexts lose their beginning and never the choice; a choice longer than the window is an error. Rows are padded on
the right with an attention mask and sorted by length so a batch wastes little padding; every row is scored from its
own tokens only, so batching changes scores by float rounding at most.

Cloze items (``cloze_items``). Whitespace runs become single spaces and the text is cut into sentences after
``.``, ``!`` or ``?`` (closing quotes and brackets stay with their sentence). A sentence of 6 to 40 words that ends
in a word of 3+ ASCII letters (then its punctuation) gives an item: the context is the sentence up to that word,
the correct choice is " " + the word. Distractors are other words of the same text (3+ letters, compared
lower-cased; for a lower-case answer only words also seen lower-case, which leaves names out): a pool of the 12
(or 4 per distractor) nearest to the answer in frequency rank among those within 2 letters of its length (any
length when too few are; equally frequent words are ranked in a seeded order), from which they are drawn at random,
then given the answer's capitalisation. ``seed`` picks the sentences (kept in text order), the distractors and the
choice order: the same text and seed give the same items.

BIG-bench (``load_bigbench_task``). Each example's context is built as BIG-bench's JSON tasks do for zero-shot
scoring: ``task_prefix + example_input_prefix + input [+ choice_prefix + choice_prefix.join(choices)] +
example_output_prefix`` with the BIG-bench defaults ``""``, ``"\\nQ: "``, ``"\\n  choice: "``, ``"\\nA: "`` and
``append_choices_to_input`` true; the appended choices are listed sorted (BIG-bench permutes them at random), the
item's choices keep the file's order, and the answer is the choice with the highest score (it must be unique).
``max_examples`` keeps the first examples of the file.
"""

import json
import math
import os
import random
import re
import time
from collections import Counter

import torch

from ..model_card import count_parameters

from .metrics import _start_id, evaluate_bits_per_byte

DEFAULT_WINDOW = 256
DEFAULT_PROMPT = "Once upon a time"

# ---- validation text ---------------------------------------------------------------------------------------------


def validation_metrics(model, tokenizer, text: str, window: int = None, batch_size: int = 8) -> dict:
    """{"val_loss", "perplexity", "bits_per_byte", "tokens", "bytes"} of ``model`` on ``text`` (see the module doc)."""
    scores = evaluate_bits_per_byte(model, tokenizer, text, window=window, batch_size=batch_size)
    loss = scores["loss"]
    return {
        "val_loss": loss,
        "perplexity": math.exp(loss) if loss < 700 else math.inf,
        "bits_per_byte": scores["bits_per_byte"],
        "tokens": scores["tokens"],
        "bytes": scores["bytes"],
    }


# ---- multiple choice by log-likelihood ---------------------------------------------------------------------------


def _context_window(model) -> int:
    config = getattr(model, "config", None)
    context = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return int(context) if context else DEFAULT_WINDOW


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is invalid; allowed: a positive integer")
    return value


def _check_item(index: int, item) -> None:
    if not isinstance(item, dict):
        raise ValueError(f"item {index} is a {type(item).__name__}; allowed: a dict with context, choices, answer")
    context, choices, answer = item.get("context"), item.get("choices"), item.get("answer")
    if not isinstance(context, str):
        raise ValueError(f"item {index}: context={context!r} is invalid; allowed: a string")
    if not isinstance(choices, (list, tuple)) or not choices or not all(isinstance(c, str) and c for c in choices):
        raise ValueError(
            f"item {index}: choices={choices!r} is invalid; allowed: a non-empty list of non-empty strings"
        )
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        raise ValueError(
            f"item {index}: answer={answer!r} is invalid; allowed: an index into its {len(choices)} choices"
        )


def _encode(tokenizer, text: str) -> list:
    return [int(token) for token in tokenizer.encode(text, add_special_tokens=False)] if text else []


def _choice_tokens(tokenizer, context: str, context_ids: list, choice: str) -> list:
    whole = _encode(tokenizer, context + choice)
    if len(whole) > len(context_ids) and whole[: len(context_ids)] == context_ids:
        return whole[len(context_ids) :]
    return _encode(tokenizer, choice)


def _requests(tokenizer, items, start: int, window: int) -> list:
    """(item index, choice index, sequence, choice length) per choice; see the module doc for the split."""
    requests = []
    for index, item in enumerate(items):
        _check_item(index, item)
        context = item["context"]
        stripped = context.rstrip()
        moved = context[len(stripped) :]
        context_ids = _encode(tokenizer, stripped)
        for number, choice in enumerate(item["choices"]):
            choice_ids = _choice_tokens(tokenizer, stripped, context_ids, moved + choice)
            if not choice_ids:
                raise ValueError(f"item {index}: choice {number} ({choice!r}) has no tokens")
            if len(choice_ids) > window:
                raise ValueError(
                    f"item {index}: choice {number} has {len(choice_ids)} tokens, more than the model's window {window}"
                )
            sequence = ([start] + context_ids + choice_ids)[-(window + 1) :]
            requests.append((index, number, sequence, len(choice_ids)))
    return requests


@torch.no_grad()
def mcq_scores(model, tokenizer, items, batch_size: int = 8) -> list:
    """Σ log p(choice tokens | context tokens), in nats, for each choice of each item: a list per item."""
    _positive_int("batch_size", batch_size)
    items = list(items)
    start = _start_id(tokenizer, None)
    requests = _requests(tokenizer, items, start, _context_window(model))
    requests.sort(key=lambda request: -len(request[2]))  # similar lengths together: little padding
    scores = [[0.0] * len(item["choices"]) for item in items]
    device = next(model.parameters()).device
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for first in range(0, len(requests), batch_size):
            batch = requests[first : first + batch_size]
            width = max(len(sequence) for _, _, sequence, _ in batch) - 1
            ids = torch.full((len(batch), width), start, dtype=torch.long)
            targets = torch.full((len(batch), width), start, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (_, _, sequence, _) in enumerate(batch):
                length = len(sequence) - 1
                ids[row, :length] = torch.tensor(sequence[:-1])
                targets[row, :length] = torch.tensor(sequence[1:])
                mask[row, :length] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            for row, (index, number, sequence, n_choice) in enumerate(batch):
                end = len(sequence) - 1
                log_probs = torch.log_softmax(logits[row, end - n_choice : end].float(), dim=-1)
                picked = log_probs.gather(-1, targets[row, end - n_choice : end, None].to(log_probs.device))
                scores[index][number] = float(picked.sum())
    finally:
        if was_training:
            model.train()
    return scores


def mcq_accuracy(model, tokenizer, items, batch_size: int = 8) -> float:
    """Share of ``items`` whose highest-scored choice (the first of equal ones) is the answer."""
    items = list(items)
    if not items:
        raise ValueError("items is empty; allowed: at least one item")
    scores = mcq_scores(model, tokenizer, items, batch_size=batch_size)
    right = 0
    for item, choice_scores in zip(items, scores):
        best = max(range(len(choice_scores)), key=choice_scores.__getitem__)  # max keeps the first of ties
        right += best == item["answer"]
    return right / len(items)


# ---- cloze items from held-out text ------------------------------------------------------------------------------

CLOZE_MIN_WORDS, CLOZE_MAX_WORDS = 6, 40
_CLOZE_MIN_LETTERS = 3
_LENGTH_SLACK = 2
_CLOSERS = "[\"'\u2019\u201d)\\]]*"  # closing quotes and brackets after a sentence's end
_SENTENCE = re.compile(r"[^.!?]+[.!?]+" + _CLOSERS)
_CLOZE_SENTENCE = re.compile(r"(?P<context>.*\S) (?P<word>[A-Za-z]{%d,})[.!?]+" % _CLOZE_MIN_LETTERS + _CLOSERS)
_WORD = re.compile(r"[A-Za-z]{%d,}" % _CLOZE_MIN_LETTERS)


def _cloze_sentences(text: str) -> list:
    """(context, last word) of each usable sentence, in text order, without repeats."""
    found = {}
    for match in _SENTENCE.finditer(" ".join(text.split())):
        sentence = match.group().strip()
        if not CLOZE_MIN_WORDS <= len(sentence.split()) <= CLOZE_MAX_WORDS:
            continue
        cloze = _CLOZE_SENTENCE.fullmatch(sentence)
        if cloze:
            found.setdefault((cloze["context"], cloze["word"]), None)
    return list(found)


def _by_rank_distance(position: int, count: int):
    """Ranks other than ``position``, nearest first (the lower one first at equal distance)."""
    for step in range(1, count):
        for other in (position - step, position + step):
            if 0 <= other < count:
                yield other


def _distractor_pool(answer: str, ranked: list, rank: dict, allowed, size: int, needed: int) -> list:
    """Allowed words nearest to ``answer`` in frequency rank, within the length slack (any length if too few are)."""
    close, anywhere = [], []
    for other in _by_rank_distance(rank[answer], len(ranked)):
        word = ranked[other]
        if not allowed(word):
            continue
        if len(anywhere) < size:
            anywhere.append(word)
        if abs(len(word) - len(answer)) <= _LENGTH_SLACK:
            close.append(word)
            if len(close) == size:
                break
    return close if len(close) >= needed else anywhere


def _like(word: str, pattern: str) -> str:
    """``word`` with the capitalisation of ``pattern`` (all capitals, a capital first letter, or as is)."""
    if pattern.isupper():
        return word.upper()
    if pattern[0].isupper():
        return word[0].upper() + word[1:]
    return word


def cloze_items(text: str, n_items: int = 200, n_choices: int = 4, seed: int = 0) -> list:
    """``n_items`` last-word cloze items (``n_choices`` choices each) from held-out ``text``; see the module doc."""
    _positive_int("n_items", n_items)
    if isinstance(n_choices, bool) or not isinstance(n_choices, int) or n_choices < 2:
        raise ValueError(f"n_choices={n_choices!r} is invalid; allowed: an integer >= 2")
    sentences = _cloze_sentences(text)
    if len(sentences) < n_items:
        raise ValueError(
            f"the text gives {len(sentences)} cloze sentences ({CLOZE_MIN_WORDS}-{CLOZE_MAX_WORDS} words ending in a "
            f"word of {_CLOZE_MIN_LETTERS}+ letters); n_items={n_items} needs more held-out text"
        )
    words = _WORD.findall(text)
    counts = Counter(word.lower() for word in words)
    seen_lower = {word for word in words if word.islower()}  # names are never seen lower-case
    if len(counts) < n_choices:
        raise ValueError(
            f"the text has {len(counts)} distinct words of {_CLOZE_MIN_LETTERS}+ letters; n_choices={n_choices} "
            f"needs at least {n_choices}"
        )
    rng = random.Random(seed)
    # Frequency rank; words of equal frequency in a seeded order (alphabetical neighbours share their start).
    ranked = sorted(counts)
    rng.shuffle(ranked)
    ranked.sort(key=lambda word: -counts[word])
    rank = {word: position for position, word in enumerate(ranked)}
    pool_size = max(4 * (n_choices - 1), 12)
    items = []
    for position in sorted(rng.sample(range(len(sentences)), n_items)):
        context, word = sentences[position]
        answer = word.lower()
        lowercase = word.islower()

        def allowed(other, answer=answer, lowercase=lowercase):
            return other != answer and (other in seen_lower or not lowercase)

        pool = _distractor_pool(answer, ranked, rank, allowed, pool_size, n_choices - 1)
        if len(pool) < n_choices - 1:
            pool = [other for other in ranked if other != answer][:pool_size]  # a text of proper nouns only
        choices = [" " + word] + [" " + _like(other, word) for other in rng.sample(pool, n_choices - 1)]
        order = list(range(n_choices))
        rng.shuffle(order)
        items.append({"context": context, "choices": [choices[i] for i in order], "answer": order.index(0)})
    return items


# ---- BIG-bench task files ----------------------------------------------------------------------------------------

BIGBENCH_DEFAULTS = {
    "task_prefix": "",
    "example_input_prefix": "\nQ: ",
    "choice_prefix": "\n  choice: ",
    "example_output_prefix": "\nA: ",
}


class TaskFormatError(ValueError):
    """A task file that cannot be used; the message is one line: the path, the example index, what is wrong."""


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_task_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise TaskFormatError(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise TaskFormatError(f"{path}: not valid JSON ({error.msg}, {where})") from None
    except UnicodeDecodeError:
        raise TaskFormatError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise TaskFormatError(f"{path}: cannot be read ({error.strerror or error})") from None


def _bigbench_item(path: str, index: int, example, formats: dict, append_choices: bool) -> dict:
    def fail(what: str):
        raise TaskFormatError(f"{path}: example {index}: {what}")

    if not isinstance(example, dict):
        fail(f"is a {type(example).__name__}, not an object")
    if "input" not in example:
        fail("has no 'input'")
    if not isinstance(example["input"], str):
        fail(f"'input' is a {type(example['input']).__name__}, not a string")
    if "target_scores" not in example:
        fail("has no 'target_scores' (only multiple-choice examples can be scored)")
    target_scores = example["target_scores"]
    if not isinstance(target_scores, dict) or not target_scores:
        fail(f"'target_scores' is {_short(target_scores)}, not a non-empty mapping of choice to number")
    for choice, score in target_scores.items():
        if not choice:
            fail("'target_scores' has an empty choice")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            fail(f"target_scores[{_short(choice)}] is {_short(score)}, not a finite number")
    choices = list(target_scores)
    best = max(target_scores.values())
    winners = [choice for choice in choices if target_scores[choice] == best]
    if len(winners) > 1:
        fail(f"no unique best choice: {', '.join(_short(choice) for choice in winners)} all score {best}")
    question = example["input"]
    if append_choices:
        question += formats["choice_prefix"] + formats["choice_prefix"].join(sorted(choices))
    context = (
        formats["task_prefix"] + formats["example_input_prefix"] + question + formats["example_output_prefix"]
    )
    return {"context": context, "choices": choices, "answer": choices.index(winners[0])}


def load_bigbench_task(path, max_examples: int = None) -> tuple:
    """(name, items) of a BIG-bench multiple-choice ``task.json`` (or a folder holding one); see the module doc."""
    if max_examples is not None:
        _positive_int("max_examples", max_examples)
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "task.json")
    data = _read_task_json(path)
    if not isinstance(data, dict):
        raise TaskFormatError(f"{path}: the top level is a {type(data).__name__}, not an object")
    name = data.get("name", os.path.basename(os.path.dirname(os.path.abspath(path))))
    if not isinstance(name, str) or not name:
        raise TaskFormatError(f"{path}: 'name' is {_short(name)}, not a non-empty string")
    formats = {}
    for key, default in BIGBENCH_DEFAULTS.items():
        formats[key] = data.get(key, default)
        if not isinstance(formats[key], str):
            raise TaskFormatError(f"{path}: '{key}' is {_short(formats[key])}, not a string")
    append_choices = data.get("append_choices_to_input", True)
    if not isinstance(append_choices, bool):
        raise TaskFormatError(f"{path}: 'append_choices_to_input' is {_short(append_choices)}, not true or false")
    examples = data.get("examples")
    if not isinstance(examples, list) or not examples:
        raise TaskFormatError(f"{path}: no examples ('examples' is {_short(examples)}, not a non-empty list)")
    if max_examples is not None:
        examples = examples[:max_examples]
    items = [_bigbench_item(path, index, example, formats, append_choices) for index, example in enumerate(examples)]
    return name, items


# ---- speed and size ----------------------------------------------------------------------------------------------


@torch.no_grad()
def generation_speed(model, tokenizer, prompt: str = DEFAULT_PROMPT, new_tokens: int = 64, repeats: int = 1) -> float:
    """New tokens per second of greedy ``model.generate`` (batch 1, exactly ``new_tokens`` each call), timed over
    ``repeats`` calls after one warm-up call. The model runs as given (no compilation, its own attention)."""
    _positive_int("new_tokens", new_tokens)
    _positive_int("repeats", repeats)
    window = _context_window(model)
    if new_tokens >= window:
        raise ValueError(f"new_tokens={new_tokens} is invalid; allowed: fewer than the model's window {window}")
    start = _start_id(tokenizer, None)
    prompt_ids = (_encode(tokenizer, prompt) or [start])[-(window - new_tokens) :]
    device = next(model.parameters()).device
    input_ids = torch.tensor([prompt_ids], device=device)
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = start if pad is None else pad
    kwargs = dict(
        attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
        do_sample=False, num_beams=1, pad_token_id=pad,
    )
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        model.generate(input_ids, **kwargs)  # warm-up
        produced = 0
        began = time.perf_counter()
        for _ in range(repeats):
            produced += model.generate(input_ids, **kwargs).shape[1] - input_ids.shape[1]
        elapsed = time.perf_counter() - began
    finally:
        if was_training:
            model.train()
    return produced / max(elapsed, 1e-9)


def parameter_counts(model) -> dict:
    """{"params", "non_embedding_params"}, shared and tied tensors once (``model_card.count_parameters``): embedding
    parameters are every ``nn.Embedding`` (token and learned position tables) and the output projection."""
    counts = count_parameters(model)
    return {"params": counts["total"], "non_embedding_params": counts["non_embedding"]}


__all__ = [
    "validation_metrics",
    "mcq_scores",
    "mcq_accuracy",
    "cloze_items",
    "TaskFormatError",
    "load_bigbench_task",
    "generation_speed",
    "parameter_counts",
]
