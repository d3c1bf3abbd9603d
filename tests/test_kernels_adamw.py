"""The AdamW kernel: Numba version against its NumPy twin, determinism, argument checks.

Both versions do the same float operations in the same order in the arrays'
dtype (no fastmath), so they agree to the last bit in practice; we assert
rtol 1e-6 in float32 and 1e-13 in float64. Parity with torch.optim is in
test_optim_parity.py.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.optim.adamw_step import adamw_step
from tests.strategies import float_dtypes, shapes

RTOL = {np.float32: 1e-6, np.float64: 1e-13}


def _arrays(shape, dtype, amsgrad, seed):
    rng = np.random.default_rng(seed)
    p, g = (np.array(rng.standard_normal(shape), dtype) for _ in range(2))
    m = np.array(0.1 * rng.standard_normal(shape), dtype)
    v = np.array(0.1 * rng.random(shape), dtype)
    v_max = np.array(v + 0.05 * rng.random(shape), dtype) if amsgrad else None
    return p, g, m, v, v_max


def _copy(arrays):
    return [None if a is None else a.copy() for a in arrays]


@given(shape=shapes(min_dims=0), dtype=float_dtypes, amsgrad=st.booleans(),
       decoupled=st.booleans(), lr=st.floats(1e-4, 0.1), beta1=st.floats(0.0, 0.99),
       beta2=st.floats(0.0, 0.9999), eps=st.floats(1e-10, 1e-2), wd=st.floats(0.0, 0.2),
       step=st.integers(1, 1000), seed=st.integers(0, 2**16))
def test_numba_matches_numpy_twin(shape, dtype, amsgrad, decoupled, lr, beta1, beta2, eps, wd,
                                  step, seed):
    ours = _arrays(shape, dtype, amsgrad, seed)
    ref = _copy(ours)
    hyper = (lr, beta1, beta2, eps, wd, step)
    with mt.use_backend("numba"):
        adamw_step(*ours, *hyper, decoupled=decoupled)
    with mt.use_backend("numpy"):
        adamw_step(*ref, *hyper, decoupled=decoupled)
    for name, a, b in zip(["param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"], ours, ref):
        if a is not None:
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=0, err_msg=name)


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_is_deterministic(dtype, amsgrad):
    first = _arrays((257, 3), dtype, amsgrad, seed=0)
    second = _copy(first)
    for arrays in (first, second):
        for step in (1, 2, 3):
            with mt.use_backend("numba"):
                adamw_step(*arrays, 1e-2, 0.9, 0.999, 1e-8, 0.1, step)
    for a, b in zip(first, second):
        if a is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("impl", ["numba", "numpy"])
def test_grad_may_be_any_layout_param_must_be_contiguous(impl):
    def step(*args):
        with mt.use_backend(impl):
            adamw_step(*args)
    p, g, m, v, _ = _arrays((4, 3), np.float64, False, seed=1)
    ref = _copy([p, g, m, v])
    step(p, np.asfortranarray(g), m, v, None, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1)
    with mt.use_backend("numpy"):
        adamw_step(*ref, None, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1)
    np.testing.assert_allclose(p, ref[0], rtol=1e-13)
    with pytest.raises(ValueError, match="parameter must be a writable C-contiguous float64"):
        step(p.T, g.T, m.T, v.T, None, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1)
    with pytest.raises(ValueError, match=r"exp_avg of shape \(3,\) for a parameter of shape \(4, 3\)"):
        step(p, g, m[0], v, None, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1)
    with pytest.raises(TypeError, match="int64"):
        step(*(np.zeros(2, np.int64) for _ in range(4)), None, 1e-2, 0.9, 0.999, 1e-8, 0.1, 1)
