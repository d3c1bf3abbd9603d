"""linear_gelu (the fused Linear -> GELU) and its kernels bias_gelu_forward/backward:
Numba == NumPy twin, == F.gelu(F.linear(...)) call for call, gradients, determinism
across thread counts, errors, and the modules that take the fused path."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx import nn
from minitx.kernels import gelu as ge
from minitx.kernels.linear_gelu import linear_gelu
from minitx.nn import functional as F
from minitx.testing import gradcheck
from tests.kernel_strategies import DTYPES, PATHS, arrays, kernel_path
from tests.test_kernels_gelu import GELU_TOL


@st.composite
def bias_rows(draw):
    """h (R, C), b (C,), dy (R, C) of one dtype; R up to 70 rows, more than the 16 blocks."""
    R, C = draw(st.integers(1, 70)), draw(st.integers(1, 40))
    dtype = draw(DTYPES)
    scale = draw(st.sampled_from([1.0, 4.0, 30.0]))
    return (draw(arrays((R, C), dtype, scale=scale)), draw(arrays((C,), dtype)),
            draw(arrays((R, C), dtype)))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
@given(case=bias_rows())
def test_numba_matches_numpy_twin(path, approximate, case):
    h, b, dy = case
    tol = GELU_TOL[h.dtype]
    with kernel_path(path):
        y = ge.bias_gelu_forward.numba(h, b, approximate)
        da, db = ge.bias_gelu_backward.numba(dy, h, b, approximate)
    y0 = ge.bias_gelu_forward_numpy(h, b, approximate)
    da0, db0 = ge.bias_gelu_backward_numpy(dy, h, b, approximate)
    assert y.dtype == da.dtype == db.dtype == h.dtype and db.shape == b.shape
    np.testing.assert_allclose(y, y0, **tol)
    np.testing.assert_allclose(da, da0, rtol=tol["rtol"], atol=tol["atol"] * np.abs(dy).max())
    # db sums R terms: each term's error, and float32's rounding of the runs of rows
    np.testing.assert_allclose(db, db0, rtol=tol["rtol"],
                               atol=tol["rtol"] * np.abs(da0).sum(axis=0).max() + tol["atol"])


@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
@given(case=bias_rows())
def test_same_bits_on_any_thread_count(approximate, case):
    h, b, dy = case
    runs = []
    for path in ["serial", "parallel", "serial", "parallel"]:
        with kernel_path(path):
            runs.append((ge.bias_gelu_forward.numba(h, b, approximate),
                         *ge.bias_gelu_backward.numba(dy, h, b, approximate)))
    for run in runs[1:]:
        for got, want in zip(run, runs[0]):
            assert np.array_equal(got, want)


def _leaves(rng, dtype, lead=(2, 5), n_in=6, n_out=7):
    x = rng.standard_normal(lead + (n_in,))
    w = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
    b = rng.standard_normal(n_out)
    return [mt.Tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_as_linear_then_gelu(backend, approximate, dtype):
    """The forward has the same bits as the two calls (h + b is rounded to the dtype
    first in both); the gradients of x and weight too (the same products of the same
    da); the bias's is the same sum in another order."""
    rng = np.random.default_rng(3)
    fused, plain = _leaves(rng, dtype, lead=(3, 40)), None
    plain = [mt.Tensor(t.numpy().copy(), requires_grad=True) for t in fused]
    dy = rng.standard_normal((3, 40, 7)).astype(dtype)
    with mt.use_backend(backend):
        y1 = linear_gelu(*fused, approximate)
        y2 = F.gelu(F.linear(*plain), approximate)
        y1.backward(dy)
        y2.backward(dy)
    assert np.array_equal(y1.numpy(), y2.numpy())
    for a, b in zip(fused[:2], plain[:2]):
        assert np.array_equal(a.grad, b.grad)
    np.testing.assert_allclose(fused[2].grad, plain[2].grad, **GELU_TOL[np.dtype(dtype)])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("approximate", ge.APPROXIMATIONS)
@given(seed=st.integers(0, 2 ** 32 - 1), lead=st.sampled_from([(3,), (2, 4), (1, 2, 3)]))
def test_gradcheck(backend, approximate, seed, lead):
    leaves = _leaves(np.random.default_rng(seed), np.float64, lead=lead, n_in=3, n_out=4)
    with mt.use_backend(backend):
        assert gradcheck(lambda x, w, b: linear_gelu(x, w, b, approximate), *leaves)


def test_without_bias_it_is_the_two_calls():
    x, w, _ = _leaves(np.random.default_rng(0), np.float32)
    assert np.array_equal(linear_gelu(x, w, None).numpy(), F.gelu(F.linear(x, w)).numpy())


def test_errors_name_the_shapes():
    x, w, b = _leaves(np.random.default_rng(0), np.float32)
    with pytest.raises(ValueError, match=r"input of shape \(2, 5, 6\) and weight of shape \(6, 7\)"):
        linear_gelu(x, w.T, b)
    with pytest.raises(ValueError, match=r"bias of shape \(6,\), want \(7,\)"):
        linear_gelu(x, w, b[:6])
    with pytest.raises(TypeError, match="input float32, weight float64 and bias float32"):
        linear_gelu(x, mt.Tensor(w.numpy().astype(np.float64)), b)
    with pytest.raises(ValueError, match="approximate='erf'"):
        linear_gelu(x, w, b, approximate="erf")


@pytest.mark.parametrize("make", [
    lambda: nn.MLP(nn.BlockConfig(6, 1, hidden=24, activation="gelu_tanh")),
    lambda: nn.MLP(nn.BlockConfig(6, 1, hidden=24, activation="gelu")),
])
def test_mlp_fused_path_and_hooks(make):
    """nn.MLP takes the fused path; a forward hook on c_fc or act sends it through the two
    modules (so the hook sees their outputs); the result is the same either way."""
    mt.manual_seed(0)
    mlp = make()
    x = mt.Tensor(np.random.default_rng(1).standard_normal((2, 3, 6)).astype(np.float32))
    fused = mlp(x).numpy()
    by_hand = mlp.c_proj(mlp.act(mlp.c_fc(x))).numpy()
    assert np.array_equal(fused, by_hand)
    seen = []
    handle = mlp.c_fc.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    assert np.array_equal(mlp(x).numpy(), fused) and seen == [(2, 3, 24)]
    handle.remove()
    calls = []
    original = F.linear_gelu
    try:
        F.linear_gelu = lambda *a, **k: calls.append(1) or original(*a, **k)
        mlp(x)
    finally:
        F.linear_gelu = original
    assert calls == [1]
