"""LogisticRegression (nn.Linear + F.cross_entropy + AdamW) minimises scikit-learn's
objective: on TF-IDF features of the manual, the same probabilities as scikit-learn's."""
import numpy as np
import pytest

from minitx.baselines import LogisticRegression, TfidfVectorizer
from minitx.data import builtin_documents

sk_linear = pytest.importorskip("sklearn.linear_model")

DOCS = builtin_documents()


def three_pages(n_per_page=25):
    """Paragraphs of three manual pages, labelled by page name."""
    X, y = [], []
    for name, page in [("a", DOCS[3]), ("b", DOCS[10]), ("c", DOCS[40])]:
        paragraphs = [p for p in page.split("\n\n") if len(p.split()) >= 3][:n_per_page]
        X += paragraphs
        y += [name] * len(paragraphs)
    return X, np.array(y)


@pytest.mark.parametrize("C", [0.5, 10.0])
def test_probabilities_equal_scikit_learns_at_the_optimum(C):
    texts, y = three_pages()
    X = TfidfVectorizer(max_features=400).fit_transform(texts)
    ours = LogisticRegression(C=C, max_iter=400, dtype=np.float64).fit(X, y)
    theirs = sk_linear.LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    assert list(ours.classes_) == list(theirs.classes_) == ["a", "b", "c"]
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=2e-4)
    np.testing.assert_allclose(ours.linear_.weight.data, theirs.coef_, rtol=0, atol=5e-3)
    assert list(ours.predict(X)) == list(theirs.predict(X))
    assert ours.score(X, y) == theirs.score(X, y)


def test_training_lowers_the_loss_and_is_deterministic():
    texts, y = three_pages(10)
    X = TfidfVectorizer().fit_transform(texts)
    a = LogisticRegression(C=100.0, max_iter=50).fit(X, y)      # weakly penalised: it memorises the rows
    b = LogisticRegression(C=100.0, max_iter=50).fit(X, y)
    assert a.loss_curve_[0] == pytest.approx(np.log(3), rel=1e-6)   # zero weights: uniform over 3 classes
    assert a.loss_curve_[-1] < 0.8 * a.loss_curve_[0]
    assert np.array_equal(a.linear_.weight.data, b.linear_.weight.data)
    p = a.predict_proba(X)
    assert p.shape == (len(y), 3) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert a.score(X, y) == 1.0


@pytest.mark.parametrize("call, message", [
    (lambda m: m.fit(np.ones((3, 2)), [0, 0, 0]), "one class"),
    (lambda m: m.fit(np.ones((3, 2)), [0, 1]), r"y of shape \(2,\)"),
    (lambda m: m.fit(np.ones(3), [0, 1, 0]), r"X of shape \(3,\)"),
    (lambda m: m.predict(np.ones((2, 2))), "call fit"),
    (lambda m: m.fit(np.ones((2, 2)), [0, 1]).predict(np.ones((2, 5))), "X has 5 features; fit saw 2"),
    (lambda m: LogisticRegression(C=0), "C=0"),
    (lambda m: LogisticRegression(max_iter=0), "max_iter=0"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        call(LogisticRegression(max_iter=2))
