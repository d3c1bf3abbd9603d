"""embedding: Numba against the NumPy twin, counts of repeated ids, padding_idx,
gradcheck, determinism, and ids out of range caught before any kernel runs.

Numba vs twin: the forward copies rows (exact); the backward adds the rows of
each id in the order of the ids in both versions, so the results are equal to
the last bit; we still allow rtol 1e-6 (float32) and 1e-13 (float64).
Parity with torch is in test_kernels_parity_b.py.
"""
import numpy as np
import pytest
from hypothesis import given

import minitx as mt
from minitx.kernels.embedding import embedding, embedding_backward
from minitx.testing import gradcheck
from tests.kernel_strategies_b import embedding_cases

RTOL = {np.float32: 1e-6, np.float64: 1e-13}


def _run(ids, weight, padding_idx, backend):
    w = mt.Tensor(weight.copy(), requires_grad=True)
    with mt.use_backend(backend):
        out = embedding(ids, w, padding_idx=padding_idx)
        dout = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
        out.backward(dout)
    return out.data, w.grad, dout


@given(case=embedding_cases())
def test_numba_matches_numpy_twin(case):
    ids, weight, padding_idx = case
    out, grad, _ = _run(ids, weight, padding_idx, "numba")
    ref_out, ref_grad, _ = _run(ids, weight, padding_idx, "numpy")
    assert out.shape == ids.shape + (weight.shape[1],) and out.dtype == weight.dtype
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_allclose(grad, ref_grad, rtol=RTOL[weight.dtype.type], atol=0)


@given(case=embedding_cases())
def test_forward_picks_rows_and_backward_sums_them(case):
    ids, weight, padding_idx = case
    out, grad, dout = _run(ids, weight, padding_idx, "numba")
    np.testing.assert_array_equal(out, weight[ids])
    V, C = weight.shape
    expected = np.zeros((V, C))
    for n, v in enumerate(ids.reshape(-1)):         # a plain loop: one row per id
        expected[v] += dout.reshape(-1, C)[n]
    if padding_idx is not None:
        expected[padding_idx] = 0
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_repeated_ids_accumulate_and_padding_row_gets_nothing(backend):
    ids = np.array([[3, 1, 3], [3, 0, 1]])
    w = mt.Tensor(np.zeros((5, 2), np.float32), requires_grad=True)
    with mt.use_backend(backend):
        embedding(ids, w, padding_idx=0).backward(np.ones((2, 3, 2), np.float32))
    np.testing.assert_array_equal(w.grad[:, 0], [0, 2, 0, 3, 0])


def test_gradcheck():
    rng = np.random.default_rng(0)
    w = mt.Tensor(rng.standard_normal((6, 3)), requires_grad=True)
    gradcheck(lambda w: embedding(np.array([[5, 0, 5], [2, 2, 1]]), w), w)


def test_wide_backward_twice_bit_identical():
    # many repeats of each id: every row of dweight is a long sum
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, size=2000)
    dout = rng.standard_normal((2000, 200)).astype(np.float32)
    first = embedding_backward.numba(ids, dout, 50, 7)
    np.testing.assert_array_equal(first, embedding_backward.numba(ids, dout, 50, 7))
    np.testing.assert_allclose(first, embedding_backward.numpy(ids, dout, 50, 7), rtol=1e-6)


def test_ids_as_int_tensor_and_any_shape():
    w = mt.Tensor(np.arange(8.0).reshape(4, 2))
    assert embedding(mt.tensor(2), w).tolist() == [4.0, 5.0]
    assert embedding(mt.Tensor(np.zeros((2, 1, 3), np.int32)), w).shape == (2, 1, 3, 2)
    assert embedding(np.zeros((0, 3), np.int64), w).shape == (0, 3, 2)


@pytest.mark.parametrize("bad", [-1, 4, 1000])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ids_out_of_range_raise_index_error_naming_the_id(bad, backend):
    w = mt.Tensor(np.zeros((4, 2)), requires_grad=True)
    with mt.use_backend(backend), pytest.raises(IndexError, match=f"id {bad} is out of range"):
        embedding(np.array([0, bad, 2]), w)


@pytest.mark.parametrize("call, error, words", [
    (lambda w: embedding(np.array([0.5]), w), TypeError, "float64"),
    (lambda w: embedding(np.array([0]), w, padding_idx=4), IndexError, "padding_idx 4"),
    (lambda w: embedding(np.array([0]), w, padding_idx=-5), IndexError, "padding_idx -5"),
    (lambda w: embedding(np.array([0]), np.zeros(4)), ValueError, "shape (4,)"),
])
def test_errors(call, error, words):
    with pytest.raises(error) as info:
        call(mt.Tensor(np.zeros((4, 2))))
    assert words in str(info.value)


def test_negative_padding_idx_counts_from_the_end():
    w = mt.Tensor(np.zeros((4, 2)), requires_grad=True)
    embedding(np.array([3, 2]), w, padding_idx=-1).sum().backward()
    np.testing.assert_array_equal(w.grad[:, 0], [0, 0, 1, 0])
