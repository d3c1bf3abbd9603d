"""A prepared corpus in Python: text read in chunks cut where words end (the ids of the
chunks are the ids of the whole text), the token file's layout and its checks, and the
dataset that reads it by memory map (the same batches as the text's TokenDataset)."""
import json
import os
import re
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minitx.data import TokenDataset, TokenFileDataset
from minitx.data import text_chunks as chunks_module
from minitx.data.text_chunks import text_chunks
from minitx.data.token_file import MAGIC, TokenFile, TokenFileError, is_token_file, write_token_file
from minitx.tokenizers import BPETokenizer, CharTokenizer

many = settings(max_examples=max(100, settings().max_examples), deadline=None)

# pieces that try the cut rule: whitespace runs before and after words, contractions, a
# multi-byte letter, a non-ASCII space, a special token
PIECES = ["the", "cat", "'s", "don't", " ", "  ", "\n", "\n\n", " \n", "\n ", "\t", "\r\n", "é", "日本", "\u00a0",
          "\u3000", "!", "...", "42", "<|endoftext|>"]
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def _write(tmp_path, text, name="t.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def _chunks(paths, chunk_bytes):
    return [text for text, _ in text_chunks(paths, chunk_bytes)]


@pytest.fixture(scope="module")
def bpe():
    corpus = "".join(PIECES) * 3 + "the cat's hat, don't 42 times\n  the end.\n"
    return BPETokenizer.train(corpus, 300, min_frequency=1)


@many
@given(text=texts, chunk_bytes=st.integers(1, 12))
def test_chunks_give_the_text_and_the_same_ids(tmp_path_factory, bpe, text, chunk_bytes):
    """Cut anywhere a word ends, the chunks join into the file's text, and BPE ids of the
    chunks one by one are the ids of the whole text (no forced cuts: MAX_CHUNKS out of reach)."""
    path = _write(tmp_path_factory.mktemp("c"), text)
    with mock.patch.object(chunks_module, "MAX_CHUNKS", 10 ** 6):
        pieces = _chunks([path], chunk_bytes)
    assert "".join(pieces) == text
    assert all(pieces)
    assert sum((bpe.encode(p) for p in pieces), []) == bpe.encode(text)


def test_chunks_are_cut_after_a_word_that_whitespace_follows(tmp_path):
    path = _write(tmp_path, "one two\n  three four")
    assert _chunks([path], 9) == ["one two", "\n  three", " four"]


def test_a_byte_order_mark_is_dropped_and_files_follow_each_other(tmp_path):
    a = _write(tmp_path, "\ufeffab\n", "a.txt")
    b = _write(tmp_path, "\ufeffcd", "b.txt")
    assert "".join(_chunks([a, b], 2)) == "ab\ncd"


def test_a_text_without_whitespace_is_cut_at_a_character_boundary(tmp_path, monkeypatch):
    monkeypatch.setattr(chunks_module, "MAX_CHUNKS", 2)
    text = "日本語" * 5   # 3-byte characters, no whitespace
    pieces = _chunks([_write(tmp_path, text)], 4)
    assert "".join(pieces) == text and len(pieces) > 1
    assert max(len(p.encode()) for p in pieces) < (2 + 1) * 4   # a buffer under 2 chunks, then one more read


def test_invalid_utf8_names_the_file_line_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine line\nsecond line\nthird \xff line\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: invalid UTF-8 \(byte 0xff at offset 28"):
        _chunks([path], 8)


# ---- the file ----------------------------------------------------------------------------

def _ids_file(tmp_path, ids, tokenizer, val_fraction=0.1, name="c.bin", pieces=3):
    path = tmp_path / name
    parts = np.array_split(np.asarray(ids), pieces)
    write_token_file(path, ((p, len(p)) for p in parts), tokenizer, val_fraction, "char")
    return path


def test_the_file_round_trips_with_its_header(tmp_path):
    tok = CharTokenizer.train("abcdef\n")
    ids = np.random.default_rng(0).integers(0, tok.vocab_size, 1000)
    path = _ids_file(tmp_path, ids, tok, val_fraction=0.25)
    f = TokenFile(path)
    assert is_token_file(path) and f.dtype == np.dtype("<u2")
    assert (f.tokens, f.val_tokens, f.header["characters"], f.val_fraction) == (1000, 250, 1000, 0.25)
    np.testing.assert_array_equal(f.ids(), ids)
    assert f.offset % 64 == 0
    assert f.tokenizer.decode([0, 1, 2]) == tok.decode([0, 1, 2])
    f.verify()
    assert path.stat().st_size == f.offset + 2000
    assert not (tmp_path / "c.bin.partial").exists()


@pytest.mark.parametrize("V, dtype", [(1 << 16, "<u2"), ((1 << 16) + 1, "<u4")])
def test_ids_are_uint16_while_the_vocab_fits(tmp_path, V, dtype):
    tok = CharTokenizer(chr(0x10000 + i) for i in range(V))
    path = _ids_file(tmp_path, [0, V - 1] * 20, tok)
    f = TokenFile(path)
    assert f.dtype == np.dtype(dtype)
    assert f.ids()[1] == V - 1
    f.verify()


def _damaged(tmp_path, change):
    tok = CharTokenizer.train("abc")
    path = _ids_file(tmp_path, [0, 1, 2] * 100, tok)
    raw = bytearray(path.read_bytes())
    path.write_bytes(bytes(change(raw)))
    return path


def _header_edit(edit):
    def change(raw):
        length = int.from_bytes(raw[8:16], "little")
        header = json.loads(raw[16:16 + length])
        edit(header)
        text = json.dumps(header).encode().ljust(length)
        assert len(text) == length
        return raw[:16] + text + raw[16 + length:]
    return change


@pytest.mark.parametrize("change, message", [
    (lambda raw: raw[:-1], "truncated or damaged"),
    (lambda raw: raw[:30], "too short for its"),
    (lambda raw: raw[:10], "too short for its"),
    (lambda raw: b"XX" + raw[2:], "not a prepared corpus"),
    (lambda raw: raw[:16] + b"[" + raw[17:], "the header is not JSON"),
    (_header_edit(lambda h: h.update(tokens=301)), "truncated or damaged"),
    (_header_edit(lambda h: h.update(val_tokens=31)), re.escape("'val_tokens': expected int(300 * 0.1) = 30, got 31")),
    (_header_edit(lambda h: h.update(dtype="int8")), "'dtype'"),
    (_header_edit(lambda h: h.update(version=9)), "'version'"),
    (_header_edit(lambda h: h.update(sha256="z")), "'sha256'"),
    (_header_edit(lambda h: h.update(tokenizer_class="Pickle")), "'tokenizer_class'"),
    (_header_edit(lambda h: h["tokenizer"].update(type="bpe")), "header 'tokenizer': not a CharTokenizer"),
], ids=["one byte short", "header cut", "prefix cut", "magic", "json", "tokens", "val_tokens", "dtype", "version",
        "sha256", "class", "tokenizer"])
def test_a_damaged_file_is_refused_when_opened(tmp_path, change, message):
    path = _damaged(tmp_path, change)
    with pytest.raises(TokenFileError, match=message):
        TokenFile(path)


@pytest.mark.parametrize("at, message", [(-1, "do not match the header's sha256"),
                                         (None, "holds id 3, outside its tokenizer's vocab of 3")])
def test_verify_rereads_the_ids(tmp_path, at, message):
    tok = CharTokenizer.train("abc")
    if at is None:   # an id the tokenizer lacks, written with a consistent digest
        path = _ids_file(tmp_path, [0, 1, 3] * 100, tok)
    else:
        path = _damaged(tmp_path, lambda raw: raw[:at] + bytes([raw[at] ^ 1]))
    f = TokenFile(path)
    with pytest.raises(TokenFileError, match=message):
        f.verify(block_bytes=64)


def test_a_failed_write_leaves_nothing(tmp_path):
    def chunks():
        yield [0, 1], 2
        raise RuntimeError("reading stopped")
    with pytest.raises(RuntimeError):
        write_token_file(tmp_path / "c.bin", chunks(), CharTokenizer.train("ab"), 0.1, "char")
    assert list(tmp_path.iterdir()) == []


# ---- the dataset ---------------------------------------------------------------------------

def test_the_file_dataset_draws_the_batches_of_the_text_dataset(tmp_path):
    ids = np.random.default_rng(1).integers(0, 50, 5000)
    tok = CharTokenizer(chr(65 + i) for i in range(50))
    f = TokenFile(_ids_file(tmp_path, ids, tok, val_fraction=0.2))
    mapped, plain = TokenFileDataset(f, 16, seed=3), TokenDataset(ids, 16, val_fraction=0.2, seed=3)
    for _ in range(3):
        for a, b in zip(mapped.get_batch(4), plain.get_batch(4)):
            np.testing.assert_array_equal(a, b)
    for (xa, ya), (xb, yb) in zip(mapped.eval_batches(4, 2), plain.eval_batches(4, 2)):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert mapped.state_dict() == plain.state_dict()


def _mapped_kb(path):
    """Resident KB of this process's maps of `path` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            if "-" in line.split(" ", 1)[0]:   # a map's first line: address range, ..., path
                inside = line.rstrip("\n").endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="reads /proc/self/smaps (Linux)")
def test_each_batch_reads_through_a_fresh_map(tmp_path):
    """The pages a batch read leave with its map: after 60 batches the file's resident pages
    are one batch's, not the sum of all (a map kept open grows towards the whole file; pages
    come in pieces of up to 2 MB, hence one window a batch and 60 MB of ids)."""
    tok = CharTokenizer(chr(65 + i) for i in range(50))
    ids = np.random.default_rng(0).integers(0, 50, 30_000_000, dtype=np.uint16)
    f = TokenFile(_ids_file(tmp_path, ids, tok))
    data = TokenFileDataset(f, 64)
    data.get_batch(1)
    one = _mapped_kb(f.path)
    for _ in range(60):
        data.get_batch(1)
    assert 0 < _mapped_kb(f.path) <= 2 * one + 64, f"{_mapped_kb(f.path)} KB mapped after 61 batches, {one} after 1"


def test_magic_is_what_the_file_starts_with(tmp_path):
    path = _ids_file(tmp_path, [0, 1] * 10, CharTokenizer.train("ab"))
    assert path.read_bytes()[:8] == MAGIC
    assert not is_token_file(_write(tmp_path, "minitx text"))
    assert not is_token_file(tmp_path / "missing.bin")
