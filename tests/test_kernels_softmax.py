"""softmax and log_softmax: Numba == NumPy twin, gradients, any dim, large logits, determinism."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels import softmax as sm
from minitx.testing import gradcheck
from tests.kernel_strategies import PATHS, arrays, kernel_path, rows, shapes, twin_tol

KERNELS = {
    "softmax": (sm.softmax_forward_numpy, sm.softmax_forward.numba,
                sm.softmax_backward_numpy, sm.softmax_backward.numba),
    "log_softmax": (sm.log_softmax_forward_numpy, sm.log_softmax_forward.numba,
                    sm.log_softmax_backward_numpy, sm.log_softmax_backward.numba),
}
PUBLIC = {"softmax": sm.softmax, "log_softmax": sm.log_softmax}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", list(KERNELS))
@given(x=rows(max_rows=20, max_cols=70), scale=st.sampled_from([1.0, 30.0]), data=st.data())
def test_numba_matches_numpy_twin(path, name, x, scale, data):
    fwd0, fwd1, bwd0, bwd1 = KERNELS[name]
    x = x * x.dtype.type(scale)
    dy = data.draw(arrays(x.shape, x.dtype))
    tol = twin_tol(x.dtype)
    y0 = fwd0(x)
    with kernel_path(path):
        y1 = fwd1(x)
    assert y1.dtype == x.dtype
    # log_softmax values grow with the logits (up to ~|x|): scale the absolute tolerance.
    np.testing.assert_allclose(y1, y0, rtol=tol["rtol"], atol=tol["atol"] * np.abs(x).max())
    dx0 = bwd0(dy, y0)
    with kernel_path(path):
        dx1 = bwd1(dy, y0)
    assert dx1.dtype == x.dtype
    np.testing.assert_allclose(dx1, dx0, rtol=tol["rtol"],
                               atol=tol["atol"] * (1 + np.abs(dy).sum(axis=1).max()))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name", list(PUBLIC))
@given(shape=shapes(1, 3, 4), data=st.data())
def test_gradcheck_any_dim(backend, name, shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = mt.Tensor(data.draw(arrays(shape, np.float64)), requires_grad=True)
    with mt.use_backend(backend):
        assert gradcheck(lambda x: PUBLIC[name](x, dim), x)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_large_logits_are_stable(backend):
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 1e4 - 2]], np.float32)
    with mt.use_backend(backend):
        p = sm.softmax(mt.Tensor(x), -1).data
        logp = sm.log_softmax(mt.Tensor(x), -1).data
    e = np.exp([0.0, -1.0, -2.0])
    np.testing.assert_allclose(p, [[1, 0, 0], e / e.sum()], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(logp[1], np.log(e / e.sum()), rtol=1e-6)
    np.testing.assert_allclose(logp[0], [0, -1e4, -2e4], rtol=1e-6)


def test_dim_moves_like_numpy():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for dim in range(-3, 3):
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        np.testing.assert_allclose(sm.softmax(mt.Tensor(x), dim).data,
                                   e / e.sum(axis=dim, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("name", list(KERNELS))
@given(x=rows(max_rows=20, max_cols=70))
def test_numba_kernels_are_deterministic(name, x):
    """Twice the same input: the same bits, on one thread or on all."""
    _, fwd, _, bwd = KERNELS[name]
    runs = []
    for path in ["serial", "serial", "parallel", "parallel"]:
        with kernel_path(path):
            y = fwd(x)
            runs.append((y, bwd(x, y)))
    for y, dx in runs[1:]:
        assert np.array_equal(y, runs[0][0]) and np.array_equal(dx, runs[0][1])


def test_errors():
    x = mt.Tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range for x of shape \(2, 3\)"):
        sm.softmax(x, 2)
    with pytest.raises(TypeError, match=r"log_softmax: x of shape \(3,\) has dtype int64"):
        sm.log_softmax(mt.Tensor(np.zeros(3, np.int64)), 0)
