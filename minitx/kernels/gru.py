"""A GRU layer's recurrence over time: the NumPy twin, the Function, gru_sequence.

    hw_t = h_{t-1} @ W_hh^T + b_hh                  (B, 3H): the parts r, z, n in that order
    r = sigmoid(xw_r + hw_r),  z = sigmoid(xw_z + hw_z)
    n = tanh(xw_n + r * hw_n)                      (PyTorch's form: r multiplies W_hn h + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

xw (T, B, 3H) is the input projection x_t @ W_ih^T + b_ih of every step, made before
(one GEMM, by F.linear). b_hh cannot join it there, as it can for the RNN and the
LSTM: b_hn sits inside r * (...). The forward saves r, z, n and hw_n; the backward
walks t = T-1 .. 0. The derivation is in docs/kernels/lstm.md.
"""
import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ._arrays import writable_c
from .numba import gru as compiled
from .rnn import blas_pays, checked_sequence, sigmoid


# ---- NumPy twin: reads like the math ----------------------------------------

def gru_forward_numpy(xw, h0, weight_hh, bias_hh):
    """xw (T, B, 3H), h0 (B, H), weight_hh (3H, H), bias_hh (3H,) -> h (T, B, H), every h_t,
    and gates (T, B, 4H): r, z, n and hw_n of every step."""
    T, B, H3 = xw.shape
    H = H3 // 3
    out = np.empty((T, B, H), xw.dtype)
    gates = np.empty((T, B, 4 * H), xw.dtype)
    h = h0                                                  # (B, H)
    for t in range(T):
        hw = h @ weight_hh.T + bias_hh                      # (B, 3H)
        r = sigmoid(xw[t, :, :H] + hw[:, :H])
        z = sigmoid(xw[t, :, H:2 * H] + hw[:, H:2 * H])
        n = np.tanh(xw[t, :, 2 * H:] + r * hw[:, 2 * H:])
        h = (1 - z) * n + z * h
        gates[t] = np.concatenate([r, z, n, hw[:, 2 * H:]], axis=1)
        out[t] = h
    return out, gates


def gru_backward_numpy(dout, h0, weight_hh, out, gates):
    """dout, out (T, B, H), h0 (B, H), weight_hh (3H, H), gates (T, B, 4H) -> dxw (T, B, 3H),
    dh0 (B, H), dweight_hh (3H, H), dbias_hh (3H,)."""
    T, B, H = out.shape
    h_prev = np.concatenate([h0[None], out[:-1]])           # (T, B, H) h_{t-1}
    dxw = np.empty((T, B, 3 * H), out.dtype)                # d (xw_r, xw_z, xw_n)
    dhw = np.empty((T, B, 3 * H), out.dtype)                # d (hw_r, hw_z, hw_n)
    dh_next = np.zeros((B, H), out.dtype)
    for t in range(T - 1, -1, -1):
        r, z, n, hw_n = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
        dh = dout[t] + dh_next                              # h_t feeds the output and step t+1
        # h_t = (1 - z) * n + z * h_{t-1}
        dn, dz = dh * (1 - z), dh * (h_prev[t] - n)
        # n = tanh(xw_n + r * hw_n)
        dan = dn * (1 - n * n)
        dr = dan * hw_n
        # r, z = sigmoid(xw_r + hw_r), sigmoid(xw_z + hw_z)
        dar, daz = dr * r * (1 - r), dz * z * (1 - z)
        dxw[t] = np.concatenate([dar, daz, dan], axis=1)
        dhw[t] = np.concatenate([dar, daz, dan * r], axis=1)
        # hw_t = h_{t-1} @ W_hh^T + b_hh, and the direct path z * h_{t-1}
        dh_next = dhw[t] @ weight_hh + dh * z
    dweight_hh = dhw.reshape(T * B, 3 * H).T @ h_prev.reshape(T * B, H)   # every step in one GEMM
    dbias_hh = dhw.sum(axis=(0, 1))
    return dxw, dh_next, dweight_hh, dbias_hh


gru_forward = dispatch(gru_forward_numpy, compiled.gru_forward)
gru_backward = dispatch(gru_backward_numpy, compiled.gru_backward)


# ---- autograd ----------------------------------------------------------------

class GRUSequence(Function):
    @staticmethod
    def forward(ctx, xw, h0, weight_hh, bias_hh):
        xw, h0, weight_hh = (writable_c(a) for a in (xw, h0, weight_hh))
        b = np.zeros(weight_hh.shape[0], xw.dtype) if bias_hh is None else writable_c(bias_hh)
        ctx.twin = blas_pays(xw, weight_hh)
        out, gates = (gru_forward_numpy if ctx.twin else gru_forward)(xw, h0, weight_hh, b)
        ctx.save_for_backward(h0, weight_hh, out, gates)
        ctx.has_bias = bias_hh is not None
        return out

    @staticmethod
    def backward(ctx, grad):
        h0, weight_hh, out, gates = ctx.saved_tensors
        backward = gru_backward_numpy if ctx.twin else gru_backward
        dxw, dh0, dw, db = backward(writable_c(grad), h0, weight_hh, out, gates)
        return dxw, dh0, dw, (db if ctx.has_bias else None)


def gru_sequence(xw, h0, weight_hh, bias_hh=None):
    """One GRU layer over T steps from its input projection: xw (T, B, 3H), h0 (B, H),
    weight_hh (3H, H), bias_hh (3H,) or None -> h (T, B, H), every step's hidden state."""
    xw, (h0,), weight_hh, bias_hh = checked_sequence("gru_sequence", 3, xw, (h0,), weight_hh, bias_hh)
    return GRUSequence.apply(xw, h0, weight_hh, bias_hh)
