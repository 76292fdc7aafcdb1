"""The loss computed a slice of tokens at a time (hf_tinylm/modeling/chunked_cross_entropy.py) and TinyLM's training
forward that uses it: loss and every parameter's gradient equal transformers' logits path (``ForCausalLMLoss``),
the [tokens, vocab] logits are never made whole, the Trainer (``tinylm train`` / ``tinylm compare``) takes it, and
the logits path comes back wherever the sliced one would not compute the same thing."""

import pytest
import safetensors
import torch
from model_factory import char_tokenizer, tiny_model
from torch.utils._python_dispatch import TorchDispatchMode
from transformers.loss.loss_utils import ForCausalLMLoss

from hf_tinylm import TinyLMConfig
from hf_tinylm.modeling import chunked_cross_entropy
from hf_tinylm.modeling.chunked_cross_entropy import LinearCrossEntropy, linear_cross_entropy_loss

VOCAB = 97
SLICE = 4  # tokens a slice under the small_slices fixture


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of 4 tokens: every batch here spans several slices and ends in a ragged one."""
    monkeypatch.setattr(chunked_cross_entropy, "SLICE_BYTES", SLICE * 4 * VOCAB)


def ids_and_labels(batch=3, length=10, seed=1):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, VOCAB, (batch, length), generator=generator)
    labels = ids.clone()
    labels[0, :4] = -100  # a masked prompt
    labels[2, -3:] = -100  # padding
    return ids, labels


def assert_relatively_close(actual, expected, rtol: float):
    """Within ``rtol`` of the tensor's scale: entries near zero are judged against its largest entry."""
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * float(expected.abs().max()))


def loss_and_grads(model, ids, labels, chunked: bool, autocast: bool = False, **kwargs):
    model.config.chunked_loss = chunked
    model.train()
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        output = model(input_ids=ids, labels=labels, **kwargs)
    output.loss.backward()
    # named_parameters lists a tied matrix once: its gradient holds the embedding's and the head's parts.
    return output, {name: parameter.grad.clone() for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("num_items_in_batch", [None, torch.tensor(17)], ids=["mean", "num_items_in_batch"])
@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_loss_and_every_gradient_equal_the_logits_path(small_slices, tie, num_items_in_batch):
    model = tiny_model(tie_word_embeddings=tie)
    ids, labels = ids_and_labels()
    kwargs = {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}
    sliced, sliced_grads = loss_and_grads(model, ids, labels, chunked=True, **kwargs)
    plain, plain_grads = loss_and_grads(model, ids, labels, chunked=False, **kwargs)
    assert sliced.logits is None and plain.logits.shape == (3, 10, VOCAB)
    assert (model.lm_head.linear.weight is model.model.embedder.token_embedder.weight) is tie
    torch.testing.assert_close(sliced.loss, plain.loss, rtol=1e-5, atol=0)
    assert sliced_grads.keys() == plain_grads.keys()
    for name, grad in plain_grads.items():
        assert grad.abs().max() > 0, name
        assert_relatively_close(sliced_grads[name], grad, rtol=1e-5)


def test_bfloat16_autocast_is_as_close_to_float32_as_the_logits_path():
    """Under bfloat16 autocast both paths form bfloat16 logits, upcast them before the softmax (the losses agree to
    float32 rounding) and round the gradient of the logits to bfloat16 (8 significant bits) for the backward
    matmuls, but from differently arranged numbers (softmax - one_hot there, exp - sum · one_hot here): the
    gradients then differ from each other by about bfloat16's own error, ~1% of their norm. What must hold is that
    the sliced path is no less accurate: its distance to the float32 gradients is within twice the logits path's
    for every parameter (1.2-1.6x seen), and within 1.25x over all of them together."""
    model = tiny_model()
    ids, labels = ids_and_labels()
    sliced, sliced_grads = loss_and_grads(model, ids, labels, chunked=True, autocast=True)
    plain, plain_grads = loss_and_grads(model, ids, labels, chunked=False, autocast=True)
    exact, exact_grads = loss_and_grads(model, ids, labels, chunked=False)
    assert sliced.loss.dtype == plain.loss.dtype == torch.float32
    torch.testing.assert_close(sliced.loss, plain.loss, rtol=1e-5, atol=0)
    for name, grad in exact_grads.items():
        assert sliced_grads[name].dtype == torch.float32
        assert (sliced_grads[name] - grad).norm() <= 2 * (plain_grads[name] - grad).norm(), name
    every = {key: torch.cat([grads[name].flatten() for name in exact_grads])
             for key, grads in (("sliced", sliced_grads), ("plain", plain_grads), ("exact", exact_grads))}
    assert (every["sliced"] - every["exact"]).norm() <= 1.25 * (every["plain"] - every["exact"]).norm()


class LargestNewTensor(TorchDispatchMode):
    """Records the most elements of any new tensor an operator makes that could hold logits: a multiple of the
    (prime) vocabulary size, which attention scores and activations here are not. Views and in-place results alias
    memory made before (such as ``weight.t()``) and are not counted."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if any(returned.alias_info is not None for returned in func._schema.returns):
            return result
        for tensor in result if isinstance(result, (tuple, list)) else [result]:
            if isinstance(tensor, torch.Tensor) and tensor.numel() % VOCAB == 0:
                self.largest = max(self.largest, tensor.numel())
        return result


@pytest.mark.parametrize("chunked", [True, False])
def test_the_training_forward_never_makes_the_whole_logits(small_slices, chunked):
    model = tiny_model()
    ids, labels = ids_and_labels(batch=4, length=25)  # 4 x 25 x 97 logits: 3x the weight matrix's 97 x 32
    with LargestNewTensor() as probe:
        loss_and_grads(model, ids, labels, chunked=chunked)
    weight = model.lm_head.linear.weight.numel()
    if chunked:  # nothing larger than the weights (their gradient); a slice of logits is 4 x 97
        assert probe.largest == weight
    else:  # the probe does see the logits path's [batch, length, vocab] tensors
        assert probe.largest >= ids.numel() * VOCAB


def _spy(monkeypatch) -> list:
    """Counts calls of the sliced loss."""
    calls, original = [], LinearCrossEntropy.apply

    def counting(*args):
        calls.append(args[0].shape)
        return original(*args)

    monkeypatch.setattr(LinearCrossEntropy, "apply", counting)
    return calls


def test_the_logits_path_stays_where_logits_are_wanted_or_the_loss_is_not_ours(monkeypatch):
    calls = _spy(monkeypatch)
    model = tiny_model()
    ids, labels = ids_and_labels()

    def forward(train=True, **kwargs):
        model.train(train)
        return model(**{"input_ids": ids, "labels": labels, **kwargs})

    reference = forward()
    assert reference.logits is None and len(calls) == 1
    # Evaluation (the Trainer's evaluate, metrics that read logits) gets logits and the same loss.
    evaluated = forward(train=False)
    assert evaluated.logits is not None
    torch.testing.assert_close(evaluated.loss, reference.loss, rtol=1e-5, atol=0)
    assert forward(train=False, skip_logits=True).logits is None  # asked for: sliced in evaluation too
    assert forward(skip_logits=False).logits is not None
    assert forward(logits_to_keep=1, labels=labels[:, -1:]).logits.shape == (3, 1, VOCAB)
    assert len(calls) == 2
    model.config.chunked_loss = False
    assert forward().logits is not None
    model.config.chunked_loss = True
    # A loss set by the user is used, on the logits.
    model.loss_function = lambda logits, labels, vocab_size, **kwargs: logits.float().square().mean()
    custom = forward()
    torch.testing.assert_close(custom.loss, custom.logits.float().square().mean())
    del model._loss_function
    # A head projection that is more than its weight (a LoRA adapter, a quantized layer): the logits path.
    class Shifted(torch.nn.Linear):
        def forward(self, x):
            return super().forward(x) + 1.0

    shifted = Shifted(32, VOCAB, bias=False)
    shifted.weight = model.lm_head.linear.weight
    model.lm_head.linear = shifted
    assert forward().logits is not None
    assert len(calls) == 2


def test_direct_calls_match_for_causal_lm_loss_with_shift_labels_scaling_and_no_grad():
    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(2, 7, 16, generator=generator, requires_grad=True)
    weight = torch.randn(VOCAB, 16, generator=generator, requires_grad=True)
    labels = torch.randint(0, VOCAB, (2, 7), generator=generator)
    labels[1, 2] = -100
    shift_labels = torch.nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]

    expected = ForCausalLMLoss(hidden @ weight.t(), labels, VOCAB)
    expected_grads = torch.autograd.grad(3 * expected, (hidden, weight))
    for slice_tokens in (1, 5, 100):
        for kwargs in ({"labels": labels}, {"shift_labels": shift_labels}):
            loss = linear_cross_entropy_loss(hidden, weight, slice_tokens=slice_tokens, **kwargs)
            torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0)
            # A scaled loss (gradient accumulation, loss scaling) scales the gradients made in forward.
            for grad, reference in zip(torch.autograd.grad(3 * loss, (hidden, weight)), expected_grads):
                assert_relatively_close(grad, reference, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy_loss(hidden, weight, labels), expected, rtol=1e-5, atol=0)
    # The gradients are handed on scaled in place: a second backward through a retained graph is refused, not wrong.
    loss = linear_cross_entropy_loss(hidden, weight, labels)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward per forward"):
        loss.backward()
    # No counted token: NaN, as ForCausalLMLoss's mean over nothing.
    assert linear_cross_entropy_loss(hidden, weight, torch.full_like(labels, -100)).isnan()


@pytest.fixture
def workspace(tmp_path):
    """A small corpus and a one-token-per-character tokenizer matching tiny_model's vocabulary."""
    from hf_tinylm.training.data import default_corpus_path

    with open(default_corpus_path(), encoding="utf-8") as handle:
        (tmp_path / "corpus.txt").write_text(handle.read(20_000), encoding="utf-8")
    char_tokenizer().save_pretrained(tmp_path / "char-tokenizer")
    return tmp_path


def test_tinylm_train_takes_the_sliced_path_without_a_flag(workspace, monkeypatch):
    """``tinylm train`` and ``tinylm compare`` both run hf_tinylm.training.train (transformers' Trainer)."""
    from hf_tinylm.training import train

    calls = _spy(monkeypatch)
    config = {
        "model": {"tinylm": {"hidden_size": 32, "max_position_embeddings": 64,
                             "core": {"num_layers": 2, "attention": {"num_heads": 4, "group_size": 2},
                                      "ffn": {"ffn_dim": 64}}}},
        "tokenizer": {"type": "pretrained", "path": str(workspace / "char-tokenizer")},
        "data": {"dataset": str(workspace / "corpus.txt"), "context_length": 32, "cache_dir": str(workspace / "c")},
        "training": {"max_steps": 2, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
                     "logging_steps": 1, "eval_steps": 2, "save_steps": 2},
        "eval_batches": 1,
        "seed": 3,
    }
    result = train(config, output_dir=workspace / "out", report=lambda line: None)
    assert len(calls) == 4  # 2 steps × 2 micro-batches, each [4 × 31 tokens, hidden]
    assert all(shape == (4 * 31, 32) for shape in calls)
    assert result.metrics["eval_loss"] > 0 and result.metrics["train_loss"] > 0  # evaluation: the logits path


def test_compiling_keeps_the_saved_weight_names(tmp_path):
    model = tiny_model()
    names = list(model.state_dict())
    model.compile()  # in place, as bench/train_step.py --compile does
    assert list(model.state_dict()) == names
    wrapped = torch.compile(tiny_model())  # the wrapper prefixes `_orig_mod.`; the module it wraps does not
    assert list(wrapped._orig_mod.state_dict()) == names
    model.save_pretrained(tmp_path)
    with safetensors.safe_open(tmp_path / "model.safetensors", "pt") as saved:
        assert set(saved.keys()) == set(names) - {"lm_head.linear.weight"}  # the tied head is stored once


def test_chunked_loss_is_a_validated_config_field():
    assert TinyLMConfig().chunked_loss is True
    assert TinyLMConfig.from_dict(TinyLMConfig(chunked_loss=False).to_dict()).chunked_loss is False
    with pytest.raises(ValueError, match="chunked_loss"):
        TinyLMConfig(chunked_loss="yes")
