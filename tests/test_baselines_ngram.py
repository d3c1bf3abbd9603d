"""NGramLM: each next-token distribution sums to 1, add-k and Kneser-Ney equal their
definitions (hand-computed on a five-token corpus, and a dict-of-counts reference on
drawn corpora), unseen contexts back off, sampling is seeded."""
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minitx.baselines import NGramLM
from tests.strategies import id_corpora

A, B, C = 0, 1, 2
ABABC = [np.array([A, B, A, B, C])]     # "a b a b c", V = 3


# ---- a reference written from the definitions: dicts of tuples, recursion -------------------
BOS = "<s>"


def grams(seqs, n, m):
    """Counter of the m-grams ending at each token, the sequences padded with n - 1 BOS."""
    out = Counter()
    for s in seqs:
        padded = [BOS] * (n - 1) + [int(t) for t in s]
        for i in range(n - 1, len(padded)):
            out[tuple(padded[i - m + 1:i + 1])] += 1
    return out


def reference_add_k(seqs, n, V, k, context, w):
    h = tuple(context)
    counts = grams(seqs, n, len(h) + 1)
    c_h = sum(c for g, c in counts.items() if g[:-1] == h)
    if c_h == 0:                          # unseen context: back off to its suffix
        return reference_add_k(seqs, n, V, k, context[1:], w)
    return (counts[h + (w,)] + k) / (c_h + k * V)


def reference_kneser_ney(seqs, n, V, d, context, w):
    h = tuple(context)
    m = len(h) + 1
    if m == n:
        c = grams(seqs, n, m)
    else:                                 # continuation counts: distinct symbols before the m-gram
        c = Counter(g[1:] for g in grams(seqs, n, m + 1))
    lower = 1 / V if m == 1 else reference_kneser_ney(seqs, n, V, d, context[1:], w)
    after_h = {g[-1]: x for g, x in c.items() if g[:-1] == h}
    total = sum(after_h.values())
    if total == 0:
        return lower
    return max(after_h.get(w, 0) - d, 0) / total + d * len(after_h) / total * lower


def padded_context(lm, ids):
    return ([BOS] * (lm.n - 1) + [int(t) for t in ids])[len(ids):][: lm.n - 1] if lm.n > 1 else []


# ---- hand computations ----------------------------------------------------------------------
def test_add_k_bigram_by_hand():
    lm = NGramLM(2, 3, "add_k", k=0.5).fit(ABABC)
    # bigrams of <s> a b a b c: (<s>,a) (a,b) (b,a) (a,b) (b,c); a is followed twice, both times by b
    np.testing.assert_allclose(lm.probs([A]), [0.5 / 3.5, 2.5 / 3.5, 0.5 / 3.5], rtol=1e-15)
    # b: once by a, once by c
    np.testing.assert_allclose(lm.probs([A, B]), [1.5 / 3.5, 0.5 / 3.5, 1.5 / 3.5], rtol=1e-15)
    # c is never followed: back off to the unigram counts a 2, b 2, c 1 of 5 tokens
    np.testing.assert_allclose(lm.probs([C]), [2.5 / 6.5, 2.5 / 6.5, 1.5 / 6.5], rtol=1e-15)
    # the first token: <s> was followed once, by a
    np.testing.assert_allclose(lm.probs([]), [1.5 / 2.5, 0.5 / 2.5, 0.5 / 2.5], rtol=1e-15)


def test_kneser_ney_bigram_by_hand():
    d = 0.75
    lm = NGramLM(2, 3, "kneser_ney", discount=d).fit(ABABC)
    # continuation counts: a follows {<s>, b}, b follows {a}, c follows {b}: 2, 1, 1 of 4 bigram types;
    # P1(w) = (max(N1+(. w) - d, 0) + d * 3 / 3) / 4
    p1 = np.array([(2 - d + d) / 4, (1 - d + d) / 4, (1 - d + d) / 4])          # 0.5, 0.25, 0.25
    # P(w | a): c(a b) = 2, c(a) = 2, one distinct follower: lambda(a) = d * 1 / 2
    np.testing.assert_allclose(lm.probs([A]), [d / 2 * p1[A], (2 - d) / 2 + d / 2 * p1[B], d / 2 * p1[C]],
                               rtol=1e-15)
    np.testing.assert_allclose(lm.probs([A]), [0.1875, 0.71875, 0.09375], rtol=1e-15)
    # P(w | b): c(b a) = c(b c) = 1, two followers: lambda(b) = d * 2 / 2
    np.testing.assert_allclose(lm.probs([B]), [0.125 + 0.375, 0.1875, 0.125 + 0.1875], rtol=1e-15)
    # c never starts a bigram: P(w | c) = P1(w)
    np.testing.assert_allclose(lm.probs([C]), p1, rtol=1e-15)


def test_kneser_ney_trigram_by_hand():
    lm = NGramLM(3, 3, "kneser_ney", discount=0.75).fit(ABABC)
    # trigrams of <s> <s> a b a b c: (a b) is followed by a and by c, once each: lambda = 0.75 * 2 / 2.
    # The bigram level uses continuation counts: (b a) after {a}, (b c) after {a}: P2(a | b) = 0.5,
    # P2(c | b) = 0.3125, P2(b | b) = 0.1875 (as in the bigram model above).
    np.testing.assert_allclose(lm.probs([A, B]), [0.125 + 0.75 * 0.5, 0.75 * 0.1875, 0.125 + 0.75 * 0.3125],
                               rtol=1e-15)
    # (c a) was never a context: the trigram level passes the bigram level through
    np.testing.assert_allclose(lm.probs([C, A]), [0.1875, 0.71875, 0.09375], rtol=1e-15)


def test_a_single_token_is_drawn_from_the_unigram_distribution():
    lm = NGramLM(1, 4, "add_k", k=1.0).fit([np.array([0, 0, 1])])
    np.testing.assert_allclose(lm.probs([3, 2, 1]), [3 / 7, 2 / 7, 1 / 7, 1 / 7], rtol=1e-15)


# ---- drawn corpora ----------------------------------------------------------------------------
orders = st.integers(1, 4)
contexts = st.lists(st.integers(0, 4), max_size=6)


@given(id_corpora(), orders, st.sampled_from(["add_k", "kneser_ney"]), st.floats(0.05, 1.0), contexts)
def test_every_next_token_distribution_sums_to_one(corpus, n, smoothing, k_or_d, context):
    V, seqs = corpus
    lm = NGramLM(n, V, smoothing, k=k_or_d, discount=k_or_d).fit(seqs)
    for ctx in (np.array(context) % V, seqs[0], np.array([], dtype=np.int64)):   # unseen, seen, the start
        p = lm.probs(ctx)
        assert p.shape == (V,) and (p > 0).all()
        assert abs(p.sum() - 1) < 1e-12


@given(id_corpora(max_vocab=4, max_sequences=3, max_len=8), orders, st.floats(0.1, 2.0), contexts)
def test_add_k_equals_its_definition(corpus, n, k, context):
    V, seqs = corpus
    lm = NGramLM(n, V, "add_k", k=k).fit(seqs)
    ctx = [int(t) % V for t in context]
    h = padded_context(lm, ctx)
    np.testing.assert_allclose(lm.probs(ctx), [reference_add_k(seqs, n, V, k, h, w) for w in range(V)], rtol=1e-12)


@given(id_corpora(max_vocab=4, max_sequences=3, max_len=8), orders, st.floats(0.1, 1.0), contexts)
def test_kneser_ney_equals_its_definition(corpus, n, d, context):
    V, seqs = corpus
    lm = NGramLM(n, V, "kneser_ney", discount=d).fit(seqs)
    ctx = [int(t) % V for t in context]
    h = padded_context(lm, ctx)
    np.testing.assert_allclose(lm.probs(ctx), [reference_kneser_ney(seqs, n, V, d, h, w) for w in range(V)],
                               rtol=1e-12)


@given(id_corpora(), orders)
def test_log_prob_reads_each_token_given_the_ones_before(corpus, n):
    V, seqs = corpus
    lm = NGramLM(n, V).fit(seqs)
    s = next(s for s in seqs if len(s))
    expected = [math.log(lm.probs(s[:t])[s[t]]) for t in range(len(s))]
    np.testing.assert_allclose(lm.log_prob(s), expected, rtol=1e-12)
    assert lm.loss([s]) == pytest.approx(-np.mean(expected), rel=1e-12)
    assert lm.bits_per_token([s]) == pytest.approx(-np.mean(expected) / math.log(2), rel=1e-12)


def test_a_higher_order_fits_text_better_and_unseen_contexts_back_off():
    text = ("the cat sat on the mat. the dog sat on the log. " * 20).encode()
    ids = np.frombuffer(text, dtype=np.uint8).astype(np.int64)
    losses = [NGramLM(n, 256).fit([ids]).loss([ids]) for n in (1, 2, 3, 5)]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.3
    lm = NGramLM(5, 256).fit([ids])
    # "zzzz" never occurred, nor any suffix of it: every level above the unigram's passes it through
    unigram = [reference_kneser_ney([ids], 5, 256, 0.75, (), w) for w in range(256)]
    np.testing.assert_allclose(lm.probs(list(b"zzzz")), unigram, rtol=1e-12)
    assert lm.probs(list(b"zzzz")).argmax() == ord(" ")


def test_generate_is_seeded_and_follows_the_counts():
    lm = NGramLM(3, 3, "kneser_ney").fit([np.array([A, B, C] * 30)])
    a = lm.generate(30, context=[A], generator=np.random.default_rng(7))
    b = lm.generate(30, context=[A], generator=np.random.default_rng(7))
    assert np.array_equal(a, b) and a.shape == (30,) and a.dtype == np.int64
    transitions = Counter(zip(np.r_[A, a][:-1], np.r_[A, a][1:]))
    assert transitions[(A, B)] + transitions[(B, C)] + transitions[(C, A)] >= 25   # the cycle dominates


@pytest.mark.parametrize("call, message", [
    (lambda: NGramLM(0, 3), "n=0"),
    (lambda: NGramLM(2, 0), "vocab_size=0"),
    (lambda: NGramLM(2, 3, "witten_bell"), "smoothing='witten_bell'"),
    (lambda: NGramLM(2, 3, "add_k", k=0), "k=0"),
    (lambda: NGramLM(2, 3, discount=1.5), "discount=1.5"),
    (lambda: NGramLM(8, 300), "does not fit"),
    (lambda: NGramLM(2, 3).fit([np.array([0, 3])]), "id 3 outside"),
    (lambda: NGramLM(2, 3).fit([np.array([0.5])]), "1-D integer ids"),
    (lambda: NGramLM(2, 3).fit(np.array([0, 1])), "wrap it in a list"),
    (lambda: NGramLM(2, 3).fit([[]]), "no token"),
    (lambda: NGramLM(2, 3).probs([0]), "call fit"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        call()
