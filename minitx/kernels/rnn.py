"""A plain (Elman) RNN layer's recurrence over time: the NumPy twin, the Function, rnn_sequence.

    h_t = act(xw_t + h_{t-1} @ W_hh^T + b_hh)       act: tanh or relu; h_t, xw_t (B, H)

xw (T, B, H) is the input projection x_t @ W_ih^T + b_ih of every step, made before
(one GEMM, by F.linear); only the recurrence is here. The forward saves the outputs
h_t, from which act' is read back (tanh' = 1 - h^2, relu' = [h > 0]); the backward
walks t = T-1 .. 0 and returns d xw for all steps at once. The derivation is in
docs/kernels/lstm.md; lstm.py and gru.py share this file's checks.
"""
import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from ._arrays import writable_c
from .numba import rnn as compiled

NONLINEARITIES = ("tanh", "relu")

# From this many multiply-adds in one step's product h_{t-1} @ W_hh^T (B * G*H * H),
# OpenBLAS's GEMM in the twin beats the compiled loop (docs/kernels/lstm.md has the
# figures): the three Functions then run the twin whatever the backend.
BLAS_MIN_MACS = 1 << 24


def blas_pays(xw, weight_hh):
    """True when a step's product, xw (T, B, G*H) by weight_hh (G*H, H), is large enough
    for the twin's per-step GEMM to beat the compiled loop."""
    return xw.shape[1] * weight_hh.size >= BLAS_MIN_MACS


def sigmoid(a):
    """1 / (1 + exp(-a)) with exp of a non-positive number only: no overflow."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


# ---- NumPy twin: reads like the math ----------------------------------------

def rnn_forward_numpy(xw, h0, weight_hh, bias_hh, nonlinearity):
    """xw (T, B, H), h0 (B, H), weight_hh (H, H), bias_hh (H,) -> h (T, B, H), every h_t."""
    out = np.empty_like(xw)
    h = h0                                                  # (B, H)
    for t in range(xw.shape[0]):
        a = xw[t] + h @ weight_hh.T + bias_hh               # (B, H)
        h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
        out[t] = h
    return out


def rnn_backward_numpy(dout, h0, weight_hh, out, nonlinearity):
    """dout, out (T, B, H), h0 (B, H), weight_hh (H, H) -> dxw (T, B, H), dh0 (B, H),
    dweight_hh (H, H), dbias_hh (H,)."""
    T, B, H = out.shape
    h_prev = np.concatenate([h0[None], out[:-1]])           # (T, B, H) h_{t-1}
    da = np.empty_like(out)                                 # (T, B, H) d a_t
    dh_next = np.zeros((B, H), out.dtype)
    for t in range(T - 1, -1, -1):
        dh = dout[t] + dh_next                              # h_t feeds the output and step t+1
        # h_t = act(a_t)
        da[t] = dh * (1 - out[t] * out[t]) if nonlinearity == "tanh" else dh * (out[t] > 0)
        # a_t = xw_t + h_{t-1} @ W_hh^T + b_hh
        dh_next = da[t] @ weight_hh
    dweight_hh = da.reshape(T * B, H).T @ h_prev.reshape(T * B, H)   # every step in one GEMM
    dbias_hh = da.sum(axis=(0, 1))
    return da, dh_next, dweight_hh, dbias_hh


rnn_forward = dispatch(rnn_forward_numpy, compiled.rnn_forward)
rnn_backward = dispatch(rnn_backward_numpy, compiled.rnn_backward)


# ---- autograd ----------------------------------------------------------------

class RNNSequence(Function):
    @staticmethod
    def forward(ctx, xw, h0, weight_hh, bias_hh, nonlinearity):
        xw, h0, weight_hh = (writable_c(a) for a in (xw, h0, weight_hh))
        b = np.zeros(weight_hh.shape[0], xw.dtype) if bias_hh is None else writable_c(bias_hh)
        ctx.twin = blas_pays(xw, weight_hh)
        out = (rnn_forward_numpy if ctx.twin else rnn_forward)(xw, h0, weight_hh, b, nonlinearity)
        ctx.save_for_backward(h0, weight_hh, out)
        ctx.has_bias, ctx.nonlinearity = bias_hh is not None, nonlinearity
        return out

    @staticmethod
    def backward(ctx, grad):
        h0, weight_hh, out = ctx.saved_tensors
        backward = rnn_backward_numpy if ctx.twin else rnn_backward
        dxw, dh0, dw, db = backward(writable_c(grad), h0, weight_hh, out, ctx.nonlinearity)
        return dxw, dh0, dw, (db if ctx.has_bias else None), None


def checked_sequence(op, gates, xw, states, weight_hh, bias_hh):
    """xw, the initial states, weight_hh and bias_hh (or None) as Tensors, after the checks
    every recurrence makes: xw (T, B, gates*H) with T >= 1, each state (B, H), weight_hh
    (gates*H, H), bias_hh (gates*H,), one float dtype. `op` names the caller in the errors."""
    xw, weight_hh = (a if isinstance(a, Tensor) else Tensor(a) for a in (xw, weight_hh))
    states = tuple(s if isinstance(s, Tensor) else Tensor(s) for s in states)
    if weight_hh.ndim != 2 or weight_hh.shape[0] != gates * weight_hh.shape[1]:
        raise ValueError(f"{op}: weight_hh of shape {weight_hh.shape}, want ({gates}*H, H)")
    GH, H = weight_hh.shape
    if xw.ndim != 3 or xw.shape[2] != GH or xw.shape[0] < 1:
        raise ValueError(f"{op}: xw of shape {xw.shape}, want (T, B, {GH}) with T >= 1 "
                         f"for weight_hh of shape {weight_hh.shape}")
    for s in states:
        if s.shape != (xw.shape[1], H):
            raise ValueError(f"{op}: initial state of shape {s.shape}, want (B, H) = {(xw.shape[1], H)} "
                             f"for xw of shape {xw.shape}")
    if bias_hh is not None:
        bias_hh = bias_hh if isinstance(bias_hh, Tensor) else Tensor(bias_hh)
        if bias_hh.shape != (GH,):
            raise ValueError(f"{op}: bias_hh of shape {bias_hh.shape}, want ({GH},)")
    dtypes = [a.dtype for a in (xw, *states, weight_hh) + (() if bias_hh is None else (bias_hh,))]
    if xw.dtype not in (np.float32, np.float64) or len(set(dtypes)) != 1:
        raise TypeError(f"{op}: xw, initial states, weight_hh and bias_hh have dtypes "
                        f"{', '.join(map(str, dtypes))}; want one of float32, float64")
    return xw, states, weight_hh, bias_hh


def rnn_sequence(xw, h0, weight_hh, bias_hh=None, nonlinearity="tanh"):
    """One RNN layer over T steps from its input projection: xw (T, B, H), h0 (B, H),
    weight_hh (H, H), bias_hh (H,) or None -> h (T, B, H), every step's hidden state."""
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"rnn_sequence: unknown nonlinearity {nonlinearity!r}; choose tanh or relu")
    xw, (h0,), weight_hh, bias_hh = checked_sequence("rnn_sequence", 1, xw, (h0,), weight_hh, bias_hh)
    return RNNSequence.apply(xw, h0, weight_hh, bias_hh, nonlinearity)
