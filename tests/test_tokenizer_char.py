"""CharTokenizer: one id per character, specials after them, clear errors."""

import pytest
from hypothesis import given, settings, strategies as st

from minitx.tokenizers import CharTokenizer

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer.train(TEXT, special_tokens=["<|endoftext|>"])


def test_ids_are_the_sorted_characters_then_the_specials(tok):
    chars = sorted(set(TEXT))
    assert tok.vocab_size == len(chars) + 1
    assert tok.encode("Fa") == [chars.index("F"), chars.index("a")]
    assert tok.special_tokens == {"<|endoftext|>": len(chars)}


@settings(deadline=None)
@given(st.text(alphabet=sorted(set(TEXT))), st.text(alphabet=sorted(set(TEXT))))
def test_decode_encode_round_trips(tok, a, b):
    text = a + "<|endoftext|>" + b
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode(text).count(tok.token_to_id("<|endoftext|>")) == 1  # '<' and '|' are not in TEXT


def test_specials_are_not_learned_as_characters():
    tok = CharTokenizer.train("ab<|x|>", special_tokens=["<|x|>"])
    assert tok.vocab_size == 3 and tok.encode("b<|x|>a") == [1, 2, 0]


def test_unknown_characters_and_ids_are_named(tok):
    with pytest.raises(ValueError, match=r"character 'Z' \(U\+005A\) at position 3 is not in the vocab"):
        tok.encode("Fa Z")
    with pytest.raises(ValueError, match=r"character '\\x00' \(U\+0000\) at position 14"):
        tok.encode("<|endoftext|>F\x00")
    with pytest.raises(ValueError, match="id -1 is outside the vocab"):
        tok.decode([0, -1])
    with pytest.raises(KeyError, match="'Z'"):
        tok.token_to_id("Z")


def test_save_load_round_trip_and_files(tok, tmp_path):
    tok.save(tmp_path / "chars.json")
    again = CharTokenizer.load(tmp_path / "chars.json")
    assert again.encode(TEXT + "<|endoftext|>") == tok.encode(TEXT + "<|endoftext|>")
    (tmp_path / "corpus.txt").write_text(TEXT, encoding="utf-8")
    assert CharTokenizer.train(tmp_path / "corpus.txt").encode(TEXT) == CharTokenizer.train(TEXT).encode(TEXT)


@pytest.mark.parametrize("content, message", [
    ('{"type": "char", "chars": ["a",\n"b",\n"a"], "special_tokens": []}',
     r"chars.json:3: chars\[2\] = 'a' repeats chars\[0\]"),
    ('{"type": "char", "chars": ["ab"], "special_tokens": []}',
     r"chars.json:1: chars\[0\] = 'ab' is not a single character"),
    ('{"type": "char", "chars": ["a"],\n "special_tokens": ["<s>", "<s>"]}',
     r"chars.json:2: special token '<s>' is given twice"),
    ('{"type": "bpe"}', r"chars.json: expected a JSON object \{'type': 'char'"),
    ('{"type": "char",\n "chars": [a]}', r"chars.json:2:12: invalid JSON"),
])
def test_malformed_files_name_the_file_and_line(tmp_path, content, message):
    (tmp_path / "chars.json").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        CharTokenizer.load(tmp_path / "chars.json")
