"""gelu: Numba == NumPy twin for both forms, gradients, tails, determinism, errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels import gelu as ge
from minitx.testing import gradcheck
from tests.kernel_strategies import DTYPES, PATHS, arrays, kernel_path, shapes

# The Numba forms are rearranged for speed and accuracy (x * sigmoid(2u) for
# tanh, a Chebyshev erfc for float32), so they differ from the twin by rounding:
# relative 2e-5 in float32 (the erfc fit is good to 1.2e-7 relative), 1e-11 in
# float64; absolute for values near 0, where the twin's 1 + tanh(u) cancels.
GELU_TOL = {np.dtype(np.float32): dict(rtol=2e-5, atol=1e-6),
            np.dtype(np.float64): dict(rtol=1e-11, atol=1e-14)}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
@given(n=st.integers(1, 300), dtype=DTYPES, data=st.data())
def test_numba_matches_numpy_twin(path, approximate, n, dtype, data):
    x = data.draw(arrays((n,), dtype, scale=data.draw(st.sampled_from([1.0, 4.0, 30.0]))))
    dy = data.draw(arrays((n,), dtype))
    tol = GELU_TOL[np.dtype(dtype)]
    with kernel_path(path):
        y1 = ge.gelu_forward.numba(x, approximate)
        dx1 = ge.gelu_backward.numba(dy, x, approximate)
    assert y1.dtype == dx1.dtype == dtype
    np.testing.assert_allclose(y1, ge.gelu_forward_numpy(x, approximate), **tol)
    np.testing.assert_allclose(dx1, ge.gelu_backward_numpy(dy, x, approximate),
                               rtol=tol["rtol"], atol=tol["atol"] * np.abs(dy).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_form_against_math_erf(dtype):
    """x Phi(x) to 5e-7 relative (float32: the erfc fit, 1.2e-7, plus float32 rounding) or
    1e-13 (float64), tails included."""
    x = np.concatenate([np.linspace(-12, 6, 2001), [0.0, 1e-30, -1e-30, 40.0, -40.0]]).astype(dtype)
    x64 = x.astype(np.float64)
    exact = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x64])
    got = ge.gelu_forward.numba(x, "none").astype(np.float64)
    rtol = 5e-7 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, exact, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
@given(shape=shapes(1, 3, 4), data=st.data())
def test_gradcheck(backend, approximate, shape, data):
    x = mt.Tensor(data.draw(arrays(shape, np.float64, scale=2.0)), requires_grad=True)
    with mt.use_backend(backend):
        assert gradcheck(lambda x: ge.gelu(x, approximate), x)


@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
def test_extreme_inputs_stay_finite(approximate):
    x = np.array([-1e30, -1e4, -50.0, 0.0, 50.0, 1e4, 1e30], np.float32)
    y = ge.gelu_forward.numba(x, approximate)
    dx = ge.gelu_backward.numba(np.ones_like(x), x, approximate)
    np.testing.assert_array_equal(y[[0, 1, 2, 3]], 0.0)
    np.testing.assert_array_equal(y[4:], x[4:])
    assert np.isfinite(dx).all()
    np.testing.assert_allclose(dx, [0, 0, 0, 0.5, 1, 1, 1], atol=1e-7)


@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
@given(n=st.integers(1, 300), dtype=DTYPES, data=st.data())
def test_numba_kernels_are_deterministic(approximate, n, dtype, data):
    x = data.draw(arrays((n,), dtype))
    runs = []
    for path in ["serial", "serial", "parallel", "parallel"]:
        with kernel_path(path):
            runs.append((ge.gelu_forward.numba(x, approximate), ge.gelu_backward.numba(x, x, approximate)))
    for y, dx in runs[1:]:
        assert np.array_equal(y, runs[0][0]) and np.array_equal(dx, runs[0][1])


def test_keeps_shape_and_errors():
    x = mt.Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32))
    assert ge.gelu(x).shape == (2, 3, 4) and ge.gelu(x).dtype == np.float32
    with pytest.raises(ValueError, match="gelu: approximate='erf'"):
        ge.gelu(x, approximate="erf")
    with pytest.raises(TypeError, match=r"gelu: x of shape \(3,\) has dtype int64"):
        ge.gelu(mt.Tensor(np.arange(3)))
