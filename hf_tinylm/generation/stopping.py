"""Stop strings: where a completion ends, and how much of a growing completion is safe to show.

Stop strings are searched in the decoded text, not in token ids: the same string can be spelled by many token
sequences, and a token can carry a stop string in its middle ("?\\n\\n" contains "\\n\\n"). The completion ends
just before the earliest occurrence of any stop string; the stop string itself is not part of it.
"""

# Decoding a token sequence that ends inside a multi-byte UTF-8 character yields this replacement character;
# the text before it is settled, the rest waits for the next token.
REPLACEMENT_CHARACTER = "\ufffd"


def normalize_stop(stop) -> tuple:
    """``None``, one string or a list of strings → a tuple of non-empty strings."""
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    stop = tuple(stop)
    for item in stop:
        if not isinstance(item, str) or not item:
            raise ValueError(f"stop strings must be non-empty strings, got {item!r}")
    return stop


def find_stop(text: str, stop: tuple) -> int:
    """Index where ``text`` must be cut (the earliest stop string), or -1 when it contains none."""
    cut = -1
    for item in stop:
        index = text.find(item)
        if index != -1 and (cut == -1 or index < cut):
            cut = index
    return cut


def settled_length(text: str, stop: tuple) -> int:
    """How many leading characters of an unfinished completion can no longer change or be cut away.

    Held back: a trailing incomplete character, and the longest tail that is the beginning of a stop string
    (the next tokens may complete it, and then that tail is not part of the completion).
    """
    end = len(text)
    while end and text[end - 1] == REPLACEMENT_CHARACTER:
        end -= 1
    held = 0
    for item in stop:
        for size in range(min(len(item) - 1, end), held, -1):
            if text.endswith(item[:size], 0, end):
                held = size
                break
    return end - held
