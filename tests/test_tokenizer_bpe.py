"""Byte-level BPE: GPT-2's table and regex, round trips, training, files, bad files,
and parity with tiktoken, the tokenizers library and transformers' GPT2Tokenizer.

Nothing can be downloaded, so the reference vocab is trained here on CPython's
own documentation (pydoc_data) and handed, merges and all, to the references.
"""

import json
import sys
import unicodedata

import pytest
from hypothesis import given, settings, strategies as st
from pydoc_data.topics import topics

from minitx.tokenizers import BPETokenizer
from minitx.tokenizers.bpe import BYTE_TO_CHAR, CHAR_TO_BYTE, gpt2_classes, gpt2_pattern

CORPUS = "".join(topics.values())
EOT = "<|endoftext|>"
SPECIALS = [EOT, "<|pad|>"]
# tiktoken's spelling of the GPT-2 regex (the same language as GPT-2's own).
GPT2_REGEX = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# Text that stresses the regex: contractions, runs of spaces before words,
# digits, '_', and characters from all of Unicode. For parity, code points
# unassigned in Python's Unicode database are left out: the references know
# newer Unicode versions and may class them as letters (docs/tokenizers.md).
PIECES = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", " ", "  ", "\n", "\n\n", " \n ", "\t", "\r\n",
          "\u00a0", "\u3000", "\x1c", "_", "__", "1", "23", "4.5", "½", "Ⅻ", "٣", "é", "e\u0301", "😀",
          "中文", "Σ", "ΑΣ", "hello", " world", "don't", "!!", "?", "...", "<|", "|>", EOT, "<|end", "<|pad|>"]
assigned = st.characters(exclude_categories=("Cs", "Cn"))
parity_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(assigned, max_size=4)), max_size=30).map("".join)
any_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=30).map("".join)
# At least 100 examples; more under a deeper hypothesis profile (see conftest.py).
many = settings(max_examples=max(100, settings().max_examples), deadline=None)


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(CORPUS[:150_000] + "中文字 😀 naïve ½ Ⅻ", 1200, special_tokens=SPECIALS)


@pytest.fixture(scope="module")
def gpt2_files(tok, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    tok.save_gpt2_files(folder / "encoder.json", folder / "vocab.bpe")
    return folder / "encoder.json", folder / "vocab.bpe"


@pytest.fixture(scope="module")
def tiktoken_enc(tok):
    tiktoken = pytest.importorskip("tiktoken", reason="tiktoken is the parity reference (extra 'parity')")
    ranks = {bytes(CHAR_TO_BYTE[c] for c in token): i for token, i in tok.vocab.items()}
    return tiktoken.Encoding("minitx-test", pat_str=GPT2_REGEX, mergeable_ranks=ranks,
                             special_tokens=tok.special_tokens)


@pytest.fixture(scope="module")
def hf_tokenizers(tok, gpt2_files, tmp_path_factory):
    """The tokenizers library two ways: our tokenizer.json, and ByteLevelBPETokenizer on our GPT-2 files."""
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the parity reference (extra 'parity')")
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    tok.save(path)
    from_json = tokenizers.Tokenizer.from_file(str(path))
    byte_level = tokenizers.ByteLevelBPETokenizer(str(gpt2_files[0]), str(gpt2_files[1]), add_prefix_space=False)
    byte_level.add_special_tokens(SPECIALS)
    return from_json, byte_level


# ---- GPT-2's table and regex -----------------------------------------------------


def test_byte_table_is_gpt2s():
    assert len(set(BYTE_TO_CHAR.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in BYTE_TO_CHAR.values())
    assert BYTE_TO_CHAR[ord(" ")] == "Ġ" and BYTE_TO_CHAR[ord("\n")] == "Ċ" and BYTE_TO_CHAR[ord("a")] == "a"
    convert = pytest.importorskip("transformers.convert_slow_tokenizer", reason="transformers has GPT-2's table")
    assert BYTE_TO_CHAR == convert.bytes_to_unicode()


def test_regex_classes_match_unicode_categories_at_every_code_point():
    r"""\p{L}, \p{N}, \s and 'other', emulated with stdlib re, against unicodedata."""
    import re

    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    kinds = [category[0] if category[0] in "LN" else "O" for category in map(unicodedata.category, everything)]
    white_space = [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029,
                   0x202F, 0x205F, 0x3000]  # Unicode's White_Space property
    for c in white_space:
        kinds[c] = "S"
    for name, kind in (("letters", "L"), ("numbers", "N"), ("spaces", "S"), ("others", "O")):
        expected = "".join(c for c, k in zip(everything, kinds) if k == kind)
        assert "".join(re.findall(f"(?:{gpt2_classes()[name]})+", everything)) == expected, name


@pytest.mark.parametrize("text, words", [
    ("Hello world", ["Hello", " world"]),
    ("don't I'll we've", ["don", "'t", " I", "'ll", " we", "'ve"]),
    ("DON'T", ["DON", "'", "T"]),  # contractions are lowercase only, as in GPT-2
    ("a   b", ["a", "  ", " b"]),  # \s+(?!\S) leaves the last space to the word
    ("a  \n", ["a", "  \n"]),
    ("x2024 ½Ⅻ", ["x", "2024", " ½Ⅻ"]),
    ("a_b", ["a", "_", "b"]),
    ("a\x1cb", ["a", "\x1c", "b"]),  # \x1c is not White_Space, though str.isspace says so
])
def test_pretokenizer_splits(text, words):
    assert gpt2_pattern().findall(text) == words


def test_pretokenizer_matches_tokenizers_library_on_a_sample_of_unicode():
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the parity reference (extra 'parity')")
    sample = [chr(c) for c in range(0, sys.maxunicode + 1, 23) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    text = "".join(f"a{c}1{c}!{c} {c}{c}'{c}\n" for c in sample)
    theirs = [span for _, span in tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)]
    assert [m.span() for m in gpt2_pattern().finditer(text)] == theirs


# ---- encoding and decoding ------------------------------------------------------


@many
@given(any_text)
def test_decode_encode_round_trips_any_unicode(tok, text):
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode_ordinary(text)) == text


def test_special_tokens_map_to_their_ids_and_are_never_split(tok):
    eot, pad = tok.token_to_id(EOT), tok.token_to_id("<|pad|>")
    assert tok.encode(f"a{EOT}b<|pad|><|pad|") == [
        *tok.encode("a"), eot, *tok.encode("b"), pad, *tok.encode("<|pad|")]
    plain = tok.encode_ordinary(EOT)
    assert len(plain) > 1 and not set(plain) & {eot, pad}
    assert tok.decode([eot]) == EOT


def test_of_two_specials_starting_at_one_place_the_longer_wins(tok):
    """As in the tokenizers library. (tiktoken takes whichever its regex lists first.)"""
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the parity reference (extra 'parity')")
    both = BPETokenizer(tok.vocab, tok.merges, {"<|end": 1198, EOT: 1199})
    theirs = tokenizers.Tokenizer(tokenizers.models.BPE(tok.vocab, tok.merges))
    theirs.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    theirs.add_special_tokens(["<|end", EOT])  # ids 1198, 1199
    text = f"x{EOT}y<|end x"
    assert both.encode(text) == theirs.encode(text).ids
    assert both.encode(text)[1:2] == [1199]


def test_merges_apply_by_rank():
    """'aaabdaaabac', the textbook example: aa, then ab, then aa+ab."""
    tok = BPETokenizer.train("aaabdaaabac", 300, special_tokens=[])
    assert tok.merges == [("a", "a"), ("a", "b"), ("aa", "ab")]
    assert [tok.id_to_token(i) for i in tok.encode("aaabdaaabac")] == ["aaab", "d", "aaab", "a", "c"]
    assert [tok.id_to_token(i) for i in tok.encode("aab")] == ["aa", "b"]  # aa outranks ab


def test_decode_of_a_cut_character_replaces_or_raises(tok):
    ids = tok.encode_ordinary("😀")
    assert len(ids) > 1
    assert tok.decode(ids[:1]) == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        tok.decode(ids[:1], errors="strict")


def test_lone_surrogates_become_replacement_characters(tok, tiktoken_enc):
    assert tok.encode("a\ud800b") == tok.encode("a\ufffdb") == tiktoken_enc.encode("a\ud800b")


def test_encode_batch_is_encode_of_each(tok):
    texts = ["Hello there", "", EOT + " x", "中文"]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_vocab_size_and_interface(tok):
    assert tok.vocab_size == 1200
    assert tok.special_tokens == {EOT: 1198, "<|pad|>": 1199}
    assert tok.id_to_token(tok.token_to_id("Ġthe")) == "Ġthe"
    with pytest.raises(KeyError, match="'<|nope|>'"):
        tok.token_to_id("<|nope|>")
    with pytest.raises(ValueError, match="id 5000 is not in the vocab"):
        tok.decode([1, 5000])


# ---- training ---------------------------------------------------------------------


def test_training_is_deterministic_and_reads_files(tmp_path):
    text = CORPUS[:20_000]
    (tmp_path / "a.txt").write_text(text[:10_000], encoding="utf-8")
    (tmp_path / "b.txt").write_text(text[10_000:], encoding="utf-8")
    from_files = BPETokenizer.train([tmp_path / "a.txt", tmp_path / "b.txt"], 400)
    from_text = BPETokenizer.train(text, 400)
    assert from_files.vocab == from_text.vocab and from_files.merges == from_text.merges


def test_training_never_learns_from_special_tokens():
    tok = BPETokenizer.train(f"ab{EOT}" * 50, 300, special_tokens=[EOT])
    assert all("|" not in token and "<" not in token for token in tok.vocab if len(token) > 1)


def test_training_stops_when_no_pair_repeats():
    tok = BPETokenizer.train("abcdef", 1000, special_tokens=[EOT])
    assert tok.merges == [] and tok.vocab_size == 257


def test_trained_vocab_covers_its_corpus(tok):
    ids = tok.encode(CORPUS[:5_000])
    assert len(ids) < 5_000 / 2.5  # merges were learned: well under a token per byte
    assert tok.decode(ids) == CORPUS[:5_000]


@pytest.mark.parametrize("kwargs, message", [
    ({"vocab_size": 257, "special_tokens": ["<a>", "<b>"]}, "vocab_size 257 is below 256 bytes \\+ 2 special"),
    ({"vocab_size": 300, "special_tokens": ["<a>", "<a>"]}, "'<a>' is given 2 times"),
    ({"vocab_size": 300, "special_tokens": [""]}, "non-empty strings, got ''"),
])
def test_training_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BPETokenizer.train("some text", **kwargs)


def test_training_input_errors_name_the_item_and_the_line(tmp_path):
    with pytest.raises(TypeError, match=r"\(os.PathLike\), got int: 3"):
        BPETokenizer.train(["text", 3], 300)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"line one\nline \xff two\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: invalid UTF-8 \(byte 0xff at offset 14"):
        BPETokenizer.train(bad, 300)
    replaced = BPETokenizer.train(bad, 300, errors="replace", min_frequency=1)  # U+FFFD for the bad byte
    words = ["line", "Ġ\u00ef\u00bf\u00bd", "Ġtwo"]  # U+FFFD is the bytes ef bf bd
    assert replaced.encode("line \ufffd two") == [replaced.token_to_id(w) for w in words]


# ---- files --------------------------------------------------------------------------


def test_gpt2_files_round_trip(tok, gpt2_files):
    again = BPETokenizer.from_gpt2_files(*gpt2_files, special_tokens=SPECIALS)
    assert again.vocab == tok.vocab and again.merges == tok.merges and again.special_tokens == tok.special_tokens
    assert gpt2_files[1].read_text(encoding="utf-8").startswith("#version: 0.2\n")


def test_tokenizer_json_round_trip(tok, tmp_path):
    tok.save(tmp_path / "tokenizer.json")
    again = BPETokenizer.load(tmp_path / "tokenizer.json")
    assert again.vocab == tok.vocab and again.merges == tok.merges and again.special_tokens == tok.special_tokens


def test_loads_a_tokenizer_json_trained_by_the_tokenizers_library(tmp_path):
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the parity reference (extra 'parity')")
    theirs = tokenizers.ByteLevelBPETokenizer(add_prefix_space=True)
    theirs.train_from_iterator([CORPUS[:100_000]], vocab_size=800, special_tokens=[EOT])
    theirs.save(str(tmp_path / "tokenizer.json"))
    ours = BPETokenizer.load(tmp_path / "tokenizer.json")
    assert ours.add_prefix_space
    for text in ["Hello world", "  spaces first", CORPUS[100_000:110_000], f"x{EOT}y"]:
        assert ours.encode(text) == theirs.encode(text).ids
    # older files spell each merge as one string, "left right"
    data = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
    (tmp_path / "old.json").write_text(json.dumps(data), encoding="utf-8")
    assert BPETokenizer.load(tmp_path / "old.json").merges == ours.merges


# ---- bad files ----------------------------------------------------------------------


def write_gpt2_files(folder, encoder, merges_text):
    text = encoder if isinstance(encoder, str) else json.dumps(encoder, indent=0)  # one entry a line
    (folder / "encoder.json").write_text(text, encoding="utf-8")
    (folder / "vocab.bpe").write_text(merges_text, encoding="utf-8")
    return folder / "encoder.json", folder / "vocab.bpe"


def small_gpt2(folder):
    """encoder and merges text of a tiny valid vocab: bytes, 'ab', 'abc', and EOT."""
    encoder = {c: i for i, c in enumerate(BYTE_TO_CHAR.values())} | {"ab": 256, "abc": 257, EOT: 258}
    return encoder, "#version: 0.2\na b\nab c\n"


def test_small_gpt2_files_load(tmp_path):
    tok = BPETokenizer.from_gpt2_files(*write_gpt2_files(tmp_path, *small_gpt2(tmp_path)))
    assert [tok.id_to_token(i) for i in tok.encode(f"abc{EOT}ab")] == ["abc", EOT, "ab"]


@pytest.mark.parametrize("change, message", [
    (lambda enc, merges: ("{\"a\": 1,\n \"b\": 2,,}", merges), r"encoder.json:2:9: invalid JSON"),
    (lambda enc, merges: ('{\n"a": 1,\n"a": 2\n}', merges), r"encoder.json:3: duplicate key 'a'"),
    (lambda enc, merges: (enc | {"abc": 256}, merges),
     r"encoder.json:\d+: tokens 'ab' and 'abc' have the same id 256"),
    (lambda enc, merges: (enc, merges.replace("a b", "ab")),
     r"vocab.bpe:2: expected two tokens separated by one space, got 'ab'"),
    (lambda enc, merges: (enc, merges.replace("a b\n", "")),
     r"vocab.bpe:2: merge 'ab' 'c': 'ab' is not a byte, and no earlier merge makes it"),
    (lambda enc, merges: (enc, merges.replace("ab c\n", "")),
     r"encoder.json:\d+: token 'abc' \(id 257\) is neither a byte nor made by any merge"),
    (lambda enc, merges: (enc, merges + "a b\n"), r"vocab.bpe:4: merge 'a' 'b' repeats merge number 0"),
    (lambda enc, merges: (enc, merges + "abc a\n"),
     r"vocab.bpe:4: merge 'abc' 'a' makes 'abca', which is not in the vocab"),
    (lambda enc, merges: ({k: v for k, v in enc.items() if k != EOT}, merges),
     r"encoder.json: has no special token '<\|endoftext\|>'"),
    (lambda enc, merges: ({k: v for k, v in enc.items() if k != "Ġ"}, merges), r"no token for byte 0x20 \('Ġ'\)"),
])
def test_malformed_gpt2_files_name_the_file_and_line(tmp_path, change, message):
    files = write_gpt2_files(tmp_path, *change(*small_gpt2(tmp_path)))
    with pytest.raises(ValueError, match=message):
        BPETokenizer.from_gpt2_files(*files)


def test_malformed_tokenizer_json_names_the_part(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    good = json.loads(path.read_text(encoding="utf-8"))
    cases = [
        (lambda d: d.update(normalizer={"type": "NFC"}), "tokenizer.json: normalizer: .* is not supported"),
        (lambda d: d["model"].update(type="WordPiece"), "model.type: 'WordPiece' is not 'BPE'"),
        (lambda d: d["model"]["merges"].__setitem__(3, ["x"]), r"model.merges\[3\]: expected 'left right'"),
        (lambda d: d["model"]["merges"].insert(0, ["Ġthe", "x"]), r"model.merges\[0\]: merge 'Ġthe' 'x'"),
    ]
    for change, message in cases:
        data = json.loads(json.dumps(good))
        change(data)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            BPETokenizer.load(path)


# ---- parity with the references -------------------------------------------------------


@many
@given(parity_text)
def test_parity_with_tiktoken(tok, tiktoken_enc, text):
    assert tok.encode_ordinary(text) == tiktoken_enc.encode_ordinary(text)
    assert tok.encode(text) == tiktoken_enc.encode(text, allowed_special="all")


@many
@given(parity_text)
def test_parity_with_the_tokenizers_library(tok, hf_tokenizers, text):
    from_json, byte_level = hf_tokenizers
    ours = tok.encode(text)
    assert ours == from_json.encode(text).ids
    assert ours == byte_level.encode(text).ids
    assert tok.decode(ours) == from_json.decode(ours, skip_special_tokens=False)


def test_parity_on_real_text(tok, tiktoken_enc, hf_tokenizers):
    text = CORPUS[150_000:]  # text the vocab was not trained on
    ours = tok.encode(text)
    assert ours == tiktoken_enc.encode(text, allowed_special="all")
    assert ours == hf_tokenizers[0].encode(text).ids


def test_parity_with_transformers_gpt2tokenizer(tok, gpt2_files):
    transformers = pytest.importorskip("transformers", reason="transformers is the parity reference (extra 'parity')")
    theirs = transformers.GPT2Tokenizer(vocab=str(gpt2_files[0]), merges=str(gpt2_files[1]))
    for text in ["Hello world", f"a{EOT}b", "don't  stop\n\n  me 1234 ½", CORPUS[160_000:165_000]]:
        assert tok.encode(text) == theirs.encode(text)


def test_add_prefix_space_matches_the_tokenizers_library(tok, tmp_path):
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the parity reference (extra 'parity')")
    prefixed = BPETokenizer(tok.vocab, tok.merges, tok.special_tokens, add_prefix_space=True)
    prefixed.save(tmp_path / "tokenizer.json")
    theirs = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in ["Hello", " Hello", f"{EOT}Hello{EOT} there", "\nx"]:
        assert prefixed.encode(text) == theirs.encode(text).ids
