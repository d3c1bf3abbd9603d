"""return_offsets_mapping against the tokenizers library on the same vocab, for
WordPiece and byte-level BPE (a tokenizer.json saved here, loaded by tokenizers).

WordPiece: BertWordPieceTokenizer (what transformers' BertTokenizerFast runs)
on a vocab.txt trained here; the texts hit each normalization step that moves
characters: accents stripped, case folded into two characters, controls
dropped, CJK ideographs spaced, special tokens written in the text, words too
long or unknown (one [UNK] spanning the word).
"""
import pytest

from minitx.tokenizers import WordPieceTokenizer

tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is the offsets reference (extra 'parity')")

CORPUS = ("The café in Zürich sells naïve crêpes. Hello, world! Don't stop: 3.14 is pi.\n"
          "İstanbul and ΣΟΦΙΑ wrote to 北京 on Monday; the unaffable résumé was re-read.\n") * 4
TEXTS = [
    "Hello, world!",
    "The Café in ZÜRICH sells naïve crêpes.",
    "İstanbul ΣΟΦΙΑ",
    "北京 is big\u200b; tabs\there\x00and\u0301 there",
    "A [MASK] in the [SEP] middle",
    "xqzv unknownword " + "a" * 120,
    "  leading and trailing  ",
    "",
]


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def pair(request, tmp_path_factory):
    lowercase = request.param
    ours = WordPieceTokenizer.train(CORPUS, 200, lowercase=lowercase, min_frequency=1)
    path = tmp_path_factory.mktemp("wp") / "vocab.txt"
    ours.save_vocab_file(path)
    return ours, tokenizers.BertWordPieceTokenizer(str(path), lowercase=lowercase)


@pytest.mark.parametrize("text", TEXTS)
def test_wordpiece_offsets_equal_the_tokenizers_library(pair, text):
    ours, theirs = pair
    enc, ref = ours.encode(text, return_offsets_mapping=True), theirs.encode(text)
    assert enc.input_ids == ref.ids
    assert enc.offset_mapping == ref.offsets


def test_wordpiece_pair_offsets_truncation_and_batch(pair):
    ours, theirs = pair
    a, b = TEXTS[1], TEXTS[2]
    enc, ref = ours.encode(a, b, return_offsets_mapping=True), theirs.encode(a, b)
    assert enc.offset_mapping == ref.offsets
    theirs.enable_truncation(9)
    try:
        cut = ours.encode(a, b, max_length=9, return_offsets_mapping=True)
        assert (cut.input_ids, cut.offset_mapping) == (theirs.encode(a, b).ids, theirs.encode(a, b).offsets)
    finally:
        theirs.no_truncation()
    batch = ours.encode_batch(TEXTS[:3], return_offsets_mapping=True)
    assert batch.offset_mapping.shape == batch.input_ids.shape + (2,)
    for row, text in zip(batch.offset_mapping, TEXTS[:3]):
        ref = theirs.encode(text).offsets
        assert row[:len(ref)].tolist() == [list(o) for o in ref]
        assert not row[len(ref):].any()


def test_offsets_do_not_change_the_ids(pair):
    ours, _ = pair
    for text in TEXTS:
        assert ours.encode(text, return_offsets_mapping=True).input_ids == ours.encode(text).input_ids


# ---- byte-level BPE -------------------------------------------------------------

BPE_TEXTS = ["Hello world", "  two  spaces and\ttabs\n", "naïve café, 北京 and 🤗 emoji",
             "a<|endoftext|>b <|endoftext|> c", "don't stop", ""]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "prefix-space"])
def bpe_pair(request, tmp_path_factory):
    from minitx.tokenizers import BPETokenizer
    trained = BPETokenizer.train(CORPUS + "Hello world emoji 🤗 two spaces", 300, min_frequency=1)
    ours = BPETokenizer(trained.vocab | trained.special_tokens, trained.merges, trained.special_tokens,
                        add_prefix_space=request.param)
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    ours.save(path)
    return ours, tokenizers.Tokenizer.from_file(str(path))


@pytest.mark.parametrize("text", BPE_TEXTS)
def test_bpe_offsets_equal_the_tokenizers_library(bpe_pair, text):
    ours, theirs = bpe_pair
    ids, offsets = ours.encode(text, return_offsets_mapping=True)
    ref = theirs.encode(text)
    assert ids == ref.ids == ours.encode(text)
    assert offsets == ref.offsets
