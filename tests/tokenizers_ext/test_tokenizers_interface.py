"""The seed interface shared by both tokenizers: encode/decode (batched), pad_batch, ids, errors."""

import functools

import pytest
import torch
from tokenizer_test_helpers import gpt2_tokenizer

from tokenizers_ext import BPETokenizer, Tokenizer


@functools.lru_cache(maxsize=None)
def small_bpe():
    return BPETokenizer(merges=[(104, 105), (32, 256)])  # "hi", " hi"


@pytest.fixture(params=["bpe", "gpt2"])
def tok(request):
    return small_bpe() if request.param == "bpe" else gpt2_tokenizer()


def test_both_are_transformers_fast_tokenizers_with_the_seed_interface(tok):
    from transformers import TokenizersBackend

    assert isinstance(tok, Tokenizer) and isinstance(tok, TokenizersBackend)
    assert tok.is_fast
    assert tok.vocab_size == len(tok) == len(tok.get_vocab())


def test_pad_batch_right_and_left(tok):
    pad = tok.pad_token_id
    ids, mask = tok.pad_batch([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, pad, pad]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long
    ids, mask = tok.pad_batch([[5, 6, 7], [8]], direction="left")
    assert ids.tolist() == [[5, 6, 7], [pad, pad, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_pad_batch_edge_cases(tok):
    ids, mask = tok.pad_batch([[], [3]])
    assert ids.tolist() == [[tok.pad_token_id], [3]] and mask.tolist() == [[0], [1]]
    ids, mask = tok.pad_batch([])
    assert ids.shape == mask.shape == (0, 0)
    ids, _ = tok.pad_batch([torch.tensor([1, 2]), (3,)])
    assert ids.tolist() == [[1, 2], [3, tok.pad_token_id]]
    with pytest.raises(ValueError, match=r"direction must be one of \('right', 'left'\), got 'up'"):
        tok.pad_batch([[1]], direction="up")


def test_encode_adds_nothing_and_transformers_arguments_still_work(tok):
    ids = tok.encode("hi hi")
    assert ids == tok.encode("hi hi", add_special_tokens=True) == tok("hi hi")["input_ids"]
    assert tok.encode("hi hi", return_tensors="pt").tolist() == [ids]
    assert tok.encode("") == [] and tok.encode_batch(["", "hi"]) == [[], ids[:1]]


def test_decode_accepts_lists_tensors_and_batches(tok):
    ids = tok.encode("hi there")
    assert tok.decode(ids) == tok.decode(torch.tensor(ids)) == tok.decode(tuple(ids)) == "hi there"
    assert tok.decode_batch(torch.tensor([ids, ids])) == ["hi there", "hi there"]
    assert tok.batch_decode([ids]) == ["hi there"]
    assert tok.decode([]) == ""


def test_out_of_vocabulary_ids_are_refused(tok):
    last = len(tok) - 1
    for bad in (len(tok), -1, 10**12):
        expected = rf"token id {bad} \(position 1\) is outside the vocabulary: valid ids are 0..{last}"
        with pytest.raises(ValueError, match=expected):
            tok.decode([1, bad])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode_batch([[1], [len(tok)]])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.batch_decode([[len(tok)]])


def test_lone_surrogates_are_refused_clearly(tok):
    with pytest.raises(ValueError, match=r"text cannot be encoded as UTF-8: character '\\ud800' at index 2"):
        tok.encode("ok\ud800")
    with pytest.raises(ValueError, match=r"texts\[1\] cannot be encoded as UTF-8"):
        tok.encode_batch(["fine", "\udfff"])
    with pytest.raises(ValueError, match=r"text\[0\] cannot be encoded as UTF-8"):
        tok(["\ud83d"])


def test_wrong_types_are_refused(tok):
    with pytest.raises(TypeError, match="texts must be a list of str, got a single str"):
        tok.encode_batch("one text")
    with pytest.raises(TypeError, match=r"texts\[0\] must be a str, got int"):
        tok.encode_batch([3])


def test_generic_tokenizer_from_a_tokenizers_object():
    backend = small_bpe().backend_tokenizer
    generic = Tokenizer(tokenizer_object=backend, eos_token="<|endoftext|>", pad_token="<|pad|>")
    assert generic.encode("hi hi") == small_bpe().encode("hi hi")
    assert (generic.eot_token_id, generic.pad_token_id) == (small_bpe().eot_token_id, small_bpe().pad_token_id)
