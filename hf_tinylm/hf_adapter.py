"""Hugging Face models in the seed's shell: embedder → core → head around any local transformers causal LM.

``HFShell.from_pretrained(folder)`` (or ``HFShell(model, tokenizer)``) splits a causal LM into
- ``embedding_model``: its tokenizer (the seed's tokenizer interface) and its input embedding layer;
- ``core_model``: its body (``model.base_model``: GPT-2's ``transformer``, Llama's ``model``, ...) fed
  ``inputs_embeds``, returning the last hidden state (after the body's final norm);
- ``model_head``: its output layer, plus the logit scaling a few families apply after it (Gemma 2's soft cap,
  Cohere's ``logit_scale``, Granite's ``logits_scaling``).
The components are the wrapped model's own modules: training the shell trains the model, and the shell's logits
are the model's (``max_logit_difference`` checks it on any input). A KV cache passed to the shell goes through
the body, so generators that feed one token per step work on the shell itself; ``generate`` is the wrapped
model's (same modules, same logits).

``tinylm compare --pretrained DIR`` evaluates through it; ``experimental.hf_adapter`` re-exports its names.
"""

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.modeling_outputs import CausalLMOutputWithPast

from .modeling.embedder import pad_token_lists
from .modeling.hf_core import HFCore
from .modeling.modeling_tinylm import CACHE_FIELD  # the cache output field's name in this transformers version


class HFTokenizer:
    """The seed's tokenizer interface (encode, encode_batch, decode, decode_batch, pad_batch) over a transformers one."""

    def __init__(self, tokenizer):
        self.hf_tokenizer = tokenizer
        self.eot_token_id = tokenizer.eos_token_id
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eot_token_id
        self.vocab_size = len(tokenizer)

    def encode(self, text: str) -> list:
        return list(self.hf_tokenizer.encode(text, add_special_tokens=False))

    def encode_batch(self, texts: list) -> list:
        return [list(ids) for ids in self.hf_tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def decode(self, token_ids) -> str:
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        return self.hf_tokenizer.decode(token_ids, skip_special_tokens=True)

    def decode_batch(self, token_lists) -> list:
        return [self.decode(ids) for ids in token_lists]

    def pad_batch(self, token_lists: list, direction: str = "right"):
        """(ids [b, s] long, attention mask [b, s] long with 1 on real tokens), padded with ``pad_token_id``."""
        if direction not in ("left", "right"):
            raise ValueError(f"direction={direction!r} is invalid; allowed: 'left', 'right'")
        if self.pad_token_id is None:
            raise ValueError("the tokenizer has neither a pad token nor an end-of-text token to pad with")
        return pad_token_lists(token_lists, self.pad_token_id, direction)


class HFEmbedder(nn.Module):
    """Tokenizer + the wrapped model's input embedding layer."""

    def __init__(self, embeddings: nn.Module, tokenizer=None, context_window: int = None):
        super().__init__()
        self.embeddings = embeddings
        self.context_window = context_window
        self.tokenizer = HFTokenizer(tokenizer) if tokenizer is not None else None

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        return self.embeddings(input_ids)

    def _require_tokenizer(self) -> HFTokenizer:
        if self.tokenizer is None:
            raise ValueError("this shell has no tokenizer; build it with HFShell(model, tokenizer)")
        return self.tokenizer

    def tokenize_input(self, text: str, truncate: bool = False, add_eot: bool = False) -> list:
        tokenizer = self._require_tokenizer()
        ids = tokenizer.encode(text)
        if add_eot:
            ids.append(tokenizer.eot_token_id)
        return self.truncate([ids])[0] if truncate else ids

    def decode(self, token_ids) -> str:
        return self._require_tokenizer().decode(token_ids)

    def truncate(self, token_lists: list) -> list:
        """Keep the most recent ``context_window`` tokens of each sequence."""
        if self.context_window is None:
            return [list(ids) for ids in token_lists]
        return [list(ids)[-self.context_window :] for ids in token_lists]

    def pad_batch(self, token_lists: list, direction: str = "right"):
        return self._require_tokenizer().pad_batch(token_lists, direction)


class HFHead(nn.Module):
    """The wrapped model's output layer and the logit scaling its family applies after it."""

    def __init__(self, output_layer: nn.Module, config):
        super().__init__()
        self.output_layer = output_layer
        self.logit_scale = getattr(config, "logit_scale", None)  # Cohere: multiply
        self.logits_scaling = getattr(config, "logits_scaling", None)  # Granite: divide
        self.softcap = getattr(config, "final_logit_softcapping", None)  # Gemma 2/3: cap · tanh(x / cap)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        logits = self.output_layer(hidden_states)
        if self.logit_scale is not None:
            logits = logits * self.logit_scale
        if self.logits_scaling is not None:
            logits = logits / self.logits_scaling
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


class HFShell(nn.Module):
    """A transformers causal LM as ``embedding_model`` → ``core_model`` → ``model_head``."""

    def __init__(self, model, tokenizer=None):
        super().__init__()
        body = model.base_model
        if body is model:
            raise ValueError(
                f"{type(model).__name__} has no separate body (base_model_prefix={model.base_model_prefix!r}); "
                f"allowed: a causal LM whose body is model.{model.base_model_prefix}"
            )
        output_layer = model.get_output_embeddings()
        if output_layer is None:
            raise ValueError(f"{type(model).__name__} has no output layer (get_output_embeddings() is None)")
        config = model.config
        context = getattr(config, "max_position_embeddings", None)
        self.embedding_model = HFEmbedder(model.get_input_embeddings(), tokenizer, context)
        self.core_model = HFCore(body)
        self.model_head = HFHead(output_layer, config)
        self.config = config
        # The whole model, outside the module tree (its modules already are in it, through the components).
        object.__setattr__(self, "wrapped_model", model)
        object.__setattr__(self, "hf_tokenizer", tokenizer)
        # A new module starts in training mode; the shell takes the wrapped model's (eval after from_pretrained).
        self.train(model.training)

    @classmethod
    def from_pretrained(cls, path, tokenizer=None, dtype=torch.float32, **kwargs) -> "HFShell":
        """Load a local causal LM folder (and its tokenizer, unless one is given) into a shell.

        ``kwargs`` go to both ``AutoModelForCausalLM.from_pretrained`` and, for ``gguf_file``,
        ``trust_remote_code`` and ``revision``, to ``AutoTokenizer.from_pretrained``.
        """
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
        if tokenizer is None:
            shared = {key: kwargs[key] for key in ("gguf_file", "trust_remote_code", "revision") if key in kwargs}
            try:
                tokenizer = AutoTokenizer.from_pretrained(path, **shared)
            except (OSError, ValueError, TypeError):
                tokenizer = None  # a folder without a tokenizer still runs on token ids
        return cls(model, tokenizer)

    @property
    def tokenizer(self):
        """The transformers tokenizer (what generators call); the seed's interface is ``embedding_model.tokenizer``."""
        return self.hf_tokenizer

    @property
    def loss_function(self):
        return self.wrapped_model.loss_function

    def forward(
        self,
        input_ids: torch.LongTensor = None,
        attention_mask: torch.Tensor = None,
        position_ids: torch.LongTensor = None,
        labels: torch.LongTensor = None,
        inputs_embeds: torch.Tensor = None,
        use_cache: bool = None,
        cache=None,
        past_key_values=None,
        logits_to_keep: int = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """embedder → core → head; a KV cache (either name) goes to the body and comes back in the output."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        cache = cache if cache is not None else past_key_values
        use_cache = cache is not None if use_cache is None else use_cache
        if inputs_embeds is None:
            inputs_embeds = self.embedding_model(input_ids)
        outputs = self.core_model(
            inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, cache=cache, use_cache=use_cache
        )
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.model_head(outputs.last_hidden_state[:, keep, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        new_cache = getattr(outputs, CACHE_FIELD, None) if use_cache else None
        return CausalLMOutputWithPast(loss=loss, logits=logits, **{CACHE_FIELD: new_cache})

    # ---- conveniences ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def max_logit_difference(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor = None) -> float:
        """Largest |shell logit − wrapped model logit| on this input (0.0 when the split is exact)."""
        ours = self(input_ids=input_ids, attention_mask=attention_mask).logits
        theirs = self.wrapped_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        return (ours.float() - theirs.float()).abs().max().item()

    @torch.no_grad()
    def inference(self, text: str) -> torch.Tensor:
        """The seed's interface: the next-token logits [vocab] after ``text``."""
        ids = torch.tensor([self.embedding_model.tokenize_input(text, truncate=True)], device=self.device)
        return self(input_ids=ids).logits[0, -1]

    def generate(self, *args, **kwargs):
        """The wrapped model's ``generate`` (same modules, same logits, with its KV cache)."""
        return self.wrapped_model.generate(*args, **kwargs)

    def save_pretrained(self, save_directory, **kwargs):
        """Save the wrapped model (and its tokenizer) as a normal transformers folder."""
        self.wrapped_model.save_pretrained(save_directory, **kwargs)
        if self.hf_tokenizer is not None:
            self.hf_tokenizer.save_pretrained(save_directory)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


__all__ = ["HFShell", "HFTokenizer", "HFEmbedder", "HFCore", "HFHead"]
