"""linear (one BLAS Function) and dropout (seeded; Numba against the NumPy twin).

linear is checked against x @ w.T + b in NumPy and by gradcheck. dropout: both
backends see the same uniform draws, and compare, mask and scale are exact
operations, so they agree bit for bit; we assert exact equality.
Parity with torch is in test_kernels_parity_b.py.
"""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels.dropout import dropout
from minitx.kernels.linear import linear
from minitx.testing import gradcheck
from tests.kernel_strategies_b import float_dtypes

# ---- linear ----------------------------------------------------------------------


@given(lead=st.lists(st.integers(1, 3), max_size=3), n_in=st.integers(1, 4),
       n_out=st.integers(1, 4), bias=st.booleans(), dtype=float_dtypes, seed=st.integers(0, 99))
@example(lead=[2, 3], n_in=3, n_out=1, bias=False, dtype=np.float32, seed=60)   # an output near 0 by cancellation
def test_linear_matches_numpy(lead, n_in, n_out, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if bias else None
    out = linear(x, w, b)
    ref = x @ w.T + (0 if b is None else b)
    assert out.shape == (*lead, n_out) and out.dtype == dtype
    # Each output sums n_in products and the bias: it may be near zero by cancellation, so
    # the tolerance is a few ulp of the terms summed (|x| @ |w|.T + |b|), not of the result.
    terms = np.abs(x).astype(np.float64) @ np.abs(w).T.astype(np.float64) + (0 if b is None else np.abs(b))
    assert np.all(np.abs(out.data - ref) <= 4 * (n_in + 1) * np.finfo(dtype).eps * terms)


@pytest.mark.parametrize("x_shape", [(3,), (2, 3), (2, 2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(x_shape, bias):
    rng = np.random.default_rng(0)
    x = mt.Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = mt.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = mt.Tensor(rng.standard_normal(4), requires_grad=True) if bias else None
    args = (x, w) + ((b,) if bias else ())
    gradcheck(lambda *a: linear(*a), *args)


def test_linear_grads_only_where_needed():
    x = mt.Tensor(np.ones((2, 3)))
    w = mt.Tensor(np.ones((4, 3)), requires_grad=True)
    linear(x, w).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad, np.full((4, 3), 2.0))


@pytest.mark.parametrize("x, w, b, error, words", [
    ((2, 3), (4, 2), None, ValueError, "input of shape (2, 3) and weight of shape (4, 2)"),
    ((2, 3), (3,), None, ValueError, "weight of shape (3,)"),
    ((2, 3), (4, 3), (3,), ValueError, "bias of shape (3,)"),
])
def test_linear_errors(x, w, b, error, words):
    with pytest.raises(error) as info:
        linear(np.ones(x), np.ones(w), None if b is None else np.ones(b))
    assert words in str(info.value)


def test_linear_dtype_mismatch():
    with pytest.raises(TypeError, match="float32"):
        linear(np.ones((2, 3), np.float32), np.ones((4, 3)))


# ---- dropout ---------------------------------------------------------------------

def _dropout_run(x, p, backend, seed=0):
    t = mt.Tensor(x.copy(), requires_grad=True)
    with mt.use_backend(backend):
        mt.manual_seed(seed)
        out = dropout(t, p)
        g = np.random.default_rng(1).standard_normal(x.shape).astype(x.dtype)
        out.backward(g)
    return out.data, t.grad, g


@given(shape=st.lists(st.integers(1, 5), max_size=3), p=st.sampled_from([0.1, 0.5, 0.9, 1.0]),
       dtype=float_dtypes, seed=st.integers(0, 99))
def test_dropout_numba_matches_numpy_twin(shape, p, dtype, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    out, grad, g = _dropout_run(x, p, "numba", seed)
    ref_out, ref_grad, _ = _dropout_run(x, p, "numpy", seed)
    assert out.dtype == dtype and grad.dtype == dtype
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(grad, ref_grad)
    # each element is dropped (0, grad 0) or kept and scaled (x / (1 - p), grad g / (1 - p))
    kept = out != 0
    scale = 1 / (1 - p) if p < 1 else 0
    np.testing.assert_allclose(out[kept], x[kept] * scale, rtol=1e-6)
    np.testing.assert_allclose(grad, np.where(kept, g * scale, 0), rtol=1e-6)


def test_dropout_rate_and_expected_value():
    x = np.ones(200_000, np.float32)
    out, _, _ = _dropout_run(x, 0.3, "numba")
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert abs(out.mean() - 1) < 0.01


def test_dropout_same_seed_same_mask_and_new_draws_otherwise():
    x = mt.Tensor(np.ones(100, np.float32))
    mt.manual_seed(3)
    a = dropout(x, 0.5).data
    b = dropout(x, 0.5).data
    mt.manual_seed(3)
    np.testing.assert_array_equal(a, dropout(x, 0.5).data)
    assert not np.array_equal(a, b)


def test_dropout_identity_and_all_dropped():
    x = mt.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    out = dropout(x, 1.0)
    np.testing.assert_array_equal(out.data, 0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)


def test_dropout_gradcheck():
    x = mt.Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)

    def fn(x):
        mt.manual_seed(9)                           # the same mask on every call
        return dropout(x, 0.4)
    gradcheck(fn, x)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_p_raises(p):
    with pytest.raises(ValueError, match=str(p)):
        dropout(mt.Tensor(np.ones(3)), p)


def test_dropout_needs_floats():
    with pytest.raises(TypeError, match="int64"):
        dropout(mt.Tensor(np.ones(3, np.int64)), 0.5)
