"""``ThreadedLinear`` (hf_tinylm/modeling/linear.py): few-row CPU inference products split over the threads give
``F.linear``'s numbers, everything else takes ``F.linear`` itself, and the model's projections are ThreadedLinear
under the same saved names."""

import pytest
import torch
from model_factory import tiny_model

from hf_tinylm.modeling import linear
from hf_tinylm.modeling.linear import ThreadedLinear, split_linear, split_parts


@pytest.fixture
def two_threads():
    """The split path needs at least two threads; the CI machine has two cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("parts", [2, 3, 4])
@pytest.mark.parametrize("out_features", [192, 97], ids=["whole-blocks", "remainder-rows"])
@pytest.mark.parametrize("shape", [(1, 64), (3, 1, 64), (2, 8, 64)], ids=["2d", "one-token", "16-rows"])
@pytest.mark.parametrize("bias", [False, True])
def test_split_product_equals_f_linear(parts, out_features, shape, bias):
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(64, out_features, bias=bias)
    x = torch.randn(shape, generator=generator)
    expected = torch.nn.functional.linear(x, layer.weight, layer.bias)
    with torch.inference_mode():
        actual = split_linear(x, layer.weight, layer.bias, parts)
    assert actual.shape == expected.shape
    # The same dot products, possibly summed in another order by the batched kernel: float32's default tolerance.
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("out_features", [192, 97], ids=["whole-blocks", "remainder-rows"])
def test_split_product_reads_views_where_they_lie(out_features):
    """The blocks are strided views of the operands' storage: a weight and an input that start inside a larger
    tensor (a storage offset), and an input whose rows are not contiguous (the last position of a prompt, as the
    head reads it), give F.linear's numbers too."""
    generator = torch.Generator().manual_seed(1)
    storage = torch.randn(out_features + 10, 64, generator=generator)
    weight = storage[7 : 7 + out_features]  # contiguous, offset by 7 rows
    hidden = torch.randn(3, 8, 64, generator=generator)
    inputs = {
        "offset rows": hidden[1, 2:4],  # contiguous [2, 64], offset into `hidden`
        "last positions": hidden[:, -1:, :],  # [3, 1, 64], rows 8 positions apart
    }
    with torch.inference_mode():
        for name, x in inputs.items():
            assert x.is_contiguous() == (name == "offset rows")
            for parts in (2, 3):
                torch.testing.assert_close(
                    split_linear(x, weight, None, parts), torch.nn.functional.linear(x, weight), msg=name
                )
        with pytest.raises(ValueError, match="contiguous weight"):
            split_linear(hidden[0], weight.T.contiguous().T, None, 2)


def test_split_path_is_taken_only_for_few_row_float32_inference_on_cpu(two_threads):
    weight = torch.nn.Parameter(torch.randn(256, 256))
    one_token = torch.randn(1, 1, 256)
    with torch.inference_mode():
        assert split_parts(one_token, weight) == 2
        assert split_parts(torch.randn(linear.MAX_SPLIT_ROWS, 256), weight) == 2
        assert split_parts(torch.randn(linear.MAX_SPLIT_ROWS + 1, 256), weight) == 1  # a prompt: torch's own GEMM
        assert split_parts(one_token.bfloat16(), weight.bfloat16()) == 1
        assert split_parts(one_token, weight[: linear.MIN_ROWS_PER_THREAD]) == 1  # too few rows to hand out
        assert split_parts(one_token[..., :128], weight[:, :128]) == 1  # a weight that stays in cache
        assert split_parts(one_token, weight.T.contiguous().T) == 1  # rows that are not one view
        assert split_parts(one_token[:, :0], weight) == 1
        with pytest.raises(RuntimeError, match="cannot be multiplied"):  # torch's own message for a wrong width
            ThreadedLinear(256, 256)(one_token[..., :255])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert split_parts(one_token, weight) == 1
    with torch.no_grad():
        assert split_parts(one_token, weight) == 2
    assert split_parts(one_token, weight) == 1  # training: autograd through torch's own product
    torch.set_num_threads(1)
    with torch.inference_mode():
        assert split_parts(one_token, weight) == 1


def test_threaded_linear_calls_the_split_product_when_decoding(two_threads, monkeypatch):
    layer = ThreadedLinear(256, 256)
    calls = []
    monkeypatch.setattr(linear, "split_linear", lambda *args: calls.append(args[-1]) or torch.zeros(1, 256))
    with torch.inference_mode():
        layer(torch.randn(1, 256))
        layer(torch.randn(32, 256))
    assert calls == [2]


@pytest.mark.parametrize("bias", [False, True])
def test_model_projections_are_threaded_and_keep_their_names(two_threads, monkeypatch, bias):
    model = tiny_model(tie_word_embeddings=False, bias=bias).eval()
    threaded = {name for name, module in model.named_modules() if type(module) is ThreadedLinear}
    assert "lm_head.linear" in threaded
    assert {"model.core.h.0.attn.c_attn", "model.core.h.0.attn.c_proj", "model.core.h.0.ffn.linear_1"} <= threaded
    assert "lm_head.linear.weight" in model.state_dict()
    # The tiny model's projections are small (32–97 rows): let them split too.
    monkeypatch.setattr(linear, "MIN_ROWS_PER_THREAD", 8)
    monkeypatch.setattr(linear, "MIN_SPLIT_WEIGHT_ELEMENTS", 0)
    split_calls = []
    real_split = linear.split_linear
    monkeypatch.setattr(linear, "split_linear", lambda *args: split_calls.append(args[-1]) or real_split(*args))
    ids = torch.randint(0, model.config.vocab_size, (2, 1))
    with torch.inference_mode():
        split_logits = model(ids).logits
        assert len(split_calls) == 1 + 2 * 5  # the head, and per layer c_attn, c_proj, linear_1, linear_3, linear_2
        torch.set_num_threads(1)  # the plain product
        plain_logits = model(ids).logits
    assert len(split_calls) == 11
    torch.testing.assert_close(split_logits, plain_logits)


def test_a_resized_untied_head_still_takes_the_sliced_loss():
    model = tiny_model(tie_word_embeddings=False)
    assert model.lm_head.computes_loss_in_slices
    model.resize_token_embeddings(model.config.vocab_size + 3)
    assert type(model.lm_head.linear) is torch.nn.Linear  # transformers builds a plain one
    assert model.lm_head.computes_loss_in_slices
