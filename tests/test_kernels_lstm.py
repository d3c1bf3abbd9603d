"""rnn_sequence, lstm_sequence, gru_sequence: Numba kernels == NumPy twins, gradients by
finite differences, the sequence against the same steps in plain ops, determinism, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.backend import dispatch
from minitx.kernels import gru, lstm, rnn
from minitx.testing import gradcheck
from tests.kernel_strategies import DTYPES, arrays, twin_tol

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


@st.composite
def problems(draw, kind, dtype=None, max_T=12, max_B=5, max_H=9):
    """xw (T, B, G*H), the initial states (B, H), weight_hh (G*H, H) scaled by 1/sqrt(H)
    as torch's init, bias_hh (G*H,), and a cotangent for every output step."""
    dt = dtype if dtype is not None else draw(DTYPES)
    T, B, H = draw(st.integers(1, max_T)), draw(st.integers(1, max_B)), draw(st.integers(1, max_H))
    G = GATES[kind]
    xw = draw(arrays((T, B, G * H), dt, scale=1.0))
    states = [draw(arrays((B, H), dt, scale=1.0)) for _ in range(2 if kind == "lstm" else 1)]
    w = draw(arrays((G * H, H), dt, scale=1.0)) / dt(np.sqrt(H))
    b = draw(arrays((G * H,), dt, scale=1.0))
    dout = draw(arrays((2, T, B, H) if kind == "lstm" else (T, B, H), dt, scale=1.0))
    return xw, states, w, b, dout


def _forward_backward(kind, impl, xw, states, w, b, dout):
    """Every array the kernel pair gives: the forward's outputs, then the backward's."""
    pick = lambda f: getattr(f, impl)   # noqa: E731  (.numpy or .numba of a dispatch)
    if kind == "lstm":
        hc, gates = pick(lstm.lstm_forward)(xw, *states, w, b)
        return (hc, gates) + pick(lstm.lstm_backward)(dout, *states, w, hc, gates)
    if kind == "gru":
        out, gates = pick(gru.gru_forward)(xw, *states, w, b)
        return (out, gates) + pick(gru.gru_backward)(dout, *states, w, out, gates)
    act = kind.removeprefix("rnn_")
    out = pick(rnn.rnn_forward)(xw, *states, w, b, act)
    return (out,) + pick(rnn.rnn_backward)(dout, *states, w, out, act)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_numba_matches_numpy_twin(kind, data):
    p = data.draw(problems(kind))
    dtype = p[0].dtype
    want = _forward_backward(kind, "numpy", *p)
    got = _forward_backward(kind, "numba", *p)
    T, B = p[0].shape[:2]
    tol = twin_tol(dtype)
    for g, w in zip(got, want):
        assert g.dtype == dtype and g.shape == w.shape
        # Rounding differences pass from step to step and the weight gradient sums T*B
        # terms: allow T*B times the per-element tolerance.
        np.testing.assert_allclose(g, w, rtol=tol["rtol"] * T * B, atol=tol["atol"] * T * B)


def _sequence(kind, *args):
    """The public function as one Tensor: lstm_sequence's h and c stacked (2, T, B, H)."""
    if kind == "lstm":
        return mt.stack(list(lstm.lstm_sequence(*args)))
    if kind == "gru":
        return gru.gru_sequence(*args)
    return rnn.rnn_sequence(*args, nonlinearity=kind.removeprefix("rnn_"))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), bias=st.booleans())
def test_gradcheck(backend, kind, data, bias):
    xw, states, w, b, _ = data.draw(problems(kind, np.float64, max_T=5, max_B=3, max_H=4))
    tensors = [mt.Tensor(a, requires_grad=True) for a in (xw, *states, w)]
    if bias:
        tensors.append(mt.Tensor(b, requires_grad=True))
    with mt.use_backend(backend):
        assert gradcheck(lambda *ts: _sequence(kind, *ts), *tensors)


def _steps_in_plain_ops(kind, xw, states, w, b):
    """The same recurrence from minitx's core ops, one step at a time (autograd does the
    backward): the reference the fused Function must equal."""
    T, H = xw.shape[0], w.shape[1]
    h, c = states[0], states[-1]
    hs, cs = [], []
    for t in range(T):
        hw = h @ w.transpose(0, 1) + b
        if kind == "lstm":
            a = xw[t] + hw
            i, f, g, o = a[:, :H].sigmoid(), a[:, H:2 * H].sigmoid(), a[:, 2 * H:3 * H].tanh(), a[:, 3 * H:].sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            cs.append(c)
        elif kind == "gru":
            r = (xw[t, :, :H] + hw[:, :H]).sigmoid()
            z = (xw[t, :, H:2 * H] + hw[:, H:2 * H]).sigmoid()
            n = (xw[t, :, 2 * H:] + r * hw[:, 2 * H:]).tanh()
            h = (1 - z) * n + z * h
        else:
            a = xw[t] + hw
            h = a.tanh() if kind == "rnn_tanh" else a.relu()
        hs.append(h)
    return mt.stack([mt.stack(hs), mt.stack(cs)]) if kind == "lstm" else mt.stack(hs)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_equals_the_steps_in_plain_ops(backend, kind, data):
    p = data.draw(problems(kind, np.float64))
    dout = p[4]
    results = []
    for fused in (True, False):
        ts = [mt.Tensor(a.copy(), requires_grad=True) for a in (p[0], *p[1], p[2], p[3])]
        with mt.use_backend(backend):
            out = _sequence(kind, *ts) if fused else _steps_in_plain_ops(kind, ts[0], ts[1:-2], *ts[-2:])
            out.backward(dout)
        results.append([out.data] + [t.grad for t in ts])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_numba_kernels_are_deterministic(kind, data):
    p = data.draw(problems(kind, np.float32, max_T=20, max_B=8, max_H=16))
    first = _forward_backward(kind, "numba", *p)
    again = _forward_backward(kind, "numba", *p)
    for a, b in zip(first, again):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("large", [False, True])
def test_large_steps_run_the_twin_under_either_backend(kind, large, monkeypatch):
    """From rnn.BLAS_MIN_MACS multiply-adds a step the twin's GEMM is the faster, so the
    Function runs the twin even under the numba backend; below it, the compiled kernels."""
    module, name = {"lstm": (lstm, "lstm"), "gru": (gru, "gru")}.get(kind, (rnn, "rnn"))
    monkeypatch.setattr(rnn, "BLAS_MIN_MACS", 1 if large else 1 << 62)
    compiled_calls = []
    for step in ("forward", "backward"):
        run = getattr(module, f"{name}_{step}")

        def counted(*args, _compiled=run.numba, _step=step):
            compiled_calls.append(_step)
            return _compiled(*args)
        monkeypatch.setattr(module, f"{name}_{step}", dispatch(run.numpy, counted))
    rng, H = np.random.default_rng(0), 4
    G = GATES[kind]
    arrays_in = [rng.standard_normal(s) for s in [(3, 2, G * H)] + [(2, H)] * (2 if kind == "lstm" else 1)
                 + [(G * H, H), (G * H,)]]
    with mt.use_backend("numba"):
        _sequence(kind, *(mt.Tensor(a, requires_grad=True) for a in arrays_in)).sum().backward()
    assert compiled_calls == ([] if large else ["forward", "backward"])


def test_errors_name_the_shapes():
    xw, h0 = np.zeros((5, 2, 12), np.float32), np.zeros((2, 3), np.float32)
    w = np.zeros((12, 3), np.float32)
    with pytest.raises(ValueError, match=r"lstm_sequence: xw of shape \(5, 2, 8\), want \(T, B, 12\)"):
        lstm.lstm_sequence(xw[:, :, :8], h0, h0, w)
    with pytest.raises(ValueError, match=r"lstm_sequence: initial state of shape \(4, 3\), want \(B, H\) = "
                                         r"\(2, 3\) for xw of shape \(5, 2, 12\)"):
        lstm.lstm_sequence(xw, h0, np.zeros((4, 3), np.float32), w)
    with pytest.raises(ValueError, match=r"gru_sequence: weight_hh of shape \(12, 3\), want \(3\*H, H\)"):
        gru.gru_sequence(xw, h0, w)
    with pytest.raises(ValueError, match=r"rnn_sequence: bias_hh of shape \(4,\), want \(3,\)"):
        rnn.rnn_sequence(xw[:, :, :3], h0, w[:3], np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"rnn_sequence: xw, initial states, weight_hh and bias_hh have "
                                        r"dtypes float32, float64, float32"):
        rnn.rnn_sequence(xw[:, :, :3], h0.astype(np.float64), w[:3])
    with pytest.raises(ValueError, match=r"rnn_sequence: xw of shape \(0, 2, 3\), want \(T, B, 3\) with T >= 1"):
        rnn.rnn_sequence(xw[:0, :, :3], h0, w[:3])
    with pytest.raises(ValueError, match="rnn_sequence: unknown nonlinearity 'gelu'"):
        rnn.rnn_sequence(xw[:, :, :3], h0, w[:3], nonlinearity="gelu")
