"""BPETokenizer encoding: identical ids to the original rank-merge algorithm, and its .model files."""

import pytest
from bpe_reference import reference_decode, reference_encode
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_test_helpers import EDGE_CASE_TEXTS, SOME_EXAMPLES

from tokenizers_ext import BPETokenizer

# A small alphabet so random merges actually apply: ASCII, a space and newline, two-byte "é" and
# four-byte "🎉" (whose bytes can merge into pieces of a character).
ALPHABET = "ab \n.é🎉"
ALPHABET_BYTES = sorted(set(ALPHABET.encode()))


@st.composite
def random_merges(draw, max_merges=25):
    """Valid merges: each names bytes or earlier merges, no pair twice, no two tokens with the same bytes."""
    token_bytes = {b: bytes([b]) for b in ALPHABET_BYTES}
    merges, seen_bytes = [], set(token_bytes.values())
    for _ in range(draw(st.integers(0, max_merges))):
        ids = sorted(token_bytes)
        pair = (draw(st.sampled_from(ids)), draw(st.sampled_from(ids)))
        merged = token_bytes[pair[0]] + token_bytes[pair[1]]
        if pair in merges or merged in seen_bytes:
            continue
        token_bytes[256 + len(merges)] = merged
        seen_bytes.add(merged)
        merges.append(pair)
    return merges


texts_from_alphabet = st.text(alphabet=ALPHABET, max_size=60)


@pytest.mark.parametrize("pre_split", ["none", "gpt2"])
@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(merges=random_merges(), text=texts_from_alphabet)
def test_ids_equal_the_original_rank_merge_encoder(pre_split, merges, text):
    tok = BPETokenizer(merges=merges, pre_split=pre_split)
    ids = tok.encode(text)
    assert ids == reference_encode(text, merges, pre_split)
    assert tok.decode(ids) == text == reference_decode(ids, merges)


@pytest.mark.parametrize("pre_split", ["none", "gpt2"])
@settings(max_examples=SOME_EXAMPLES, deadline=None)
@given(merges=random_merges(), text=st.text(max_size=80))
def test_ids_equal_the_original_on_any_unicode(pre_split, merges, text):
    assert BPETokenizer(merges=merges, pre_split=pre_split).encode(text) == reference_encode(text, merges, pre_split)


def test_merges_cross_spaces_without_pre_split_and_not_with_it():
    merges = [(ord("a"), ord(" ")), (256, ord("b"))]  # "a " then "a b"
    assert BPETokenizer(merges=merges).encode("a b") == [257]
    assert BPETokenizer(merges=merges, pre_split="gpt2").encode("a b") == [ord("a"), ord(" "), ord("b")]


def test_lowest_merge_id_wins_and_runs_merge_left_to_right():
    aa = (ord("a"), ord("a"))
    assert BPETokenizer(merges=[aa]).encode("aaa") == [256, ord("a")]
    assert BPETokenizer(merges=[aa]).encode("aaaa") == [256, 256]
    # "abc": (b, c) has the lower merge id, so it wins over (a, b) although (a, b) comes first.
    merges = [(ord("b"), ord("c")), (ord("a"), ord("b"))]
    assert BPETokenizer(merges=merges).encode("abc") == [ord("a"), 256]


def test_specials_are_the_last_two_ids():
    tok = BPETokenizer(merges=[(ord("h"), ord("i"))])
    assert tok.vocab_size == len(tok) == 259
    assert (tok.pad_token_id, tok.eot_token_id) == (257, 258)
    assert (tok.pad_token, tok.eos_token) == ("<|pad|>", "<|endoftext|>")
    assert tok.decode([256, tok.pad_token_id, tok.eot_token_id]) == "hi<|pad|><|endoftext|>"
    assert tok.decode([256, tok.eot_token_id], skip_special_tokens=True) == "hi"


def test_special_token_text_is_encoded_as_plain_bytes():
    tok = BPETokenizer()
    for text in ("<|endoftext|>", "<|pad|>"):
        assert tok.encode(text) == list(text.encode())
        assert tok(text)["input_ids"] == list(text.encode())


@pytest.mark.parametrize("text", EDGE_CASE_TEXTS)
def test_edge_cases_match_the_reference_and_round_trip(text):
    merges = [(32, 32), (10, 10), (0xF0, 0x9F), (256, 32)]
    tok = BPETokenizer(merges=merges)
    assert tok.encode(text) == reference_encode(text, merges)
    assert tok.decode(tok.encode(text)) == text


def test_stlm_merges_file_round_trip(tmp_path):
    merges = [(104, 101), (256, 108), (108, 111), (257, 258)]
    path = tmp_path / "bpe.model"
    BPETokenizer(merges=merges).save_stlm_merges(path)
    assert path.read_text() == "104 101\n256 108\n108 111\n257 258\n"
    loaded = BPETokenizer.from_stlm_merges(path)
    assert loaded.merges == merges
    assert loaded.encode("hello") == [259]
    assert [p.name for p in tmp_path.iterdir()] == ["bpe.model"]  # no temporary files left


def test_empty_merges_file_gives_the_byte_tokenizer(tmp_path):
    path = tmp_path / "empty.model"
    path.write_text("")
    tok = BPETokenizer.from_stlm_merges(path)
    assert tok.vocab_size == 258 and tok.encode("hé") == list("hé".encode())


def test_windows_line_endings_are_accepted(tmp_path):
    path = tmp_path / "crlf.model"
    path.write_bytes(b"97 98\r\n256 99\r\n")
    assert BPETokenizer.from_stlm_merges(path).merges == [(97, 98), (256, 99)]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"97 98\n256", r"line 2 is '256'.*truncated or corrupt"),
        (b"97 98\n97 x\n", r"line 2 is '97 x'; token ids are integers"),
        (b"97 257\n", r"line 1 names token id 257, but only ids 0..255"),
        (b"97 98\n-1 98\n", r"line 2 names token id -1"),
        (b"97 98\n99 100\n97 98\n", r"line 3 repeats the merge 97 98 of line 1"),
        (b"\x80\xff\x00binary", r"not a merges text file"),
        (b"97 98\n97 98 99\n", r"line 2 is '97 98 99'"),
    ],
)
def test_corrupt_merges_files_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "broken.model"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"broken.model: {message}"):
        BPETokenizer.from_stlm_merges(path)


def test_merges_that_tokenizers_cannot_express_are_refused_clearly(tmp_path):
    # (a, bc) and (ab, c) both make b"abc": the original gives them two ids, a tokenizers
    # vocabulary can hold only one.
    duplicate = tmp_path / "duplicate.model"
    duplicate.write_text("98 99\n97 98\n97 256\n257 99\n")
    with pytest.raises(ValueError, match=r"duplicate.model: merge 3 \(id 259\) makes the bytes b'abc' of id 258"):
        BPETokenizer.from_stlm_merges(duplicate)
    spelled = tmp_path / "spelled.model"
    lines, previous = [], None
    for char in "<|pad|>":
        if previous is None:
            previous = ord(char)
            continue
        lines.append(f"{previous} {ord(char)}")
        previous = 256 + len(lines) - 1
    spelled.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"spelled.model: merge 5 .* spells the special token '<\|pad\|>'"):
        BPETokenizer.from_stlm_merges(spelled)


def test_constructor_arguments_are_checked():
    with pytest.raises(ValueError, match=r"pre_split must be one of \('none', 'gpt2'\), got 'bert'"):
        BPETokenizer(pre_split="bert")
    with pytest.raises(ValueError, match="merge 0 .* names token id 300"):
        BPETokenizer(merges=[(97, 300)])
    with pytest.raises(ValueError, match="a merge is a pair of int token ids"):
        BPETokenizer(merges=[(97, "b")])


def test_merges_property_is_a_copy():
    tok = BPETokenizer(merges=[(97, 98)])
    tok.merges.append((1, 2))
    assert tok.merges == [(97, 98)]
