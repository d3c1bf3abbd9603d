"""CountVectorizer and TfidfVectorizer against scikit-learn's: the same vocabulary_, the
same counts, the same TF-IDF to 1e-12, on the built-in manual's paragraphs and on drawn text."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minitx.baselines import CountVectorizer, TfidfVectorizer
from minitx.data import builtin_documents

sk_text = pytest.importorskip("sklearn.feature_extraction.text")

PARAGRAPHS = [p for doc in builtin_documents() for p in doc.split("\n\n") if len(p.split()) >= 5]
TRAIN, HELD_OUT = PARAGRAPHS[:600], PARAGRAPHS[600:800]

OPTIONS = [
    {},
    {"ngram_range": (1, 2)},
    {"ngram_range": (2, 3), "lowercase": False},
    {"min_df": 2, "max_df": 0.5},
    {"min_df": 0.01, "max_df": 40},
    {"max_features": 300},                     # many ties in frequency: broken as scikit-learn breaks them
    {"max_features": 200, "ngram_range": (1, 2), "binary": True},
    {"token_pattern": r"(?u)\b\w+\b"},
    {"token_pattern": r"(\w+)="},              # one capturing group: the group is the token
]
TFIDF_OPTIONS = [{}, {"norm": "l1"}, {"norm": None}, {"smooth_idf": False}, {"sublinear_tf": True},
                 {"use_idf": False}, {"sublinear_tf": True, "smooth_idf": False, "ngram_range": (1, 2)}]


def assert_same_counts(ours, theirs, train, held_out):
    X = ours.fit_transform(train)
    Y = theirs.fit_transform(train).toarray()
    assert ours.vocabulary_ == {t: int(j) for t, j in theirs.vocabulary_.items()}
    assert list(ours.get_feature_names_out()) == list(theirs.get_feature_names_out())
    assert X.dtype == np.int64 and np.array_equal(X, Y)
    assert np.array_equal(ours.transform(held_out), theirs.transform(held_out).toarray())


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_counts_equal_scikit_learns_on_the_manual(options):
    assert_same_counts(CountVectorizer(**options), sk_text.CountVectorizer(**options), TRAIN, HELD_OUT)


@pytest.mark.parametrize("options", OPTIONS[:4] + TFIDF_OPTIONS, ids=str)
def test_tfidf_equals_scikit_learns_on_the_manual(options):
    ours, theirs = TfidfVectorizer(**options), sk_text.TfidfVectorizer(**options)
    X, Y = ours.fit_transform(TRAIN), theirs.fit_transform(TRAIN).toarray()
    assert ours.vocabulary_ == {t: int(j) for t, j in theirs.vocabulary_.items()}
    assert X.dtype == np.float64
    np.testing.assert_allclose(X, Y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.transform(HELD_OUT), theirs.transform(HELD_OUT).toarray(), rtol=0, atol=1e-12)
    if options.get("use_idf", True):
        np.testing.assert_allclose(ours.idf_, theirs.idf_, rtol=1e-14, atol=0)


def test_tfidf_rows_have_unit_l2_norm_and_idf_is_the_smoothed_formula():
    docs = ["the cat sat", "the dog sat down", "the end"]
    tfidf = TfidfVectorizer()
    X = tfidf.fit_transform(docs)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-14)
    df = {"cat": 1, "dog": 1, "down": 1, "end": 1, "sat": 2, "the": 3}
    for term, j in tfidf.vocabulary_.items():
        assert tfidf.idf_[j] == pytest.approx(np.log(4 / (df[term] + 1)) + 1, rel=1e-15)
    # "the" in every document keeps weight 1: down-weighted against "cat", not dropped
    assert tfidf.idf_[tfidf.vocabulary_["the"]] == 1.0


def test_a_document_with_no_known_term_is_a_row_of_zeros():
    tfidf = TfidfVectorizer().fit(["alpha beta", "beta gamma"])
    assert np.array_equal(tfidf.transform(["delta epsilon", ""]), np.zeros((2, 3)))


def test_bag_of_words_forgets_word_order():
    count = CountVectorizer()
    X = count.fit_transform(["the dog bit the man", "the man bit the dog"])
    assert np.array_equal(X[0], X[1])
    assert not np.array_equal(*CountVectorizer(ngram_range=(1, 2)).fit_transform(
        ["the dog bit the man", "the man bit the dog"]))


WORDS = st.sampled_from(["a", "Ab", "ab", "the", "THE", "x1", "über", "ÉTÉ", "co-op", "don't", "__x", "42", "é"])
SEPARATORS = st.sampled_from([" ", "  ", ", ", ".\n", "\t", "-", "!"])
documents = st.lists(st.lists(st.tuples(WORDS, SEPARATORS), max_size=12)
                     .map(lambda ws: "".join(w + s for w, s in ws)), min_size=1, max_size=8)


@given(documents, st.sampled_from([{}, {"ngram_range": (1, 3)}, {"max_features": 3}, {"min_df": 2}, {"max_df": 0.6},
                                   {"lowercase": False, "binary": True}]))
def test_drawn_documents_vectorize_as_scikit_learns(docs, options):
    theirs = sk_text.CountVectorizer(**options)
    try:
        theirs.fit(docs)
    except ValueError:                          # empty vocabulary, or every term pruned: ours must refuse too
        with pytest.raises(ValueError):
            CountVectorizer(**options).fit(docs)
        return
    assert_same_counts(CountVectorizer(**options), sk_text.CountVectorizer(**options), docs, docs[::-1])
    X = TfidfVectorizer(**options).fit_transform(docs)
    np.testing.assert_allclose(X, sk_text.TfidfVectorizer(**options).fit_transform(docs).toarray(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("make, call, message", [
    (CountVectorizer, lambda v: v.fit("one string"), "got one string"),
    (CountVectorizer, lambda v: v.fit(["ok text", 3]), "of type int"),
    (CountVectorizer, lambda v: v.fit(["a b", "! ?"]), "empty vocabulary"),
    (CountVectorizer, lambda v: v.transform(["text"]), "call fit"),
    (lambda: CountVectorizer(min_df=3, max_df=1), lambda v: v.fit(["aa bb", "bb cc"]), "max_df=1"),
    (lambda: CountVectorizer(min_df=2), lambda v: v.fit(["aa bb", "cc dd"]), "no term is left"),
    (lambda: CountVectorizer(ngram_range=(2, 1)), lambda v: v.fit(["aa bb"]), "ngram_range"),
    (lambda: CountVectorizer(max_features=0), lambda v: v.fit(["aa bb"]), "max_features=0"),
    (lambda: CountVectorizer(max_df=1.5), lambda v: v.fit(["aa bb"]), "max_df=1.5"),
    (lambda: CountVectorizer(token_pattern=r"(a)(b)"), lambda v: v.fit(["ab"]), "2 capturing groups"),
    (lambda: TfidfVectorizer(norm="l3"), lambda v: None, "norm='l3'"),
])
def test_bad_input_is_a_clear_error(make, call, message):
    with pytest.raises((ValueError, TypeError, RuntimeError), match=message):
        call(make())
