"""cross_entropy: Numba == NumPy twin, gradients, ignore_index, label smoothing, errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels import cross_entropy as ce
from minitx.testing import gradcheck
from tests.kernel_strategies import PATHS, arrays, assert_threads, class_targets, kernel_path, rows, twin_tol

SMOOTHING = st.sampled_from([0.0, 0.1, 1.0])


def _targets_and_grad(x, data):
    """Targets t (N,) for logits x (N, V), some -100; valid = t != -100; upstream
    gradient g (N,) of the per-row losses, 0 where ignored."""
    N, V = x.shape
    t = data.draw(class_targets(N, V))
    valid = t != -100
    return t, valid, np.where(valid, data.draw(arrays((N,), np.float64)), 0.0)


@pytest.mark.parametrize("path", PATHS)
@given(x=rows(max_rows=30, max_cols=70), eps=SMOOTHING, data=st.data())
def test_numba_matches_numpy_twin(path, x, eps, data):
    t, valid, g = _targets_and_grad(x, data)
    tol = twin_tol(x.dtype)
    loss0, m0, s0, _ = ce.cross_entropy_forward.numpy(x, t, valid, eps)
    with kernel_path(path):
        loss1, m1, s1, _ = ce.cross_entropy_forward.numba(x, t, valid, eps)
        dx1 = ce.cross_entropy_backward.numba(g, x, t, valid, m1, s1, eps)
    # losses are float64 sums over the row: float32 inputs round only the terms.
    np.testing.assert_allclose(loss1, loss0, rtol=tol["rtol"], atol=tol["atol"] * np.abs(x).max())
    np.testing.assert_array_equal(m1, m0)
    np.testing.assert_allclose(s1, s0, rtol=tol["rtol"])
    dx0 = ce.cross_entropy_backward.numpy(g, x, t, valid, m0, s0, eps)
    assert dx1.dtype == x.dtype
    np.testing.assert_allclose(dx1, dx0, **tol)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("reduction", ce.REDUCTIONS)
@given(N=st.integers(1, 5), V=st.integers(1, 6), eps=SMOOTHING, data=st.data())
def test_gradcheck(backend, reduction, N, V, eps, data):
    x = mt.Tensor(data.draw(arrays((N, V), np.float64)), requires_grad=True)
    t = data.draw(class_targets(N, V))
    with mt.use_backend(backend):
        assert gradcheck(lambda x: ce.cross_entropy(x, t, reduction=reduction, label_smoothing=eps), x)


def test_loss_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, 1.0, 1.0]])
    t = np.array([2, 1, -100])
    lse = np.log(np.exp(x).sum(axis=1))
    nll = lse[:2] - x[[0, 1], [2, 1]]
    smooth = lse[:2] - x[:2].mean(axis=1)
    for be in ["numba", "numpy"]:
        with mt.use_backend(be):
            loss = ce.cross_entropy(mt.Tensor(x), t, label_smoothing=0.3).item()
            per_row = ce.cross_entropy(mt.Tensor(x), t, reduction="none").data
        assert loss == pytest.approx(np.mean(0.7 * nll + 0.3 * smooth), rel=1e-14)
        np.testing.assert_allclose(per_row, [nll[0], nll[1], 0.0], rtol=1e-14)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("reduction", ce.REDUCTIONS)
def test_all_ignored_gives_zero_loss_and_zero_grad(backend, reduction):
    x = mt.Tensor(np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    with mt.use_backend(backend):
        loss = ce.cross_entropy(x, np.full(4, 7), ignore_index=7, reduction=reduction, label_smoothing=0.1)
        loss.backward(np.ones(loss.shape, np.float32))
    np.testing.assert_array_equal(loss.data, 0.0)
    np.testing.assert_array_equal(x.grad, 0.0)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_large_logits_are_stable(backend):
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 1e4 - 2]], np.float32)
    t = np.array([1, 0])
    with mt.use_backend(backend):
        xt = mt.Tensor(x, requires_grad=True)
        loss = ce.cross_entropy(xt, t, reduction="none")
        loss.backward(np.ones(2, np.float32))
    lse1 = math.log(1 + math.exp(-1) + math.exp(-2))
    np.testing.assert_allclose(loss.data, [1e4, lse1], rtol=1e-6)
    assert np.isfinite(xt.grad).all()
    np.testing.assert_allclose(xt.grad.sum(axis=1), 0.0, atol=1e-6)


@given(x=rows(max_rows=30, max_cols=70), eps=SMOOTHING, data=st.data())
def test_numba_kernels_are_deterministic(x, eps, data):
    """Twice the same input: the same bits, on one thread or on all."""
    N, V = x.shape
    t = data.draw(class_targets(N, V))
    valid, g = t != -100, np.linspace(0.5, 2.0, N)
    runs = []
    for path in ["serial", "serial", "parallel", "parallel"]:
        with kernel_path(path):
            loss, m, s, _ = ce.cross_entropy_forward.numba(x, t, valid, eps)
            runs.append((loss, m, s, ce.cross_entropy_backward.numba(g, x, t, valid, m, s, eps)))
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("bad", [5, -1, 1 << 40])
def test_out_of_range_target_raises_before_any_kernel(bad, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a kernel ran")
    monkeypatch.setattr(ce, "cross_entropy_forward", never)
    x = mt.Tensor(np.zeros((3, 5), np.float32))
    with pytest.raises(IndexError, match=rf"cross_entropy: target {bad} at position 1 .* V=5"):
        ce.cross_entropy(x, np.array([0, bad, -100]))


def test_shape_and_argument_errors():
    x = mt.Tensor(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"logits of shape \(2, 3, 5\); expected \(N, V\)"):
        ce.cross_entropy(mt.Tensor(np.zeros((2, 3, 5))), np.zeros(6, np.int64))
    with pytest.raises(ValueError, match=r"targets of shape \(4,\) for logits of shape \(3, 5\)"):
        ce.cross_entropy(x, np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="targets have dtype float64"):
        ce.cross_entropy(x, np.zeros(3))
    with pytest.raises(ValueError, match="reduction='avg'"):
        ce.cross_entropy(x, np.zeros(3, np.int64), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        ce.cross_entropy(x, np.zeros(3, np.int64), label_smoothing=1.5)


# ---- the kept-exp path: small N * V keep e = exp(x - m) for the backward ------------

@pytest.mark.parametrize("path", PATHS)
@given(x=rows(max_rows=30, max_cols=70), eps=SMOOTHING, data=st.data())
def test_kept_kernels_match_numpy_twin_and_the_recomputing_ones(path, x, eps, data):
    t, valid, g = _targets_and_grad(x, data)
    tol = twin_tol(x.dtype)
    loss0, m0, s0, e0 = ce.cross_entropy_forward.numpy(x, t, valid, eps, keep_exp=True)
    with kernel_path(path):
        loss1, m1, s1, e1 = ce.cross_entropy_forward.numba(x, t, valid, eps, keep_exp=True)
        dx1 = ce.cross_entropy_backward.numba(g, x, t, valid, m1, s1, eps, e=e1)
        dx_recomputed = ce.cross_entropy_backward.numba(g, x, t, valid, m1, s1, eps)
    np.testing.assert_allclose(loss1, loss0, rtol=tol["rtol"], atol=tol["atol"] * np.abs(x).max())
    np.testing.assert_array_equal(m1, m0)
    np.testing.assert_allclose(e1, e0, **tol)
    dx0 = ce.cross_entropy_backward.numpy(g, x, t, valid, m0, s0, eps, e=e0)
    assert e1.dtype == dx1.dtype == x.dtype
    np.testing.assert_allclose(dx1, dx0, **tol)
    # the same exp of the same numbers: kept or recomputed, the same bits
    assert np.array_equal(dx1, dx_recomputed)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("reduction", ce.REDUCTIONS)
@given(N=st.integers(1, 5), V=st.integers(1, 6), eps=SMOOTHING, data=st.data())
def test_gradcheck_recomputing_path(backend, reduction, N, V, eps, data):
    x = mt.Tensor(data.draw(arrays((N, V), np.float64)), requires_grad=True)
    t = data.draw(class_targets(N, V))
    with pytest.MonkeyPatch.context() as mp, mt.use_backend(backend):
        mp.setattr(ce, "KEEP_EXP_MAX", 0)                   # every input takes the large-V path
        assert gradcheck(lambda x: ce.cross_entropy(x, t, reduction=reduction,
                                                    label_smoothing=eps), x)


@pytest.mark.parametrize("keep_max", [0, 1 << 22])
def test_out_of_range_target_raises_before_either_kernel(keep_max, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a kernel ran")
    monkeypatch.setattr(ce, "KEEP_EXP_MAX", keep_max)
    monkeypatch.setattr(ce, "cross_entropy_forward", never)
    with pytest.raises(IndexError, match=r"cross_entropy: target 5 at position 1 .* V=5"):
        ce.cross_entropy(mt.Tensor(np.zeros((3, 5), np.float32)), np.array([0, 5, -100]))


@pytest.mark.parametrize("keep", [True, False])
def test_parallel_drivers_equal_the_twin_with_and_without_kept_exps(monkeypatch, keep):
    # Small thresholds send a small input down the parallel path (with and without
    # the kept exps) that large vocabularies take; blocks must not share scratch.
    from minitx.kernels.numba import pair
    from minitx.kernels import cross_entropy as ce
    assert_threads()
    monkeypatch.setattr(pair, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(ce, "KEEP_EXP_MAX", 1 << 30 if keep else 1)
    rng = np.random.default_rng(0)
    N, V = 1024, 8192  # as a BERT MLM batch; small inputs rarely show the race
    x = rng.standard_normal((N, V)).astype(np.float32)
    t = np.where(rng.random(N) < 0.5, rng.integers(0, V, N), -100)
    out = {}
    for backend in ("numba", "numpy"):
        with mt.use_backend(backend):
            xt = mt.Tensor(x.copy(), requires_grad=True)
            loss = ce.cross_entropy(xt, t, label_smoothing=0.1)
            loss.backward()
            out[backend] = loss.item(), xt.grad
    assert out["numba"][0] == pytest.approx(out["numpy"][0], rel=1e-6)
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=1e-5, atol=1e-9)
