"""An LSTM's recurrence, compiled: one serial kernel each way over all T steps, with the
twin's signatures (kernels/lstm.py). Each step's h_{t-1} @ W_hh^T is rnn.py's loop, not
BLAS (Numba's np.dot needs SciPy); the weight gradient, one GEMM over all steps, stays
with NumPy. docs/kernels/lstm.md has the measurements."""
import numpy as np

from ._jit import NOALIAS, njit
from .rnn import add_products, sigmoid, tanh


@njit(**NOALIAS)
def _forward_steps(xw, h0, c0, wt, bias, hc, gates):
    """xw (T, B, 4H), h0, c0 (B, H), wt = W_hh^T (H, 4H), bias (4H,) -> hc (2, T, B, H),
    gates (T, B, 4H): i, f, g, o after their activations."""
    T, B, H4 = xw.shape
    H = H4 // 4
    for t in range(T):
        h_prev = h0 if t == 0 else hc[0, t - 1]             # (B, H)
        c_prev = c0 if t == 0 else hc[1, t - 1]             # (B, H)
        a = gates[t]                                        # (B, 4H) a_t, then the gates in place
        for b in range(B):
            for j in range(H4):
                a[b, j] = xw[t, b, j] + bias[j]
        # a_t = xw_t + h_{t-1} @ W_hh^T + b_hh
        add_products(a, h_prev, wt)
        h, c = hc[0, t], hc[1, t]                           # (B, H)
        for b in range(B):
            # Each loop reads and writes the same element, so each runs in SIMD lanes.
            ab = a[b]                                       # (4H,)
            for j in range(2 * H):
                ab[j] = sigmoid(ab[j])                      # i, f
            for j in range(2 * H, 3 * H):
                ab[j] = tanh(ab[j])                         # g
            for j in range(3 * H, H4):
                ab[j] = sigmoid(ab[j])                      # o
            for j in range(H):
                # c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)
                c[b, j] = ab[H + j] * c_prev[b, j] + ab[j] * ab[2 * H + j]
                h[b, j] = ab[3 * H + j] * tanh(c[b, j])


@njit(**NOALIAS)
def _backward_steps(dhc, h0, c0, weight_hh, hc, gates, da, dh_next, dc_next):
    """dhc, hc (2, T, B, H), h0, c0 (B, H), weight_hh (4H, H), gates (T, B, 4H) ->
    da (T, B, 4H), dh_next, dc_next (B, H): d h0 and d c0 at the end."""
    T, B, H = hc.shape[1:]
    one = hc.dtype.type(1)
    dh_next[:] = 0
    dc_next[:] = 0
    for t in range(T - 1, -1, -1):
        c_prev = c0 if t == 0 else hc[1, t - 1]             # (B, H)
        for b in range(B):
            gt, d, gh, gc = gates[t, b], da[t, b], dh_next[b], dc_next[b]   # (4H,), (4H,), (H,), (H,)
            for j in range(H):
                i, f, g, o = gt[j], gt[H + j], gt[2 * H + j], gt[3 * H + j]
                dh = dhc[0, t, b, j] + gh[j]                # h_t feeds the output and step t+1
                dc = dhc[1, t, b, j] + gc[j]                # so does c_t
                # h_t = o * tanh(c_t)
                tanh_c = tanh(hc[1, t, b, j])
                dc += dh * o * (one - tanh_c * tanh_c)
                # c_t = f * c_{t-1} + i * g; i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
                d[j] = dc * g * i * (one - i)
                d[H + j] = dc * c_prev[b, j] * f * (one - f)
                d[2 * H + j] = dc * i * (one - g * g)
                d[3 * H + j] = dh * tanh_c * o * (one - o)
                gc[j] = dc * f
        # a_t = xw_t + h_{t-1} @ W_hh^T + b_hh
        dh_next[:] = 0
        add_products(dh_next, da[t], weight_hh)


def lstm_forward(xw, h0, c0, weight_hh, bias_hh):
    """xw (T, B, 4H), h0, c0 (B, H), weight_hh (4H, H), bias_hh (4H,) -> hc (2, T, B, H),
    gates (T, B, 4H)."""
    T, B, H4 = xw.shape
    hc = np.empty((2, T, B, H4 // 4), xw.dtype)
    gates = np.empty_like(xw)
    _forward_steps(xw, h0, c0, np.ascontiguousarray(weight_hh.T), bias_hh, hc, gates)
    return hc, gates


def lstm_backward(dhc, h0, c0, weight_hh, hc, gates):
    """dhc, hc (2, T, B, H), h0, c0 (B, H), weight_hh (4H, H), gates (T, B, 4H) ->
    dxw (T, B, 4H), dh0, dc0 (B, H), dweight_hh (4H, H), dbias_hh (4H,)."""
    T, B, H = hc.shape[1:]
    da, dh0, dc0 = np.empty_like(gates), np.empty_like(h0), np.empty_like(c0)
    _backward_steps(dhc, h0, c0, weight_hh, hc, gates, da, dh0, dc0)
    h_prev = np.concatenate([h0[None], hc[0, :-1]])         # (T, B, H) h_{t-1}
    dweight_hh = da.reshape(T * B, 4 * H).T @ h_prev.reshape(T * B, H)   # every step in one GEMM
    return da, dh0, dc0, dweight_hh, da.sum(axis=(0, 1))
