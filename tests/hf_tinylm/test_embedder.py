"""The seed's embedder interface (tokenize_input, decode, pad_batch, truncate) on an attached tokenizer."""

import pytest
import torch
from model_factory import tiny_model
from tokenizers import Tokenizer, models, pre_tokenizers, decoders
from transformers import PreTrainedTokenizerFast

ALPHABET = "abcdefghijklmnopqrstuvwxyz .,!?"


def char_tokenizer(vocab_size=97):
    """One token per character; the last id is end-of-text, like both original tokenizers."""
    vocab = {ch: i for i, ch in enumerate(ALPHABET)}
    vocab["<|endoftext|>"] = vocab_size - 1
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


@pytest.fixture
def embedder():
    model = tiny_model()
    model.set_tokenizer(char_tokenizer())
    return model.model.embedder


def test_tokenize_and_decode_round_trip(embedder):
    ids = embedder.tokenize_input("hello, world")
    assert ids == [ALPHABET.index(ch) for ch in "hello, world"]
    assert embedder.decode(ids) == "hello, world"
    assert embedder.decode(torch.tensor(ids)) == "hello, world"
    assert embedder.tokenize_input("hi", add_eot=True)[-1] == 96


def test_truncate_keeps_the_most_recent_context(embedder):
    long_ids = list(range(30)) * 3
    (kept,) = embedder.truncate([long_ids])
    assert len(kept) == embedder.context_window == 64 and kept == long_ids[-64:]
    assert len(embedder.tokenize_input("ab" * 50, truncate=True)) == 64


@pytest.mark.parametrize("direction", ["left", "right"])
def test_pad_batch(embedder, direction):
    ids, mask = embedder.pad_batch([[1, 2, 3], [4]], direction=direction)
    assert ids.dtype == torch.long and ids.shape == mask.shape == (2, 3)
    if direction == "right":
        assert ids.tolist() == [[1, 2, 3], [4, 96, 96]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    else:
        assert ids.tolist() == [[1, 2, 3], [96, 96, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_padded_batch_feeds_the_model(embedder):
    model = tiny_model()
    model.set_tokenizer(char_tokenizer())
    texts = ["a short one", "and a slightly longer one"]
    ids, mask = model.model.embedder.pad_batch([model.model.embedder.tokenize_input(t) for t in texts], "left")
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).logits[:, -1]
        alone = model(torch.tensor([model.model.embedder.tokenize_input(texts[0])])).logits[:, -1]
    torch.testing.assert_close(batched[:1], alone, rtol=1e-5, atol=1e-5)


def test_bad_direction_and_missing_tokenizer_raise_clear_errors(embedder):
    with pytest.raises(ValueError, match="direction='up'.*allowed: 'left', 'right'"):
        embedder.pad_batch([[1]], direction="up")
    bare = tiny_model().model.embedder
    with pytest.raises(ValueError, match="no tokenizer attached"):
        bare.tokenize_input("x")
    assert "tokenizer" not in dict(bare.named_modules())


def test_saved_folder_carries_the_tokenizer_and_serves_pipelines(tmp_path):
    from transformers import AutoModelForCausalLM, pipeline

    model = tiny_model()
    model.set_tokenizer(char_tokenizer())
    model.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file()
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert reloaded.model.embedder.tokenizer is None  # found lazily, on first use
    assert reloaded.model.embedder.decode(reloaded.model.embedder.tokenize_input("abc")) == "abc"
    assert reloaded.tokenizer is reloaded.model.embedder.tokenizer
    generator = pipeline("text-generation", model=str(tmp_path))
    text = generator("hello", max_new_tokens=4, do_sample=False)[0]["generated_text"]
    assert text.startswith("hello") and len(text) > len("hello")
