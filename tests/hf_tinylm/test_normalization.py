"""RMSNorm against transformers' own LlamaRMSNorm: the same numbers, bit for bit, in every dtype path."""

import pytest
import torch
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from hf_tinylm.modeling.normalization import RMSNorm


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(1, 1, 64), (3, 17, 96), (2, 5, 256)])
def test_rms_norm_equals_llamas_bit_for_bit(dtype, shape):
    # float32 takes the fused kernel with the weight inside; other dtypes normalise in float32 and scale after.
    generator = torch.Generator().manual_seed(sum(shape))
    ours, llama = RMSNorm(shape[-1], eps=1e-6), LlamaRMSNorm(shape[-1], eps=1e-6)
    with torch.no_grad():
        weight = torch.randn(shape[-1], generator=generator) + 1
        ours.weight.copy_(weight)
        llama.weight.copy_(weight)
    ours, llama = ours.to(dtype), llama.to(dtype)
    states = (torch.randn(shape, generator=generator) * 3).to(dtype)
    assert torch.equal(ours(states), llama(states))


def test_rms_norm_with_bias_adds_it_after_the_scale():
    norm = RMSNorm(8, eps=1e-6, bias=True)
    with torch.no_grad():
        norm.bias.fill_(0.5)
    states = torch.randn(2, 8)
    plain = RMSNorm(8, eps=1e-6)
    torch.testing.assert_close(norm(states), plain(states) + 0.5)
