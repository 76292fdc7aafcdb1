"""GPT-2's byte <-> character table, shared by every byte-level tokenizer here.

A `tokenizers` BPE model works on strings, so byte-level tokenizers (GPT-2's, and our BPE) spell each
byte as one printable character: the printable Latin-1 bytes stand for themselves, every other byte
(controls, space, 0x7F-0xA0, 0xAD) is shifted up to U+0100 and beyond. This is the table the
`tokenizers` `ByteLevel` pre-tokenizer and decoder use, so token strings built here match theirs.
"""

from __future__ import annotations

from collections.abc import Sequence


def _build_byte_to_char() -> dict[int, str]:
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    byte_to_char = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in byte_to_char:
            byte_to_char[b] = chr(256 + shifted)
            shifted += 1
    return byte_to_char


BYTE_TO_CHAR: dict[int, str] = _build_byte_to_char()
CHAR_TO_BYTE: dict[str, int] = {c: b for b, c in BYTE_TO_CHAR.items()}


def bytes_to_token_string(data: bytes) -> str:
    """Spell raw bytes the way a byte-level `tokenizers` model names its tokens."""
    # latin-1 maps byte b to code point b, so BYTE_TO_CHAR is already a str.translate table: one C call.
    return data.decode("latin-1").translate(BYTE_TO_CHAR)


def token_string_to_bytes(token: str) -> bytes:
    """Inverse of `bytes_to_token_string`; KeyError if `token` holds a character outside the table."""
    return bytes(CHAR_TO_BYTE[c] for c in token)


def merge_pair(merge: str | Sequence[str]) -> Sequence[str]:
    """A merge as `tokenizers` serializes it: "first second" (older files) or ["first", "second"]."""
    return merge.split(" ") if isinstance(merge, str) else merge
