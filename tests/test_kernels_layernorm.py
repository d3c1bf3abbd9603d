"""layer_norm: Numba kernel == NumPy twin, gradients by finite differences, determinism, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels import layernorm as ln
from minitx.kernels.numba import layernorm as compiled_ln
from minitx.testing import gradcheck
from tests.kernel_strategies import PATHS, arrays, kernel_path, rows, shapes, twin_tol


@st.composite
def problems(draw):
    """x (R, C) with an offset mean, weight, bias (C,), upstream grad dy (R, C)."""
    x = draw(rows(max_rows=30, max_cols=50))
    R, C = x.shape
    x = x + x.dtype.type(draw(st.sampled_from([0.0, 5.0, -100.0])))
    w, b = draw(arrays((C,), x.dtype)), draw(arrays((C,), x.dtype))
    dy = draw(arrays((R, C), x.dtype))
    return x, w, b, dy


@pytest.mark.parametrize("path", PATHS)
@given(problems())
def test_numba_matches_numpy_twin(path, p):
    x, w, b, dy = p
    y0, mean0, rstd0 = ln.layer_norm_forward_numpy(x, w, b, 1e-5)
    with kernel_path(path):
        y1, mean1, rstd1 = ln.layer_norm_forward.numba(x, w, b, 1e-5)
    # The two sum a row in different orders, so their means differ by an ulp of
    # the mean; x - mean magnifies that by |mean| / std (up to 1e4 here).
    cond = 1 + np.max(np.abs(mean0) * rstd0)
    tol = {k: v * cond for k, v in twin_tol(x.dtype).items()}
    assert y1.dtype == x.dtype
    np.testing.assert_allclose(y1, y0, **tol)
    np.testing.assert_allclose(mean1, mean0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rstd1, rstd0, rtol=tol["rtol"] * 10)
    grads0 = ln.layer_norm_backward_numpy(dy, x, w, mean0, rstd0)
    with kernel_path(path):
        grads1 = ln.layer_norm_backward.numba(dy, x, w, mean1, rstd1)
    for g0, g1 in zip(grads0, grads1):
        assert g1.dtype == x.dtype
        # dweight and dbias sum over R rows: allow R times the per-element tolerance
        np.testing.assert_allclose(g1, g0, rtol=tol["rtol"] * x.shape[0],
                                   atol=tol["atol"] * x.shape[0] * np.abs(g0).max(initial=1))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@given(shape=shapes(1, 3, 4), n_norm=st.integers(1, 2), affine=st.booleans(), data=st.data())
def test_gradcheck(backend, shape, n_norm, affine, data):
    n_norm = min(n_norm, len(shape))
    ns = shape[len(shape) - n_norm:]
    x = mt.Tensor(data.draw(arrays(shape, np.float64)), requires_grad=True)
    params = []
    if affine:
        params = [mt.Tensor(data.draw(arrays(ns, np.float64)), requires_grad=True) for _ in range(2)]
    with mt.use_backend(backend):
        assert gradcheck(lambda x, *wb: ln.layer_norm(x, ns, *wb), x, *params)


def test_normalizes_each_row():
    x = np.random.default_rng(0).standard_normal((4, 3, 8)) * 7 + 3
    y = ln.layer_norm(mt.Tensor(x), 8).data
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1 / (1 + 1e-5 / x.var(axis=-1)), rtol=1e-12)


@given(problems())
def test_numba_kernels_are_deterministic(p):
    """Twice the same input: the same bits, on one thread or on all (fixed blocks)."""
    x, w, b, dy = p
    outputs = []
    for path in ["serial", "serial", "parallel", "parallel"]:
        with kernel_path(path):
            y, mean, rstd = ln.layer_norm_forward.numba(x, w, b, 1e-5)
            outputs.append((y, mean, rstd) + ln.layer_norm_backward.numba(dy, x, w, mean, rstd))
    for other in outputs[1:]:
        for a, c in zip(outputs[0], other):
            assert np.array_equal(a, c)


def test_weight_without_bias_and_noncontiguous_grad():
    rng = np.random.default_rng(1)
    x = mt.Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    w = mt.Tensor(rng.standard_normal(5), requires_grad=True)
    assert gradcheck(lambda x, w: ln.layer_norm(x, (5,), w), x, w)
    y = ln.layer_norm(x, 5)
    y.backward(rng.standard_normal((5, 3)).T)   # a transposed, non-contiguous gradient
    assert x.grad.shape == (3, 5)


def test_errors_name_the_shapes():
    x = mt.Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"layer_norm: x of shape \(2, 3\).*normalized_shape \(4,\)"):
        ln.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"weight of shape \(2,\).*\(3,\)"):
        ln.layer_norm(x, 3, mt.Tensor(np.ones(2, np.float32)))
    with pytest.raises(TypeError, match="bias has dtype float64 but x has float32"):
        ln.layer_norm(x, 3, None, mt.Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="int64"):
        ln.layer_norm(mt.Tensor(np.zeros((2, 3), np.int64)), 3)


def test_read_only_inputs_reuse_the_compiled_kernels():
    """A read-only array is another type to Numba; the Function copies it instead of recompiling."""
    x = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
    w = np.ones(6, np.float32)
    ln.layer_norm(mt.Tensor(x), 6, mt.Tensor(w), mt.Tensor(w)).data   # compiled for writable arrays
    before = len(compiled_ln._forward_rows.signatures)
    x_ro = np.broadcast_to(x, x.shape)                                 # read-only view
    y = ln.layer_norm(mt.Tensor(x_ro), 6, mt.Tensor(w), mt.Tensor(w)).data
    assert len(compiled_ln._forward_rows.signatures) == before
    np.testing.assert_array_equal(y, ln.layer_norm(mt.Tensor(x), 6, mt.Tensor(w), mt.Tensor(w)).data)
