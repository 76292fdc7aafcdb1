"""hf_tinylm.training.data: sources, the fixed validation split, tokenising + packing, caching, errors."""

import json
import math
import os
import socket
from fractions import Fraction

import datasets
import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict
from model_factory import CHAR_EOS, CHARACTERS, char_tokenizer, tiny_model
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from hf_tinylm.training import data as D
from hf_tinylm.training.data import DataConfig, DataError, DatasetUnavailableError

CHAR_ID = {character: index for index, character in enumerate(CHARACTERS)}


def char_ids(text):
    return [CHAR_ID[character] for character in text]


def char_stream(documents):
    """The char tokenizer's concatenated ids with end-of-text after every document."""
    return [token for document in documents for token in char_ids(document) + [CHAR_EOS]]


def write_text(path, text):
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


def in_memory_splits(train, validation):
    return DatasetDict({"train": Dataset.from_dict({"text": train}),
                        "validation": Dataset.from_dict({"text": validation})})


def blocks(dataset):
    return [list(row) for row in dataset["input_ids"]]


def words(count, seed=0):
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghij klmnop"))
    return ["".join(rng.choice(letters, size=int(rng.integers(1, 12)))).strip() or "x" for _ in range(count)]


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer()


class CountCalls:
    """Counts how often the tokenising map function runs (it must not on a cache hit)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = D._TokenizeDocuments.__call__

        def counting(function, batch):
            self.calls += 1
            return original(function, batch)

        monkeypatch.setattr(D._TokenizeDocuments, "__call__", counting)


class FlakyTokenizer:
    """A tokenizer that raises on one call (the first run crashes half-way), then works."""

    def __init__(self, inner, fail_on_call):
        self.inner, self.fail_on_call, self.calls = inner, fail_on_call, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, texts, **kwargs):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("simulated crash in the middle of tokenising")
        return self.inner(texts, **kwargs)


# ---------------------------------------------------------------------------------------------- split rule


@pytest.mark.parametrize(
    "count, fraction", [(2, 0.02), (10, 0.02), (120, 0.02), (37, 0.25), (9, 0.5), (11, 0.9), (1000, 0.013)]
)
def test_validation_rule_is_fixed_spread_and_the_same_for_files_and_datasets(count, fraction):
    documents = [f"doc {index}" for index in range(count)]
    assigned = list(D._assign_splits(iter(documents), D._validation_rule(fraction), "x"))
    validation = [document for split, document in assigned if split == "validation"]
    train = [document for split, document in assigned if split == "train"]
    assert sorted(validation + train) == sorted(documents) and not set(validation) & set(train)
    assert train == [document for document in documents if document not in validation]  # order kept
    assert len(validation) == max(1, math.floor(count * Fraction(fraction).limit_denominator(1_000_000)))
    if count * fraction < 1:
        assert validation == [documents[-1]]
    # The same rule for datasets that come without a validation split (vectorised implementation).
    splits = D._standard_splits(Dataset.from_dict({"text": documents}), DataConfig(validation_fraction=fraction), "x")
    assert splits["validation"]["text"] == validation and splits["train"]["text"] == train


def test_validation_rule_every_fiftieth_document():
    documents = [str(index) for index in range(200)]
    assigned = D._assign_splits(documents, Fraction(1, 50), "x")
    validation = [document for split, document in assigned if split == "validation"]
    assert validation == ["49", "99", "149", "199"]


# ---------------------------------------------------------------------------------------------- default corpus


def test_default_corpus_split_is_fixed_disjoint_and_shared(tmp_path):
    documents = list(D._text_documents(D.default_corpus_path()))
    assert len(documents) == 21718 and all(document.strip() for document in documents)
    first = D.load_text_splits(DataConfig(cache_dir=str(tmp_path / "a")))
    assert first["validation"]["text"] == documents[49::50]
    assert first["train"]["text"] == [document for index, document in enumerate(documents) if index % 50 != 49]
    assert (len(first["train"]), len(first["validation"])) == (21284, 434)
    # The same from a fresh cache and whatever the seed-free knobs say: one split for every command.
    again = D.load_text_splits(DataConfig(cache_dir=str(tmp_path / "b"), validation_fraction=0.5))
    assert again["validation"]["text"] == first["validation"]["text"]
    validation_bytes = sum(len(text.encode()) for text in first["validation"]["text"])
    assert 100_000 < validation_bytes < 200_000  # ~2% of 6.5 MB

    text = D.default_validation_text()
    assert text == "\n\n".join(documents[49::50]) + "\n"
    saved = write_text(tmp_path / "validation.txt", text)  # what `tinylm compare` saves reads back the same
    assert list(D._text_documents(saved)) == documents[49::50]


# ---------------------------------------------------------------------------------------------- sources


def test_text_file_paragraphs_with_crlf_bom_and_blank_lines(tmp_path, cache):
    path = write_text(tmp_path / "a.txt", "\ufeffFirst para\r\nline two\r\n\r\n  \t\n\nSecond\n\n\n\nThird  \nend")
    splits = D.load_text_splits(DataConfig(dataset=path, validation_fraction=0.5, cache_dir=cache))
    assert splits["train"]["text"] == ["First para\nline two", "Third  \nend"]
    assert splits["validation"]["text"] == ["Second"]
    assert splits["train"].column_names == ["text"]


def test_jsonl_and_json_array_sources(tmp_path, cache):
    records = [{"body": f"record {index}", "id": index} for index in range(8)]
    jsonl = tmp_path / "a.jsonl"
    lines = [json.dumps(record) for record in records[:4]] + ["", json.dumps({"body": "  "})]
    lines += [json.dumps(record) for record in records[4:]]
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")  # a blank line and a blank text: skipped
    config = DataConfig(dataset=str(jsonl), text_field="body", validation_fraction=0.25, cache_dir=cache)
    splits = D.load_text_splits(config)
    expected = [record["body"] for record in records]
    assert splits["validation"]["text"] == [expected[3], expected[7]]
    assert splits["train"]["text"] == [text for index, text in enumerate(expected) if index not in (3, 7)]

    array = tmp_path / "b.json"
    array.write_text(json.dumps(records, indent=2), encoding="utf-8")
    config = DataConfig(dataset=str(array), text_field="body", validation_fraction=0.25, cache_dir=cache)
    from_array = D.load_text_splits(config)
    assert from_array["train"]["text"] == splits["train"]["text"]
    assert from_array["validation"]["text"] == splits["validation"]["text"]


def test_list_of_files_and_folder_of_files(tmp_path, cache):
    folder = tmp_path / "corpus"
    folder.mkdir()
    first = write_text(folder / "1.txt", "one\n\ntwo\n")
    second = write_jsonl(folder / "2.jsonl", [{"text": "three"}, {"text": "four\n\nstill four"}])
    (folder / "ignored.bin").write_bytes(b"\xff\xfe")
    expected = ["one", "two", "three", "four\n\nstill four"]
    for dataset in ([first, second], str(folder)):
        splits = D.load_text_splits(DataConfig(dataset=dataset, validation_fraction=0.5, cache_dir=cache))
        assert splits["train"]["text"] == [expected[0], expected[2]]
        assert splits["validation"]["text"] == [expected[1], expected[3]]


def test_save_to_disk_sources(tmp_path, cache):
    both = tmp_path / "both"
    DatasetDict({
        "train": Dataset.from_dict({"content": ["a b", "c d", "e f"], "id": [1, 2, 3]}),
        "validation": Dataset.from_dict({"content": ["g h"], "id": [4]}),
        "test": Dataset.from_dict({"content": ["unused"], "id": [5]}),
    }).save_to_disk(str(both))
    splits = D.load_text_splits(DataConfig(dataset=str(both), text_field="content", cache_dir=cache))
    assert splits["train"]["text"] == ["a b", "c d", "e f"] and splits["validation"]["text"] == ["g h"]
    assert splits["train"].column_names == ["text"] and set(splits) == {"train", "validation"}

    single = tmp_path / "single"
    Dataset.from_dict({"text": [f"t{index}" for index in range(8)]}).save_to_disk(str(single))
    splits = D.load_text_splits(DataConfig(dataset=str(single), validation_fraction=0.25, cache_dir=cache))
    assert splits["validation"]["text"] == ["t3", "t7"]
    assert splits["train"]["text"] == ["t0", "t1", "t2", "t4", "t5", "t6"]

    with pytest.raises(DataError, match=r"single.*no 'body' column \(columns: text\)"):
        D.load_text_splits(DataConfig(dataset=str(single), text_field="body", cache_dir=cache))
    with pytest.raises(DataError, match=r"column 'id' holds .*int64.*not text"):
        D.load_text_splits(DataConfig(dataset=str(both), text_field="id", cache_dir=cache))


def test_max_train_documents_keeps_the_first_training_documents(tmp_path, cache):
    path = write_text(tmp_path / "a.txt", "\n\n".join(f"doc {index}" for index in range(10)))
    config = DataConfig(dataset=path, validation_fraction=0.2, max_train_documents=3, cache_dir=cache)
    splits = D.load_text_splits(config)
    assert splits["train"]["text"] == ["doc 0", "doc 1", "doc 2"]
    assert splits["validation"]["text"] == ["doc 4", "doc 9"]


# ---------------------------------------------------------------------------------------------- Hub names


def test_offline_hub_name_gives_one_clear_error_without_network(monkeypatch, cache):
    def no_network(*args, **kwargs):
        raise AssertionError("the test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    expected = r"'openwebtext' \(Hub dataset Skylion007/openwebtext\).*offline.*'default'"
    with pytest.raises(DatasetUnavailableError, match=expected):
        D.load_text_splits(DataConfig(dataset="openwebtext", cache_dir=cache))
    with pytest.raises(DatasetUnavailableError, match=r"'someone/corpus'.*local files.*'default'"):
        D.load_packed(DataConfig(dataset="someone/corpus", cache_dir=cache), char_tokenizer())
    assert issubclass(DatasetUnavailableError, ValueError)

    # Offline by the environment while datasets read it as online: refuse before datasets can connect.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets, "load_dataset", no_network)
    expected = r"'simple_en_wiki' \(Hub dataset wikimedia/wikipedia, config 20231101.simple\) needs the Hub"
    with pytest.raises(DatasetUnavailableError, match=expected):
        D.load_text_splits(DataConfig(dataset="simple_en_wiki", cache_dir=cache))


def test_hub_names_map_to_ids_and_connection_failures_are_clear(monkeypatch, cache):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    calls = []

    def fake_load_dataset(repo_id, config=None):
        calls.append((repo_id, config))
        if repo_id == "down/dataset":
            raise ConnectionError("Couldn't reach 'down/dataset' on the Hub")
        if repo_id == "roneneldan/TinyStories":
            return DatasetDict({"train": Dataset.from_dict({"text": ["s1", "s2"]}),
                                "validation": Dataset.from_dict({"text": ["v1"]})})
        return DatasetDict({"train": Dataset.from_dict({"title": list("abcd"), "text": [f"w{i}" for i in range(4)]})})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    wiki = D.load_text_splits(DataConfig(dataset="simple_en_wiki", validation_fraction=0.5, cache_dir=cache))
    assert wiki["train"]["text"] == ["w0", "w2"] and wiki["validation"]["text"] == ["w1", "w3"]
    stories = D.load_text_splits(DataConfig(dataset="stlm", cache_dir=cache))
    assert stories["validation"]["text"] == ["v1"] and stories["train"]["text"] == ["s1", "s2"]
    D.load_text_splits(DataConfig(dataset="openwebtext", cache_dir=cache))
    D.load_text_splits(DataConfig(dataset="someone/corpus", cache_dir=cache))
    assert calls == [("wikimedia/wikipedia", "20231101.simple"), ("roneneldan/TinyStories", None),
                     ("Skylion007/openwebtext", None), ("someone/corpus", None)]
    expected = (r"'down/dataset' \(not a local file or folder\) could not be loaded from the Hub: "
                r"Couldn't reach.*'default'")
    with pytest.raises(DatasetUnavailableError, match=expected):
        D.load_text_splits(DataConfig(dataset="down/dataset", cache_dir=cache))


# ---------------------------------------------------------------------------------------------- packing


def test_blocks_are_consecutive_slices_of_the_stream_with_remainder_dropped(tok, cache):
    train, validation = ["abc", "de", "fghij", "k"], ["xyz", "uv"]
    packed = D.pack(in_memory_splits(train, validation), tok, 4, cache_dir=cache)
    stream = char_stream(train)
    assert len(stream) == 15 and packed.train_tokens == 15
    assert blocks(packed.train) == [stream[0:4], stream[4:8], stream[8:12]]  # 3 tokens dropped
    assert blocks(packed.validation) == [char_stream(validation)[:4]]
    assert packed.train.column_names == ["input_ids"] and packed.context_length == 4


def test_packing_carries_across_arrow_chunks(tok, cache):
    train, validation = words(2600, seed=1), words(40, seed=2)
    packed = D.pack(in_memory_splits(train, validation), tok, 7, cache_dir=cache, batch_size=300)
    stream = np.array(char_stream(train))
    expected = stream[: len(stream) // 7 * 7].reshape(-1, 7)
    assert np.array_equal(np.array(packed.train["input_ids"]), expected)
    assert packed.train_tokens == len(stream)


def test_bits_per_byte_statistics_on_a_known_text(tok, cache):
    packed = D.pack(in_memory_splits(["ab cd"] * 3, ["ab", "cde"]), tok, 2, cache_dir=cache)
    # char tokenizer: one token per byte, plus one end-of-text per document = one byte per document end
    assert (packed.validation_tokens, packed.validation_bytes, packed.tokens_per_byte) == (7, 7, 1.0)
    assert packed.bits_per_byte(math.log(2)) == pytest.approx(1.0)

    vocab = {"hello": 0, "world": 1, "héllo": 2, "[UNK]": 3, "<eot>": 4}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    word_tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eot>", unk_token="[UNK]")
    packed = D.pack(in_memory_splits(["hello world"] * 4, ["hello world", "héllo"]), word_tok, 2, cache_dir=cache)
    # tokens: [hello, world, eot] + [héllo, eot] = 5; bytes: 11 + 1 + 6 (é is 2 bytes) + 1 = 19
    assert (packed.validation_tokens, packed.validation_bytes) == (5, 19)
    assert packed.bits_per_byte(2.0) == pytest.approx(2.0 * 5 / 19 / math.log(2))
    assert blocks(packed.validation) == [[0, 1], [4, 2]]


def test_collator_feeds_the_model(tok, cache):
    packed = D.pack(in_memory_splits(words(50), words(10, seed=3)), tok, 16, cache_dir=cache)
    batch = D.collate_blocks([packed.train[index] for index in range(3)])
    assert batch["input_ids"].dtype == torch.long and batch["input_ids"].shape == (3, 16)
    assert torch.equal(batch["labels"], batch["input_ids"])
    loss = tiny_model()(**batch).loss
    assert torch.isfinite(loss)


# ---------------------------------------------------------------------------------------------- caching


def test_second_run_loads_everything_from_the_cache(tmp_path, monkeypatch, cache):
    path = write_text(tmp_path / "a.txt", "\n\n".join(words(300)))
    config = DataConfig(dataset=path, context_length=8, cache_dir=cache)
    counter = CountCalls(monkeypatch)
    first = D.load_packed(config, char_tokenizer())
    assert counter.calls > 0
    assert all(entry["filename"].startswith(cache) for entry in first.train.cache_files)

    calls = counter.calls

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the text cache was rebuilt")

    monkeypatch.setattr(D, "_write_text_splits", no_rebuild)
    second = D.load_packed(config, char_tokenizer())  # a new tokenizer object, equal to the first
    assert counter.calls == calls  # the tokenising function never ran
    assert second.train.cache_files == first.train.cache_files
    assert blocks(second.train) == blocks(first.train) and blocks(second.validation) == blocks(first.validation)
    assert (second.train_tokens, second.validation_tokens, second.validation_bytes) == (
        first.train_tokens, first.validation_tokens, first.validation_bytes)

    # Another context length reuses the tokens and only packs again.
    other = D.load_packed(DataConfig(dataset=path, context_length=5, cache_dir=cache), char_tokenizer())
    assert counter.calls == calls and other.train_tokens == first.train_tokens
    assert len(other.train[0]["input_ids"]) == 5

    # Changing the file invalidates the text and token caches.
    monkeypatch.undo()
    counter = CountCalls(monkeypatch)
    write_text(tmp_path / "a.txt", "\n\n".join(words(300, seed=9)))
    os.utime(path, ns=(1, 1))
    D.load_packed(config, char_tokenizer())
    assert counter.calls > 0


def test_interrupted_tokenising_never_poisons_a_later_run(tmp_path, cache):
    splits = in_memory_splits(words(40), words(12, seed=5))
    flaky = FlakyTokenizer(char_tokenizer(), fail_on_call=4)  # call 1 is the fingerprint's probe
    with pytest.raises(RuntimeError, match="simulated crash"):
        D.pack(splits, flaky, 6, cache_dir=cache, batch_size=4)  # dies in the 3rd of 10 train batches
    assert os.listdir(os.path.join(cache, "tokens")) == []  # nothing half-written left under any name

    rerun = D.pack(splits, flaky, 6, cache_dir=cache, batch_size=4)  # same fingerprint, same cache
    fresh = D.pack(splits, char_tokenizer(), 6, cache_dir=str(tmp_path / "fresh"))
    assert blocks(rerun.train) == blocks(fresh.train) and blocks(rerun.validation) == blocks(fresh.validation)
    assert (rerun.train_tokens, rerun.validation_tokens, rerun.validation_bytes) == (
        fresh.train_tokens, fresh.validation_tokens, fresh.validation_bytes)
    stream = char_stream(splits["train"]["text"])
    assert np.array(rerun.train["input_ids"]).ravel().tolist() == stream[: len(rerun.train) * 6]


def test_interrupted_packing_leaves_no_block_file(tok, monkeypatch, cache):
    splits = in_memory_splits(words(300), words(30, seed=4))
    reference = D.pack(splits, tok, 4, cache_dir=cache, batch_size=50)  # tokens cached, in 50-document chunks
    packed_dir = os.path.join(cache, "packed")
    before = sorted(os.listdir(packed_dir))
    original = D.ArrowWriter.write_table
    state = {"calls": 0}

    def crash_after_one(writer, table, *args, **kwargs):
        state["calls"] += 1
        if state["calls"] == 2:
            raise RuntimeError("simulated crash while packing")
        return original(writer, table, *args, **kwargs)

    monkeypatch.setattr(D.ArrowWriter, "write_table", crash_after_one)
    with pytest.raises(RuntimeError, match="while packing"):
        D.pack(splits, tok, 3, cache_dir=cache)
    assert sorted(os.listdir(packed_dir)) == before
    monkeypatch.undo()
    packed = D.pack(splits, tok, 3, cache_dir=cache)
    stream = char_stream(splits["train"]["text"])
    assert np.array(packed.train["input_ids"]).ravel().tolist() == stream[: len(stream) // 3 * 3]
    assert packed.train_tokens == reference.train_tokens


# ---------------------------------------------------------------------------------------------- bad input


def test_missing_empty_and_blank_files(tmp_path, cache):
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(DataError, match=r"nope\.txt: no such file"):
        D.load_text_splits(DataConfig(dataset=missing, cache_dir=cache))
    good = write_text(tmp_path / "good.txt", "a\n\nb\n")
    with pytest.raises(DataError, match=r"nope\.txt: no such file$"):
        D.load_text_splits(DataConfig(dataset=[good, missing], cache_dir=cache))
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jsonl: the file is empty"):
        D.load_text_splits(DataConfig(dataset=str(tmp_path / "empty.jsonl"), cache_dir=cache))
    blank = write_text(tmp_path / "blank.txt", "  \n\n\t\n")
    with pytest.raises(DataError, match=r"blank\.txt: the file has no text"):
        D.load_text_splits(DataConfig(dataset=[good, blank], cache_dir=cache))
    with pytest.raises(DataError, match=r"data/corpus\.txt: no such file or folder"):
        D.load_text_splits(DataConfig(dataset="data/corpus.txt", cache_dir=cache))
    assert not os.path.exists(os.path.join(cache, "text")) or not any(
        name for name in os.listdir(os.path.join(cache, "text")) if "incomplete" in name)


def test_non_utf8_file_names_the_byte_offset(tmp_path, cache):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\u00e9\n\nok\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt: not valid UTF-8 \(first bad byte at offset 3\)"):
        D.load_text_splits(DataConfig(dataset=str(bad), cache_dir=cache))
    # A multi-byte character across the 1 MiB read boundary, then a bad byte.
    far = tmp_path / "far.jsonl"
    prefix = b'{"text": "' + b"a" * ((1 << 20) - 11) + "é".encode() + b'"}\n'
    far.write_bytes(prefix + b'{"text": "\xff"}\n')
    expected = rf"far\.jsonl: not valid UTF-8 \(first bad byte at offset {len(prefix) + 10}\)"
    with pytest.raises(DataError, match=expected):
        D.load_text_splits(DataConfig(dataset=str(far), cache_dir=cache))
    assert [name for name in os.listdir(os.path.join(cache, "text")) if "incomplete" in name] == []


def test_bad_json_lines(tmp_path, cache):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "fine"}, {"body": "no text here", "id": 2}])
    with pytest.raises(DataError, match=r"a\.jsonl: line 2 has no 'text' field \(fields: body, id\); set text_field"):
        D.load_text_splits(DataConfig(dataset=path, cache_dir=cache))
    broken = write_text(tmp_path / "b.jsonl", '{"text": "fine"}\n{"text": \n')
    with pytest.raises(DataError, match=r"b\.jsonl: line 2 is not valid JSON"):
        D.load_text_splits(DataConfig(dataset=broken, cache_dir=cache))
    wrong = write_jsonl(tmp_path / "c.jsonl", [{"text": "fine"}, {"text": 3}])
    with pytest.raises(DataError, match=r"c\.jsonl: line 2: field 'text' is int, not a string"):
        D.load_text_splits(DataConfig(dataset=wrong, cache_dir=cache))


@pytest.mark.parametrize("context_length", [1, 0, -3, 2.5, True])
def test_context_length_below_two_is_refused(tok, context_length):
    with pytest.raises(DataError, match="context_length must be an integer >= 2"):
        DataConfig(context_length=context_length)
    with pytest.raises(DataError, match="context_length must be an integer >= 2"):
        D.pack(in_memory_splits(["ab"], ["cd"]), tok, context_length)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
def test_validation_fraction_must_be_between_zero_and_one(fraction):
    with pytest.raises(DataError, match="validation_fraction must be a number strictly between 0 and 1"):
        DataConfig(validation_fraction=fraction)


def test_too_little_data_says_how_many_tokens_there_are_and_are_needed(tmp_path, tok, cache):
    path = write_text(tmp_path / "small.txt", "\n\n".join(["abcdefghij"] * 9 + ["xyz"]))
    with pytest.raises(DataError, match=r"context_length=8: the validation split has 4 tokens \(1 document, .*needs 8;"):
        D.load_packed(DataConfig(dataset=path, validation_fraction=0.1, context_length=8, cache_dir=cache), tok)
    with pytest.raises(DataError, match=r"context_length=100: the train split has 99 tokens \(9 documents, .*needs 100;"):
        D.load_packed(DataConfig(dataset=path, validation_fraction=0.1, context_length=100, cache_dir=cache), tok)
    one = write_text(tmp_path / "one.txt", "a single paragraph\nof two lines\n")
    with pytest.raises(DataError, match=r"one\.txt: 1 document; a train and a validation split need at least 2"):
        D.load_text_splits(DataConfig(dataset=one, cache_dir=cache))


def test_tokenizer_without_end_of_text_or_output_is_refused(cache):
    backend = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    no_eos = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    with pytest.raises(DataError, match="no eos_token_id"):
        D.pack(in_memory_splits(["a"], ["a"]), no_eos, 2, cache_dir=cache)
    erasing = Tokenizer(models.WordLevel({"<eot>": 0}, unk_token="<eot>"))
    erasing.normalizer = normalizers.Replace(Regex(r"[\s\S]"), "")  # every character normalised away
    silent = PreTrainedTokenizerFast(tokenizer_object=erasing, eos_token="<eot>")
    with pytest.raises(DataError, match="the tokenizer turns text into no tokens"):
        D.pack(in_memory_splits(["a"], ["a"]), silent, 2, cache_dir=cache)


# ---------------------------------------------------------------------------------------------- real corpus


@pytest.mark.slow
def test_default_corpus_with_gpt2_packs_and_second_run_hits_the_cache(tmp_path, monkeypatch):
    from tokenizers_ext import GPT2Tokenizer

    tokenizer = GPT2Tokenizer()
    config = DataConfig(cache_dir=str(tmp_path))
    first = D.load_packed(config, tokenizer)
    assert len(first.train) > 5000 and len(first.validation) > 100
    assert 0.2 < first.tokens_per_byte < 0.3
    counter = CountCalls(monkeypatch)
    second = D.load_packed(config, GPT2Tokenizer())
    assert counter.calls == 0 and second.train.cache_files == first.train.cache_files
