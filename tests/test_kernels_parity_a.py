"""layer_norm, gelu, softmax, log_softmax, cross_entropy against torch.nn.functional: values and gradients."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels.cross_entropy import REDUCTIONS, cross_entropy
from minitx.kernels.gelu import gelu
from minitx.kernels.layernorm import layer_norm
from minitx.kernels.softmax import log_softmax, softmax
from tests.kernel_strategies import DTYPES, arrays, class_targets, shapes

torch = pytest.importorskip("torch", reason="parity tests compare with PyTorch")
F = torch.nn.functional

BACKENDS = ["numba", "numpy"]
# PyTorch computes float32 in float32; minitx sums rows in float64.
TOL = {np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5), np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}


def _both(mine, theirs, arrays_in, grad, backend, **kw):
    """Run minitx and torch on the same inputs; compare outputs and every input gradient."""
    with mt.use_backend(backend):
        xs = [mt.Tensor(a.copy(), requires_grad=True) for a in arrays_in]
        out = mine(*xs)
        out.backward(grad)
    ts = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays_in]
    ref = theirs(*ts)
    ref.backward(torch.from_numpy(np.asarray(grad, dtype=arrays_in[0].dtype)))
    tol = kw or TOL[arrays_in[0].dtype]
    np.testing.assert_allclose(out.data, ref.detach().numpy(), **tol)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@given(shape=shapes(2, 3, 8), C=st.integers(4, 40), dtype=DTYPES, data=st.data())
def test_layer_norm(backend, shape, C, dtype, data):
    # C >= 4 and unit-scale rows: with a tiny row variance rstd ~ 1/sqrt(eps)
    # magnifies PyTorch's float32 rounding of x - mean (minitx's is float64).
    shape = shape[:-1] + (C,)
    x, w, b, g = (data.draw(arrays(s, dtype, scale=1.0)) for s in [shape, (C,), (C,), shape])
    _both(lambda x, w, b: layer_norm(x, (C,), w, b), lambda x, w, b: F.layer_norm(x, (C,), w, b),
          [x, w, b], g, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_norm_two_normalized_dims(backend):
    rng = np.random.default_rng(0)
    x, w, b, g = (rng.standard_normal(s) for s in [(2, 3, 4, 5), (4, 5), (4, 5), (2, 3, 4, 5)])
    _both(lambda x, w, b: layer_norm(x, (4, 5), w, b, eps=1e-3),
          lambda x, w, b: F.layer_norm(x, (4, 5), w, b, eps=1e-3), [x, w, b], g, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@given(shape=shapes(1, 3, 8), dtype=DTYPES, data=st.data())
def test_gelu(backend, approximate, shape, dtype, data):
    x = data.draw(arrays(shape, dtype, scale=data.draw(st.sampled_from([1.0, 4.0]))))
    # unit-scale output gradients: atol is absolute, and far in the left tail
    # (gelu' ~ 1e-6) PyTorch's float32 rounds to -0.0 where the exact value is not
    g = data.draw(arrays(shape, dtype, scale=1.0))
    _both(lambda x: gelu(x, approximate), lambda x: F.gelu(x, approximate=approximate), [x], g, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("log", [False, True])
@given(shape=shapes(1, 3, 8), dtype=DTYPES, scale=st.sampled_from([1.0, 1e4]), data=st.data())
def test_softmax_any_dim_and_large_logits(backend, log, shape, dtype, scale, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(arrays(shape, dtype, scale=scale))
    g = data.draw(arrays(shape, dtype))
    mine, theirs = (log_softmax, F.log_softmax) if log else (softmax, F.softmax)
    tol = dict(TOL[np.dtype(dtype)])
    tol["atol"] *= scale if log else 1  # log_softmax values are as large as the logits
    _both(lambda x: mine(x, dim), lambda x: theirs(x, dim), [x], g, backend, **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(N=st.integers(1, 12), V=st.integers(1, 30), dtype=DTYPES,
       eps=st.sampled_from([0.0, 0.1, 0.5]), scale=st.sampled_from([1.0, 1e4]), data=st.data())
def test_cross_entropy(backend, reduction, N, V, dtype, eps, scale, data):
    x = data.draw(arrays((N, V), dtype, scale=scale))
    t = data.draw(class_targets(N, V, ignore_index=-1))
    if (t == -1).all() and reduction == "mean":
        t[0] = 0  # PyTorch gives nan here; minitx gives 0 (tested below)
    g = np.float64(1.5) if reduction != "none" else data.draw(arrays((N,), dtype))
    tol = dict(TOL[np.dtype(dtype)])
    tol["atol"] *= scale * max(N, 1)  # the loss is as large as the logits, summed over rows
    _both(lambda x: cross_entropy(x, t, ignore_index=-1, reduction=reduction, label_smoothing=eps),
          lambda x: F.cross_entropy(x, torch.from_numpy(t), ignore_index=-1, reduction=reduction,
                                    label_smoothing=eps),
          [x], g, backend, **tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_all_ignored_is_zero_where_torch_is_nan(backend):
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.full(3, -100)
    ref = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(t))
    assert torch.isnan(ref)
    with mt.use_backend(backend):
        assert cross_entropy(mt.Tensor(x), t).item() == 0.0
    # the same rows with one target kept agree with PyTorch
    t[1] = 2
    with mt.use_backend(backend):
        mine = cross_entropy(mt.Tensor(x), t, label_smoothing=0.2).item()
    ref = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(t), label_smoothing=0.2).item()
    assert mine == pytest.approx(ref, rel=1e-12)
