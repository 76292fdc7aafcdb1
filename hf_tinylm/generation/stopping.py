"""Stop strings: where a completion ends, and which part of a growing completion ``stream`` may show.

Stop strings are searched in the decoded text: the completion ends just before the earliest occurrence of any
of them, and the stop string itself is not part of it. Text search finds a stop string whatever tokens spell it,
across token boundaries or inside one token ("?\\n\\n" contains "\\n\\n").

Why not transformers' ``StopStringCriteria``: it answers the same question on token ids (whether the last token
completes a stop string) but not where the completion ends, so the decoded text would still be searched for the
cut; and it is slower at the sizes we generate. With GPT-2's vocabulary, its checks over a 64-token generation
(batch 1) cost 10.6 ms against 1.1 ms for decoding and searching the text, and building it for a set of stop
strings takes 0.08–0.5 s; only long batched runs check faster with it (batch 8, 256 tokens: 56 against 100 ms,
before the build). ``python bench/sampling_overheads.py``; figures in docs/benchmarks.md.

Streaming is transformers' ``TextStreamer``: it decodes the growing output and hands over text once no later
token can change it (an unfinished UTF-8 character, or a symbol that may start a longer one, waits for the next
space). What it cannot do is hold back a tail that may still become a stop string: ``StopStringStreamer`` adds
that, and cuts the text before the first stop string.
"""

from transformers import TextStreamer


def normalize_stop(stop) -> tuple:
    """``None``, one string or a list of strings → a tuple of non-empty strings."""
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    stop = tuple(stop)
    for item in stop:
        if not isinstance(item, str) or not item:
            raise ValueError(f"stop={item!r} is invalid; allowed: a non-empty string, or a list of them")
    return stop


def find_stop(text: str, stop: tuple) -> int:
    """Index where ``text`` must be cut (the earliest stop string), or -1 when it contains none."""
    cut = -1
    for item in stop:
        index = text.find(item)
        if index != -1 and (cut == -1 or index < cut):
            cut = index
    return cut


def stop_prefix_length(text: str, stop: tuple) -> int:
    """Length of the longest tail of ``text`` that is the beginning of a stop string (and not all of it): the
    next tokens may complete that stop string, and then the tail is not part of the completion."""
    held = 0
    for item in stop:
        for size in range(min(len(item) - 1, len(text)), held, -1):
            if text.endswith(item[:size]):
                held = size
                break
    return held


class StopStringStreamer(TextStreamer):
    """A ``TextStreamer`` for one completion whose text is collected as pieces instead of printed; a piece is
    released once it can no longer be cut away by a stop string, and nothing from the first stop string on is.

    Feed it the new token ids with ``put`` and call ``end()`` when generation stops; ``take()`` returns the
    pieces released since the last call. ``stopped`` turns True once the text contains a stop string.
    """

    def __init__(self, tokenizer, stop: tuple = ()):
        super().__init__(tokenizer, skip_prompt=False, skip_special_tokens=True)
        self.stop = stop
        self.text = ""  # everything TextStreamer has finalized so far
        self.released = 0  # how much of it is in pieces already
        self.stopped = False
        self._pieces = []

    def on_finalized_text(self, text: str, stream_end: bool = False):
        if self.stopped:
            return
        self.text += text
        cut = find_stop(self.text, self.stop)
        if cut != -1:
            self.stopped = True
            settled = cut
        elif stream_end:
            settled = len(self.text)
        else:
            settled = len(self.text) - stop_prefix_length(self.text, self.stop)
        if settled > self.released:
            self._pieces.append(self.text[self.released : settled])
            self.released = settled

    def take(self) -> list:
        pieces, self._pieces = self._pieces, []
        return pieces
