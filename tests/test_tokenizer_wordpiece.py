"""WordPiece: BERT's basic tokenizer, greedy longest match, encode with pairs,
truncation and padding, training, files, bad files, and parity with transformers'
BertTokenizer and the tokenizers library's BertWordPieceTokenizer.

The reference vocab is trained here (nothing can be downloaded) and handed to
the references as a vocab.txt.
"""

import functools
import json
import sys
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pydoc_data.topics import topics

from minitx.tokenizers import WordPieceTokenizer

CORPUS = "".join(topics.values())
WORLD = ("naïve café Ünïcödé ÀÉÎÕÜ straße Ελληνικά ΣΟΦΟΣ русский текст "
         "中文字符 日本語 한국어 عربي 😀👍 ")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def kind(category):
    """What BERT's basic tokenizer does with a character of this category."""
    if category in ("Cc", "Cf", "Co", "Cs"):
        return "drop"
    if category[0] == "P":
        return "split"
    return "strip" if category == "Mn" else "keep"


@functools.cache
def stable_characters():
    """Characters assigned by Unicode 3.2 whose kind has not changed since.

    The tokenizers library classes characters by older Unicode tables than
    Python 3.11's (14.0), so characters added or re-categorized since differ
    (docs/tokenizers.md); these ~230,000 all agree (a one-off check compared each
    one, cased and uncased, with the tokenizers library).
    Emoji come after 3.2, but are kept whole by every version, so they are added.
    """
    old = unicodedata.ucd_3_2_0
    chars = [c for c in map(chr, range(sys.maxunicode + 1))
             if old.category(c) not in ("Cn", "Cs") and kind(old.category(c)) == kind(unicodedata.category(c))]
    return chars + [chr(c) for c in range(0x1F600, 0x1F650)]


PIECES = ["hello", "world", "Hello", "HELLO", "the", "The", "##", "[MASK]", "[mask]", "[CLS]", "[UNK]", " ", "  ",
          "\n", "\t", "\r\n", "\u00a0", "\u3000", "\x00", "\ufffd", "\u200b", "\x85", ",", ".", "'", "!?", "中", "文",
          "é", "e\u0301", "İ", "Σ", "ΑΣ", "σς", "ﬁ", "😀", "1", "123", "x" * 99, "y" * 101, "ǅ", "ß"]
characters = st.deferred(lambda: st.sampled_from(stable_characters()))
text = st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(WORLD.split()), st.text(characters, max_size=4)),
                max_size=25).map(" ".join)
# At least 100 examples; more under a deeper hypothesis profile (see conftest.py).
many = settings(max_examples=max(100, settings().max_examples), deadline=None)


@pytest.fixture(scope="module")
def vocab_txt(tmp_path_factory):
    tok = WordPieceTokenizer.train(CORPUS[:150_000] + WORLD * 3, 2500)
    path = tmp_path_factory.mktemp("bert") / "vocab.txt"
    tok.save_vocab_file(path)
    return path


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def pair(request, vocab_txt):
    """(ours, transformers' BertTokenizer, tokenizers' BertWordPieceTokenizer) on one vocab.txt."""
    transformers = pytest.importorskip("transformers", reason="transformers is the parity reference (extra 'parity')")
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the parity reference (extra 'parity')")
    lowercase = request.param
    ours = WordPieceTokenizer.from_vocab_file(vocab_txt, lowercase=lowercase)
    # transformers 5 reads the file from `vocab=`; `vocab_file=` would be silently ignored
    theirs = transformers.BertTokenizer(vocab=str(vocab_txt), do_lower_case=lowercase)
    library = tokenizers.BertWordPieceTokenizer(str(vocab_txt), lowercase=lowercase)
    return ours, theirs, library


@pytest.fixture(scope="module")
def toy():
    """The vocab of BERT's own unit tests."""
    words = ["want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "low", "lowest"]
    return WordPieceTokenizer(SPECIALS + words)


# ---- the basic tokenizer --------------------------------------------------------------


@pytest.mark.parametrize("lowercase, text, words", [
    (True, " \tHeLLo!how  \n Are yoU?  ", ["hello", "!", "how", "are", "you", "?"]),
    (False, " \tHeLLo!how  \n Are yoU?  ", ["HeLLo", "!", "how", "Are", "yoU", "?"]),
    (True, "H\u00e9llo naïve", ["hello", "naive"]),  # accents stripped when uncased
    (False, "H\u00e9llo", ["H\u00e9llo"]),
    (True, "ah\u535a\u63a8zz", ["ah", "\u535a", "\u63a8", "zz"]),  # each CJK ideograph alone
    (True, "a\x00b\ufffdc\u200bd\x07e", ["abcde"]),  # NUL, U+FFFD and controls dropped
    (True, "x\u2028y\u3000z", ["x", "y", "z"]),  # Unicode whitespace splits
    (True, "ΣΑΣ", ["σασ"]),  # one character at a time: no final sigma
    (True, "$5,000 (a+b)", ["$", "5", ",", "000", "(", "a", "+", "b", ")"]),  # ASCII symbols split
])
def test_basic_tokenizer(lowercase, text, words):
    assert WordPieceTokenizer(SPECIALS, lowercase=lowercase).basic_tokenize(text) == words


def test_wordpiece_is_greedy_longest_match_first(toy):
    assert toy.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert toy.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]
    assert toy.tokenize("lowest, low") == ["lowest", ",", "low"]
    assert toy.tokenize("") == []


def test_words_over_100_characters_are_unknown():
    tok = WordPieceTokenizer(SPECIALS + ["a", "##a"])
    assert tok.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.tokenize("a" * 101) == ["[UNK]"]


def test_special_tokens_in_the_text_are_kept_whole(toy):
    assert toy.tokenize("want[MASK]un [SEP]") == ["want", "[MASK]", "un", "[SEP]"]
    assert toy.tokenize("[mask]") == ["[UNK]", "[UNK]", "[UNK]"]  # only the exact spelling


# ---- encode, encode_batch, decode -----------------------------------------------------


def test_encode_builds_bert_inputs(toy):
    ids = toy.token_to_id
    e = toy.encode("want un", "runn")
    assert e.input_ids == [ids("[CLS]"), ids("want"), ids("un"), ids("[SEP]"), ids("runn"), ids("[SEP]")]
    assert e.token_type_ids == [0, 0, 0, 0, 1, 1]
    assert e.attention_mask == [1] * 6
    padded = toy.encode("want", max_length=5, padding="max_length")
    assert padded.input_ids == [ids("[CLS]"), ids("want"), ids("[SEP]"), ids("[PAD]"), ids("[PAD]")]
    assert padded.attention_mask == [1, 1, 1, 0, 0] and padded.token_type_ids == [0] * 5
    assert toy.encode("want un", "runn", add_special_tokens=False).token_type_ids == [0, 0, 1]


def test_truncation_takes_from_the_longer_sequence_first(toy):
    words = toy.token_to_id
    a, b = "want " * 5, "un " * 2
    e = toy.encode(a, b, max_length=8)  # 3 specials + 5: A 5 -> 3, B stays 2
    assert e.input_ids.count(words("want")) == 3 and e.input_ids.count(words("un")) == 2
    e = toy.encode("want want", "un un", max_length=6)  # both cut: B, on a tie, keeps the odd one
    assert e.input_ids.count(words("want")) == 1 and e.input_ids.count(words("un")) == 2
    assert len(toy.encode(a, max_length=4).input_ids) == 4
    assert len(toy.encode(a, max_length=4, truncation=False).input_ids) == 7


@pytest.mark.parametrize("kwargs, message", [
    ({"max_length": 2, "text_pair": "un"}, "max_length 2 leaves no room after the 3 special tokens"),
    ({"padding": "max_length"}, "padding='max_length' needs max_length"),
    ({"padding": "left"}, "padding must be False, True, 'longest' or 'max_length', got 'left'"),
])
def test_encode_refuses_bad_arguments(toy, kwargs, message):
    with pytest.raises(ValueError, match=message):
        toy.encode("want", **kwargs)


def test_encode_batch_pads_to_a_rectangle(toy):
    batch = toy.encode_batch(["want", "want un runn want un"], ["un", None])  # 5 and 7 tokens
    assert batch.input_ids.shape == batch.token_type_ids.shape == batch.attention_mask.shape == (2, 7)
    assert batch.input_ids.dtype == np.int64
    assert batch.attention_mask.tolist() == [[1] * 5 + [0] * 2, [1] * 7]
    assert batch.input_ids[0, 5:].tolist() == [toy.pad_id] * 2
    assert toy.encode_batch(["want"], max_length=6, padding="max_length").input_ids.shape == (1, 6)
    assert toy.encode_batch([]).input_ids.shape == (0, 0)
    with pytest.raises(ValueError, match="row 0 has 5 tokens, over max_length 4"):
        toy.encode_batch(["want un runn"], max_length=4, truncation=False, padding="max_length")
    with pytest.raises(ValueError, match="2 texts but 1 text_pairs"):
        toy.encode_batch(["a", "b"], ["c"])


def test_decode_glues_continuations(toy):
    ids = toy.encode("unwanted, running").input_ids
    assert toy.decode(ids) == "[CLS] unwanted , running [SEP]"
    assert toy.decode(ids, skip_special_tokens=True) == "unwanted , running"
    with pytest.raises(ValueError, match="id 99 is outside the vocab"):
        toy.decode([99])


# ---- training -----------------------------------------------------------------------


def test_training_gives_the_requested_size_and_covers_its_corpus():
    text = CORPUS[:30_000] + WORLD
    tok = WordPieceTokenizer.train(text, 900)
    assert tok.vocab_size == 900
    assert [tok.id_to_token(i) for i in range(5)] == SPECIALS
    assert tok.unk_id not in tok.encode(text).input_ids
    assert WordPieceTokenizer.train(text, 900).tokenize(text[:2000]) == tok.tokenize(text[:2000])  # deterministic
    assert len(tok.tokenize(text[:2000])) < len(tok.basic_tokenize(text[:2000])) * 1.5  # merges were learned


def test_training_refuses_a_vocab_smaller_than_the_alphabet():
    with pytest.raises(ValueError, match="vocab_size 10 is below the 5 specials and 8 characters"):
        WordPieceTokenizer.train("abcd", 10)


# ---- files --------------------------------------------------------------------------


def test_vocab_file_and_tokenizer_json_round_trip(toy, tmp_path):
    toy.save_vocab_file(tmp_path / "vocab.txt")
    again = WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")
    assert again.vocab_size == toy.vocab_size
    assert all(again.id_to_token(i) == toy.id_to_token(i) for i in range(toy.vocab_size))
    cased = WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt", lowercase=False)
    cased.save(tmp_path / "tokenizer.json")
    loaded = WordPieceTokenizer.load(tmp_path / "tokenizer.json")
    assert not loaded.lowercase and loaded.tokenize("Want runn") == cased.tokenize("Want runn")


def test_tokenizer_json_works_both_ways_with_the_tokenizers_library(vocab_txt, tmp_path):
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the parity reference (extra 'parity')")
    ours = WordPieceTokenizer.from_vocab_file(vocab_txt)
    ours.save(tmp_path / "ours.json")
    theirs = tokenizers.Tokenizer.from_file(str(tmp_path / "ours.json"))
    sample = CORPUS[150_000:152_000] + WORLD
    assert theirs.encode(sample).ids == ours.encode(sample).input_ids
    ids = ours.encode(sample).input_ids
    assert theirs.decode(ids, skip_special_tokens=False) == ours.decode(ids)
    cased = tokenizers.BertWordPieceTokenizer(str(vocab_txt), lowercase=False)
    cased.save(str(tmp_path / "theirs.json"))
    loaded = WordPieceTokenizer.load(tmp_path / "theirs.json")
    assert not loaded.lowercase and loaded.encode(sample).input_ids == cased.encode(sample).ids


@pytest.mark.parametrize("lines, message", [
    (SPECIALS + ["a", "b", "a"], r"vocab.txt:8: duplicate token 'a' \(id 7; first as id 5\)"),
    (SPECIALS + ["a", "", "b"], r"vocab.txt:7: token '' \(id 6\) is not a non-empty string"),
    (["[PAD]", "[UNK]", "[SEP]", "[MASK]", "a"], r"vocab.txt: no \[CLS\] token"),
])
def test_malformed_vocab_files_name_the_file_and_line(tmp_path, lines, message):
    (tmp_path / "vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")


def test_vocab_file_with_invalid_utf8_names_the_line(tmp_path):
    (tmp_path / "vocab.txt").write_bytes("\n".join(SPECIALS).encode() + b"\nok\nbad\xc3(\n")
    with pytest.raises(ValueError, match=r"vocab.txt:7: invalid UTF-8 \(byte 0xc3"):
        WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")


def test_malformed_tokenizer_json_names_the_part(toy, tmp_path):
    path = tmp_path / "tokenizer.json"
    toy.save(path)
    good = json.loads(path.read_text(encoding="utf-8"))
    cases = [
        (lambda d: d.update(normalizer={"type": "NFC"}), r"tokenizer.json: normalizer: .* is not supported"),
        (lambda d: d["model"].update(continuing_subword_prefix="@@"),
         r"model.continuing_subword_prefix: '@@' is not supported"),
        (lambda d: d["model"]["vocab"].update(extra=3),
         r"tokenizer.json:\d+: tokens '\[SEP\]' and 'extra' have the same id 3"),
        (lambda d: d["model"]["vocab"].update(extra=99), r"model.vocab: ids must run 0..15, but 15 is missing"),
    ]
    for change, message in cases:
        data = json.loads(json.dumps(good))
        change(data)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            WordPieceTokenizer.load(path)
    path.write_text('{"model": {"type": "WordPiece",\n "vocab": {"a": 1 "b": 2}}}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"tokenizer.json:2:19: invalid JSON"):
        WordPieceTokenizer.load(path)


# ---- parity with the references -------------------------------------------------------


@many
@given(text)
def test_parity_on_unicode_text(pair, text):
    ours, theirs, library = pair
    ids = ours.encode(text).input_ids
    assert ids == theirs(text)["input_ids"]
    assert ids == library.encode(text).ids


@many
@given(text, text.filter(bool), st.integers(3, 40))
def test_parity_on_truncated_pairs(pair, a, b, max_length):
    """b is never '': transformers takes an empty text_pair for no pair at all."""
    ours, theirs, _ = pair
    e = ours.encode(a, b, max_length=max_length)
    reference = theirs(a, b, max_length=max_length, truncation=True)
    assert (e.input_ids, e.token_type_ids, e.attention_mask) == (
        reference["input_ids"], reference["token_type_ids"], reference["attention_mask"])


def test_an_empty_pair_is_a_pair_as_in_the_tokenizers_library(pair):
    ours, _, library = pair
    with_empty_pair = ours.encode("a", "").input_ids
    assert with_empty_pair == library.encode("a", "").ids
    assert with_empty_pair == [*ours.encode("a").input_ids, ours.sep_id]  # [CLS] a [SEP] [SEP]


def test_parity_of_padded_batches(pair):
    ours, theirs, _ = pair
    texts, pairs = ["Hello there", CORPUS[:300], WORLD], ["x", "short", CORPUS[300:400]]
    batch = ours.encode_batch(texts, pairs, max_length=64)
    reference = theirs(texts, pairs, max_length=64, truncation=True, padding=True)
    assert batch.input_ids.tolist() == reference["input_ids"]
    assert batch.token_type_ids.tolist() == reference["token_type_ids"]
    assert batch.attention_mask.tolist() == reference["attention_mask"]


def test_parity_on_real_text(pair):
    ours, theirs, library = pair
    sample = CORPUS[150_000:250_000]  # text the vocab was not trained on
    ids = ours.encode(sample).input_ids
    assert ids == library.encode(sample).ids
    assert ids == theirs(sample)["input_ids"]
