"""``Generator``: the interface every decoding strategy implements, and the loop they share.

A generator is built as ``Cls(model, tokenizer=None, **options)`` and offers three calls:

- ``generate(prompts, max_new_tokens)`` → one completion string per prompt (the prompt itself not included);
- ``stream(prompt, max_new_tokens)`` → the same completion as text pieces, each yielded once it is settled;
- ``generate_ids(input_ids, max_new_tokens)`` → prompt + new ids, like ``model.generate()`` (no tokenizer needed).

Subclasses only say how the next token is chosen from the last position's logits: which of transformers'
logits processors apply (``logits_processors``) and how a token is picked from the scores (``select``).
Everything else is here: prompts (left padding), end-of-text, stop strings, streaming (on transformers'
``TextStreamer``), and the decoder that produces logits — ours with a static KV cache for TinyLM, transformers'
forward for any other causal LM (see ``decoding.py``).
"""

import contextlib

import torch
from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

from ..modeling.embedder import pad_token_lists
from .decoding import build_decoder, check_prompt
from .stopping import StopStringStreamer, find_stop, normalize_stop


def _as_id_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Generator:
    """Base class: shared options and the decoding loop; subclasses choose tokens.

    Options (keywords): ``stop`` (a string or list of strings ending a completion, excluded from it),
    ``eos_token_id`` (int or list; default: the model's and the tokenizer's end-of-text ids), ``ignore_eos``
    (never stop at end-of-text), ``repetition_penalty`` (1.0: off), ``decoder`` ("auto", "static",
    "transformers", "uncached"; see ``decoding.build_decoder``) and ``compile`` (compile the static decoder's
    one-token step with ``torch.compile``: True or "default", or "max-autotune" — slower to compile, faster to
    run; see ``decoding.COMPILE_MODES``).
    """

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        stop=None,
        eos_token_id=None,
        ignore_eos: bool = False,
        repetition_penalty: float = 1.0,
        decoder: str = "auto",
        compile=False,
    ):
        if not callable(model) or not hasattr(model, "config"):
            raise ValueError(f"model must be a transformers causal LM, got {type(model).__name__}")
        check_repetition_penalty(repetition_penalty)
        self.model = model
        self._tokenizer = tokenizer
        self.stop = normalize_stop(stop)
        self.ignore_eos = ignore_eos
        self._eos_token_id = eos_token_id
        self.repetition_penalty = float(repetition_penalty)
        self.decoder = build_decoder(model, decoder, compile)

    # ---- what subclasses define ----------------------------------------------------------------------------
    def logits_processors(self, attention_mask: torch.Tensor = None) -> LogitsProcessorList:
        """transformers' processors that turn the last position's logits into the scores ``select`` picks from,
        in the order ``model.generate()`` applies them. Built for each call: the repetition penalty must skip each
        row's left padding, which it reads off ``attention_mask`` as ``model.generate()`` does."""
        processors = LogitsProcessorList()
        if self.repetition_penalty != 1.0:
            processors.append(
                RepetitionPenaltyLogitsProcessor(self.repetition_penalty, prompt_ignore_length=_padding(attention_mask))
            )
        return processors

    def process_logits(
        self, logits: torch.Tensor, input_ids: torch.Tensor = None, processors: LogitsProcessorList = None
    ) -> torch.Tensor:
        """Last-position logits [batch, vocab] → the float32 scores ``select`` picks from: ``processors`` (default:
        ``self.logits_processors()``) applied in turn. ``input_ids`` [batch, length] is the prompt followed by the
        ids chosen so far; only the repetition penalty reads it."""
        if processors is None:
            processors = self.logits_processors()
        if self.repetition_penalty != 1.0 and input_ids is None:
            raise ValueError(
                f"repetition_penalty={self.repetition_penalty!r} needs input_ids (the prompt and the ids chosen "
                "so far); allowed: input_ids given, or repetition_penalty=1.0"
            )
        scores = logits.float()
        # The processors are called one by one rather than through LogitsProcessorList.__call__, which inspects
        # every processor's signature at every call: 0.2-0.3 ms per token for all five sampling options, 1.6x the
        # loop's time at vocab 4,096 (bench/sampling_overheads.py, docs/benchmarks.md).
        for processor in processors:
            scores = processor(input_ids, scores)
        return scores

    def select(self, scores: torch.Tensor, random_generator) -> torch.Tensor:
        """Scores [batch, vocab] → next token ids [batch]."""
        raise NotImplementedError

    def new_random_generator(self, seed=None):
        """A ``torch.Generator`` for one generation call, or None to use torch's global one."""
        return None

    # ---- model and tokenizer facts ---------------------------------------------------------------------------
    @property
    def tokenizer(self):
        """The tokenizer given at construction, else the one attached to the model (``model.tokenizer``)."""
        if self._tokenizer is not None:
            return self._tokenizer
        return getattr(self.model, "tokenizer", None)

    def _require_tokenizer(self):
        tokenizer = self.tokenizer
        if tokenizer is None:
            raise ValueError(
                f"{type(self).__name__} needs a tokenizer for text: pass tokenizer= (any transformers tokenizer) "
                "or attach one to the model (model.set_tokenizer(...)); generate_ids works without one"
            )
        return tokenizer

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except (AttributeError, StopIteration):
            return torch.device("cpu")

    @property
    def eos_token_ids(self) -> list:
        if self.ignore_eos:
            return []
        if self._eos_token_id is not None:
            return _as_id_list(self._eos_token_id)
        ids = []
        generation_config = getattr(self.model, "generation_config", None)
        tokenizer = self.tokenizer
        for source in (generation_config, self.model.config, tokenizer):
            for token_id in _as_id_list(getattr(source, "eos_token_id", None)):
                if token_id not in ids:
                    ids.append(token_id)
        return ids

    @property
    def pad_token_id(self) -> int:
        tokenizer = self.tokenizer
        for source in (getattr(self.model, "generation_config", None), self.model.config, tokenizer):
            token_id = getattr(source, "pad_token_id", None)
            if isinstance(token_id, int):
                return token_id
        eos = self.eos_token_ids or _as_id_list(getattr(self.model.config, "eos_token_id", None))
        return eos[0] if eos else 0

    # ---- token ids -------------------------------------------------------------------------------------------
    def generate_ids(
        self, input_ids: torch.Tensor, max_new_tokens: int = 64, attention_mask: torch.Tensor = None, seed: int = None
    ) -> torch.LongTensor:
        """Prompt + new ids [batch, prompt + n], n ≤ ``max_new_tokens``; rows that ended early (end-of-text kept,
        as ``model.generate()`` does) are padded with the pad id. Left-padded batches take an ``attention_mask``."""
        input_ids, attention_mask = check_prompt(torch.as_tensor(input_ids, device=self.device), attention_mask)
        eos = torch.tensor(self.eos_token_ids, dtype=torch.long, device=input_ids.device)
        pad = self.pad_token_id
        finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        new_ids = []
        with self._eval_mode():
            for next_ids in self.token_steps(input_ids, attention_mask, max_new_tokens, seed):
                next_ids = next_ids.masked_fill(finished, pad)
                new_ids.append(next_ids)
                if eos.numel():
                    finished |= torch.isin(next_ids, eos)
                    if bool(finished.all()):
                        break
        if not new_ids:
            return input_ids
        return torch.cat([input_ids, torch.stack(new_ids, dim=1)], dim=1)

    def token_steps(self, input_ids, attention_mask, max_new_tokens: int, seed: int = None):
        """Yield the chosen ids [batch] step by step; stop iterating to stop generating."""
        _check_max_new_tokens(max_new_tokens)
        if max_new_tokens == 0:
            return
        session = self.decoder.session(input_ids, attention_mask, max_new_tokens)
        random_generator = self.new_random_generator(seed)
        logits = session.prefill()
        processors = self.logits_processors(session.attention_mask)
        context = None
        if processors:
            # What transformers' processors read as input_ids: the prompt (its padding included, as in
            # model.generate(); the repetition penalty skips it) followed by the ids chosen so far.
            prompt_length = session.input_ids.shape[1]
            context = session.input_ids.new_empty(session.input_ids.shape[0], prompt_length + max_new_tokens)
            context[:, :prompt_length] = session.input_ids
        for step in range(max_new_tokens):
            known = None if context is None else context[:, : prompt_length + step]
            next_ids = self.select(self.process_logits(logits, known, processors), random_generator)
            yield next_ids
            if step + 1 == max_new_tokens:
                break
            if context is not None:
                context[:, prompt_length + step] = next_ids
            logits = session.step(next_ids)

    # ---- text ------------------------------------------------------------------------------------------------
    def encode(self, prompts: list) -> tuple:
        """Prompts → left-padded ids [batch, length] and attention mask. An empty prompt starts from the
        beginning-of-text id (or end-of-text, GPT-2's document separator)."""
        tokenizer = self._require_tokenizer()
        rows = [list(ids) for ids in tokenizer(list(prompts))["input_ids"]]
        for row in rows:
            if not row:
                start = getattr(tokenizer, "bos_token_id", None)
                if start is None:
                    start = (self.eos_token_ids or _as_id_list(getattr(tokenizer, "eos_token_id", None)) or [None])[0]
                if start is None:
                    raise ValueError("an empty prompt needs a beginning- or end-of-text token to start from")
                row.append(start)
        # The pad id is the model's (generation config first), which the tokenizer may not know: our helper, not
        # tokenizer.pad, which pads with the tokenizer's own pad token only.
        input_ids, attention_mask = pad_token_lists(rows, self.pad_token_id, "left")
        return input_ids.to(self.device), attention_mask.to(self.device)

    def decode(self, ids: list) -> str:
        return self._require_tokenizer().decode(ids, skip_special_tokens=True)

    def generate(self, prompts, max_new_tokens: int = 64, stop=None, seed: int = None) -> list:
        """One completion per prompt (a single string counts as a list of one). ``stop`` replaces the
        generator's stop strings for this call."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts or not all(isinstance(prompt, str) for prompt in prompts):
            raise ValueError("prompts must be a string or a non-empty list of strings")
        stop = self.stop if stop is None else normalize_stop(stop)
        input_ids, attention_mask = self.encode(prompts)
        eos = set(self.eos_token_ids)
        outputs = [[] for _ in prompts]
        texts = [None] * len(prompts)
        with self._eval_mode():
            for next_ids in self.token_steps(input_ids, attention_mask, max_new_tokens, seed):
                for row, token_id in enumerate(next_ids.tolist()):
                    if texts[row] is not None:
                        continue
                    if token_id in eos:
                        texts[row] = self.decode(outputs[row])
                        continue
                    outputs[row].append(token_id)
                    if stop:
                        text = self.decode(outputs[row])
                        cut = find_stop(text, stop)
                        if cut != -1:
                            texts[row] = text[:cut]
                if all(text is not None for text in texts):
                    break
        for row, text in enumerate(texts):
            if text is None:
                text = self.decode(outputs[row])
                cut = find_stop(text, stop) if stop else -1
                texts[row] = text if cut == -1 else text[:cut]
        return texts

    def stream(self, prompt: str, max_new_tokens: int = 64, stop=None, seed: int = None):
        """Yield the completion of one prompt piece by piece; the pieces join to ``generate([prompt])[0]``.

        Pieces are what transformers' ``TextStreamer`` finalizes (an unfinished UTF-8 character, or a symbol, waits
        for the next space), minus a tail that might be the start of a stop string, which waits for the next tokens
        (``stopping.StopStringStreamer``).
        """
        if not isinstance(prompt, str):
            raise ValueError(f"stream takes one prompt string, got {type(prompt).__name__}")
        stop = self.stop if stop is None else normalize_stop(stop)
        streamer = StopStringStreamer(self._require_tokenizer(), stop)
        input_ids, attention_mask = self.encode([prompt])
        eos = set(self.eos_token_ids)
        output = []
        with self._eval_mode():
            for next_ids in self.token_steps(input_ids, attention_mask, max_new_tokens, seed):
                token_id = int(next_ids[0])
                if token_id in eos:
                    break
                output.append(token_id)
                streamer.put(next_ids.cpu())
                yield from streamer.take()
                # The same test as generate()'s, so both stop at the same token: the streamer's own text may lag
                # behind (TextStreamer keeps symbols until the next space).
                if streamer.stopped or (stop and find_stop(self.decode(output), stop) != -1):
                    break
        streamer.end()
        yield from streamer.take()

    @contextlib.contextmanager
    def _eval_mode(self):
        """Generation never uses dropout; the model's training flag is restored afterwards."""
        was_training = getattr(self.model, "training", False)
        if was_training:
            self.model.eval()
        try:
            yield
        finally:
            if was_training:
                self.model.train()


def _padding(attention_mask):
    """Leading padding of each row of a left-padded ``attention_mask`` ([batch] counts), or None without a mask."""
    if attention_mask is None:
        return None
    return (attention_mask.cumsum(dim=-1) == 0).sum(dim=-1)


def check_repetition_penalty(repetition_penalty):
    penalty_ok = isinstance(repetition_penalty, (int, float)) and not isinstance(repetition_penalty, bool)
    if not penalty_ok or repetition_penalty <= 0:
        raise ValueError(f"repetition_penalty={repetition_penalty!r} is invalid; allowed: a number > 0 (1 means off)")


def _check_max_new_tokens(max_new_tokens):
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} is invalid; allowed: an integer >= 0")
