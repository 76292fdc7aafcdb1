"""Small random TinyLM configs and models for tests."""

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from hf_tinylm import TinyLMConfig, TinyLMForCausalLM

POSITIONAL_SCHEMES = ["rope", "learned", "sincos", "none", "alibi", "shaw_relative"]


def tiny_config(
    positional_encoding_type="rope",
    num_heads=4,
    group_size=2,
    ffn_type="swiglu",
    normalization="rms_norm",
    bias=False,
    core_type="generic",
    **overrides,
) -> TinyLMConfig:
    kwargs = dict(
        vocab_size=97,
        hidden_size=32,
        max_position_embeddings=64,
        positional_encoding_type=positional_encoding_type,
        max_relative_position=6,
        core={
            "core_type": core_type,
            "num_layers": 2,
            "attention": {"num_heads": num_heads, "group_size": group_size, "normalization": normalization, "bias": bias},
            "ffn": {"ffn_type": ffn_type, "ffn_dim": 48, "normalization": normalization, "bias": bias},
        },
        head={"normalization": normalization, "bias": bias},
    )
    kwargs.update(overrides)
    return TinyLMConfig(**kwargs)


def tiny_model(attn_implementation="eager", seed=0, **config_kwargs) -> TinyLMForCausalLM:
    torch.manual_seed(seed)
    config = tiny_config(**config_kwargs)
    model = TinyLMForCausalLM._from_config(config, attn_implementation=attn_implementation)
    # Random, non-trivial norms and relative tables so every parameter matters in comparisons.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.add_(0.1 * torch.randn_like(param))
            elif "relative_positions" in name or name.endswith("norm.bias"):
                param.normal_(0.0, 0.2)
    return model.eval()


# 96 characters for ids 0..95 of the tiny models' 97-token vocabulary; 96 is end-of-text.
CHARACTERS = [chr(code) for code in range(32, 127)] + ["\n"]
CHAR_EOS = 96


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per character, matching ``tiny_model``'s vocabulary, so generated ids decode to readable text."""
    vocab = {character: index for index, character in enumerate(CHARACTERS)}
    vocab["<|endoftext|>"] = CHAR_EOS
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
