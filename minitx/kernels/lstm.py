"""An LSTM layer's recurrence over time: the NumPy twin, the Function, lstm_sequence.

    a_t = xw_t + h_{t-1} @ W_hh^T + b_hh           (B, 4H): the gates i, f, g, o in that order
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

xw (T, B, 4H) is the input projection x_t @ W_ih^T + b_ih of every step, made before
(one GEMM, by F.linear); only the recurrence, which must go step by step, is here. The
forward saves the gates after their activations and the cell states; the backward
walks t = T-1 .. 0 and returns d xw for all steps at once, so the projection's backward
is one GEMM too. The derivation is in docs/kernels/lstm.md.
"""
import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ._arrays import writable_c
from .numba import lstm as compiled
from .rnn import blas_pays, checked_sequence, sigmoid


# ---- NumPy twin: reads like the math ----------------------------------------

def lstm_forward_numpy(xw, h0, c0, weight_hh, bias_hh):
    """xw (T, B, 4H), h0, c0 (B, H), weight_hh (4H, H), bias_hh (4H,) -> hc (2, T, B, H)
    (hc[0] the hidden states h_t, hc[1] the cell states c_t), gates (T, B, 4H) (i, f, g, o)."""
    T, B, H4 = xw.shape
    H = H4 // 4
    hc = np.empty((2, T, B, H), xw.dtype)
    gates = np.empty((T, B, H4), xw.dtype)
    h, c = h0, c0                                           # (B, H)
    for t in range(T):
        a = xw[t] + h @ weight_hh.T + bias_hh               # (B, 4H)
        i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))
        i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
        c = f * c + i * g
        h = o * np.tanh(c)
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        hc[0, t], hc[1, t] = h, c
    return hc, gates


def lstm_backward_numpy(dhc, h0, c0, weight_hh, hc, gates):
    """dhc (2, T, B, H) (the gradients of every h_t and c_t), h0, c0 (B, H), weight_hh
    (4H, H), hc (2, T, B, H), gates (T, B, 4H) -> dxw (T, B, 4H), dh0, dc0 (B, H),
    dweight_hh (4H, H), dbias_hh (4H,)."""
    T, B, H = hc.shape[1:]
    h_prev = np.concatenate([h0[None], hc[0, :-1]])         # (T, B, H) h_{t-1}
    c_prev = np.concatenate([c0[None], hc[1, :-1]])         # (T, B, H) c_{t-1}
    da = np.empty_like(gates)                               # (T, B, 4H) d a_t
    dh_next, dc_next = np.zeros((B, H), hc.dtype), np.zeros((B, H), hc.dtype)
    for t in range(T - 1, -1, -1):
        i, f, g, o = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
        dh = dhc[0, t] + dh_next                            # h_t feeds the output and step t+1
        dc = dhc[1, t] + dc_next                            # so does c_t
        # h_t = o * tanh(c_t)
        tanh_c = np.tanh(hc[1, t])
        do = dh * tanh_c
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        # c_t = f * c_{t-1} + i * g
        di, df, dg = dc * g, dc * c_prev[t], dc * i
        dc_next = dc * f
        # i, f, o = sigmoid(a_i, a_f, a_o); g = tanh(a_g)
        da[t] = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1)
        # a_t = xw_t + h_{t-1} @ W_hh^T + b_hh
        dh_next = da[t] @ weight_hh
    dweight_hh = da.reshape(T * B, 4 * H).T @ h_prev.reshape(T * B, H)   # every step in one GEMM
    dbias_hh = da.sum(axis=(0, 1))
    return da, dh_next, dc_next, dweight_hh, dbias_hh


lstm_forward = dispatch(lstm_forward_numpy, compiled.lstm_forward)
lstm_backward = dispatch(lstm_backward_numpy, compiled.lstm_backward)


# ---- autograd ----------------------------------------------------------------

class LSTMSequence(Function):
    @staticmethod
    def forward(ctx, xw, h0, c0, weight_hh, bias_hh):
        xw, h0, c0, weight_hh = (writable_c(a) for a in (xw, h0, c0, weight_hh))
        b = np.zeros(weight_hh.shape[0], xw.dtype) if bias_hh is None else writable_c(bias_hh)
        ctx.twin = blas_pays(xw, weight_hh)
        hc, gates = (lstm_forward_numpy if ctx.twin else lstm_forward)(xw, h0, c0, weight_hh, b)
        ctx.save_for_backward(h0, c0, weight_hh, hc, gates)
        ctx.has_bias = bias_hh is not None
        return hc

    @staticmethod
    def backward(ctx, grad):
        h0, c0, weight_hh, hc, gates = ctx.saved_tensors
        backward = lstm_backward_numpy if ctx.twin else lstm_backward
        dxw, dh0, dc0, dw, db = backward(writable_c(grad), h0, c0, weight_hh, hc, gates)
        return dxw, dh0, dc0, dw, (db if ctx.has_bias else None)


def lstm_sequence(xw, h0, c0, weight_hh, bias_hh=None):
    """One LSTM layer over T steps from its input projection: xw (T, B, 4H), h0, c0 (B, H),
    weight_hh (4H, H), bias_hh (4H,) or None -> h, c (T, B, H), every step's hidden and
    cell state."""
    xw, (h0, c0), weight_hh, bias_hh = checked_sequence("lstm_sequence", 4, xw, (h0, c0), weight_hh, bias_hh)
    hc = LSTMSequence.apply(xw, h0, c0, weight_hh, bias_hh)   # (2, T, B, H)
    return hc[0], hc[1]
