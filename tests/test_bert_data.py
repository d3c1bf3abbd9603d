"""BERT pretraining data: the masking collator and next-sentence pairs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitx.data.bert import MaskingCollator, NextSentencePairs, split_segments

V, PAD, UNK, CLS, SEP, MASK = 50, 0, 1, 2, 3, 4
SPECIAL = [PAD, UNK, CLS, SEP, MASK]


def rows(rng, B, T):
    """BERT-like rows: [CLS] text [SEP] text [SEP] then padding, some [UNK] inside."""
    ids = rng.integers(5, V, size=(B, T))
    ids[rng.random((B, T)) < 0.05] = UNK
    mask = np.ones((B, T), dtype=np.int64)
    for i in range(B):
        n = int(rng.integers(3, T + 1))
        ids[i, 0], ids[i, n // 2], ids[i, n - 1] = CLS, SEP, SEP
        ids[i, n:], mask[i, n:] = PAD, 0
    return ids, mask


@settings(deadline=None)
@given(seed=st.integers(0, 2**32 - 1), B=st.integers(1, 6), T=st.integers(3, 40),
       p=st.sampled_from([0.15, 0.3]))
def test_masking_chooses_the_right_count_and_never_a_special_token(seed, B, T, p):
    rng = np.random.default_rng(seed)
    ids, mask = rows(rng, B, T)
    before = ids.copy()
    out, labels = MaskingCollator(V, MASK, SPECIAL, mlm_probability=p, seed=seed)(ids, mask)
    np.testing.assert_array_equal(ids, before)  # the input is left alone
    chosen = labels != -100
    eligible = ~np.isin(ids, SPECIAL) & (mask == 1)
    assert not (chosen & ~eligible).any()  # never special, never padding
    n = eligible.sum(axis=1)
    np.testing.assert_array_equal(chosen.sum(axis=1), np.where(n > 0, np.maximum(1, np.rint(p * n)), 0))
    np.testing.assert_array_equal(labels[chosen], ids[chosen])
    np.testing.assert_array_equal(out[~chosen], ids[~chosen])  # only chosen tokens change
    assert not np.isin(out[chosen & (out != MASK)], SPECIAL).any()  # random ones are ordinary


@settings(deadline=None, max_examples=5)
@given(seed=st.integers(0, 2**32 - 1))
def test_masking_proportions_are_80_10_10(seed):
    """Over ~30,000 chosen tokens each share is within 5 standard deviations of its
    expectation (a false alarm about once in 3 million runs)."""
    ids, mask = rows(np.random.default_rng(seed), 400, 512)
    out, labels = MaskingCollator(V, MASK, SPECIAL, seed=seed)(ids, mask)
    chosen = labels != -100
    eligible = ~np.isin(ids, SPECIAL) & (mask == 1)
    assert abs(chosen.sum() / eligible.sum() - 0.15) < 0.002  # rounding per row, nothing more
    N = chosen.sum()
    # a random replacement equals the original with probability 1 / (V - 5)
    same = 1 / (V - len(SPECIAL))
    shares = {"mask": (out[chosen] == MASK, 0.8),
              "random": ((out[chosen] != MASK) & (out[chosen] != ids[chosen]), 0.1 * (1 - same)),
              "unchanged": (out[chosen] == ids[chosen], 0.1 + 0.1 * same)}
    for name, (hits, q) in shares.items():
        assert abs(hits.mean() - q) < 5 * np.sqrt(q * (1 - q) / N), (name, hits.mean(), q)


def test_masking_is_seeded_and_resumable():
    ids, mask = rows(np.random.default_rng(0), 4, 30)
    a, b = MaskingCollator(V, MASK, SPECIAL, seed=7), MaskingCollator(V, MASK, SPECIAL, seed=7)
    np.testing.assert_array_equal(a(ids, mask)[0], b(ids, mask)[0])
    state = a.state_dict()
    first = a(ids, mask)
    b.load_state_dict(state)
    np.testing.assert_array_equal(first[0], b(ids, mask)[0])


def test_masking_rejects_ids_outside_the_vocab():
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        MaskingCollator(V, MASK, SPECIAL)(np.array([[2, 50, 3]]))


def numbered_documents(lengths):
    """Document d, segment s holds consecutive numbers, unique over all documents,
    so 'B follows A' is checkable: A's last id + 1 == B's first id."""
    docs, next_id = [], 10
    for doc in lengths:
        segs = []
        for n in doc:
            segs.append(list(range(next_id, next_id + n)))
            next_id += n
        docs.append(segs)
        next_id += 1000  # a gap between documents
    return docs


def test_next_sentence_pairs_layout_labels_and_truth():
    docs = numbered_documents([[5, 9, 3, 12], [7, 2], [30], [4, 4, 4, 4, 4, 4]])
    owner = {t: d for d, doc in enumerate(docs) for seg in doc for t in seg}
    T = 24
    pairs = NextSentencePairs(docs, T, cls_id=CLS, sep_id=SEP, pad_id=PAD)
    batch = pairs.batch(400, np.random.default_rng(0))
    assert batch.input_ids.shape == (400, T) and batch.next_sentence_label.shape == (400,)
    assert abs(batch.next_sentence_label.mean() - 0.5) < 5 * 0.025  # 5 sigma of 400 coin flips
    for ids, types, mask, label in zip(batch.input_ids, batch.token_type_ids, batch.attention_mask,
                                       batch.next_sentence_label):
        n = mask.sum()
        assert (mask[:n] == 1).all() and (ids[n:] == PAD).all() and (types[n:] == 0).all()
        seps = np.flatnonzero(ids[:n] == SEP)
        assert ids[0] == CLS and len(seps) == 2 and seps[1] == n - 1
        a, b = ids[1:seps[0]], ids[seps[0] + 1:n - 1]
        assert len(a) and len(b)
        assert (types[:seps[0] + 1] == 0).all() and (types[seps[0] + 1:n] == 1).all()
        assert (np.diff(a) > 0).all() and (np.diff(b) > 0).all()  # runs of one document, in order
        assert len({owner[t] for t in a}) == 1 and len({owner[t] for t in b}) == 1
        if label == 0:
            assert b[0] == a[-1] + 1  # B is exactly the text after A
        else:
            assert owner[b[0]] != owner[a[0]]


def test_next_sentence_pairs_need_two_documents():
    with pytest.raises(ValueError, match="two non-empty documents"):
        NextSentencePairs(numbered_documents([[5, 6, 7]]), 16, CLS, SEP, PAD)


def test_split_segments_are_paragraphs():
    assert split_segments("One.\n\n\nTwo\nlines.\n\n  \n") == ["One.", "Two\nlines."]
