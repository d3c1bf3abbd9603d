"""A GRU's recurrence, compiled: one serial kernel each way over all T steps, with the
twin's signatures (kernels/gru.py). Each step's h_{t-1} @ W_hh^T is rnn.py's loop, not
BLAS (Numba's np.dot needs SciPy); the weight gradient, one GEMM over all steps, stays
with NumPy. docs/kernels/lstm.md has the measurements."""
import numpy as np

from ._jit import NOALIAS, njit
from .rnn import add_products, sigmoid, tanh


@njit(**NOALIAS)
def _forward_steps(xw, h0, wt, bias, out, gates):
    """xw (T, B, 3H), h0 (B, H), wt = W_hh^T (H, 3H), bias (3H,) -> out (T, B, H),
    gates (T, B, 4H): r, z, n and hw_n."""
    T, B, H3 = xw.shape
    H = H3 // 3
    one = xw.dtype.type(1)
    hw = np.empty((B, H3), xw.dtype)                        # (B, 3H) hw_t
    for t in range(T):
        h_prev = h0 if t == 0 else out[t - 1]               # (B, H)
        for b in range(B):
            hw[b] = bias
        # hw_t = h_{t-1} @ W_hh^T + b_hh
        add_products(hw, h_prev, wt)
        for b in range(B):
            x, hwb, h, g = xw[t, b], hw[b], out[t, b], gates[t, b]
            for j in range(2 * H):
                g[j] = sigmoid(x[j] + hwb[j])               # r, z
            for j in range(H):
                n = tanh(x[2 * H + j] + g[j] * hwb[2 * H + j])
                h[j] = (one - g[H + j]) * n + g[H + j] * h_prev[b, j]
                g[2 * H + j], g[3 * H + j] = n, hwb[2 * H + j]


@njit(**NOALIAS)
def _backward_steps(dout, h0, weight_hh, out, gates, dxw, dhw, dh_next):
    """dout, out (T, B, H), h0 (B, H), weight_hh (3H, H), gates (T, B, 4H) -> dxw, dhw
    (T, B, 3H), dh_next (B, H): d h0 at the end."""
    T, B, H = out.shape
    one = out.dtype.type(1)
    dh_next[:] = 0
    for t in range(T - 1, -1, -1):
        h_prev = h0 if t == 0 else out[t - 1]               # (B, H)
        for b in range(B):
            g, dx, dw, gh = gates[t, b], dxw[t, b], dhw[t, b], dh_next[b]
            for j in range(H):
                r, z, n, hw_n = g[j], g[H + j], g[2 * H + j], g[3 * H + j]
                dh = dout[t, b, j] + gh[j]                  # h_t feeds the output and step t+1
                # h_t = (1 - z) * n + z * h_{t-1};  n = tanh(xw_n + r * hw_n)
                dan = dh * (one - z) * (one - n * n)
                # r, z = sigmoid(xw_r + hw_r), sigmoid(xw_z + hw_z)
                dar = dan * hw_n * r * (one - r)
                daz = dh * (h_prev[b, j] - n) * z * (one - z)
                dx[j], dx[H + j], dx[2 * H + j] = dar, daz, dan
                dw[j], dw[H + j], dw[2 * H + j] = dar, daz, dan * r
                gh[j] = dh * z                              # the direct path z * h_{t-1}
        # hw_t = h_{t-1} @ W_hh^T + b_hh
        add_products(dh_next, dhw[t], weight_hh)


def gru_forward(xw, h0, weight_hh, bias_hh):
    """xw (T, B, 3H), h0 (B, H), weight_hh (3H, H), bias_hh (3H,) -> h (T, B, H),
    gates (T, B, 4H)."""
    T, B, H3 = xw.shape
    out = np.empty((T, B, H3 // 3), xw.dtype)
    gates = np.empty((T, B, 4 * (H3 // 3)), xw.dtype)
    _forward_steps(xw, h0, np.ascontiguousarray(weight_hh.T), bias_hh, out, gates)
    return out, gates


def gru_backward(dout, h0, weight_hh, out, gates):
    """dout, out (T, B, H), h0 (B, H), weight_hh (3H, H), gates (T, B, 4H) -> dxw (T, B, 3H),
    dh0 (B, H), dweight_hh (3H, H), dbias_hh (3H,)."""
    T, B, H = out.shape
    dxw, dhw, dh0 = np.empty((T, B, 3 * H), out.dtype), np.empty((T, B, 3 * H), out.dtype), np.empty_like(h0)
    _backward_steps(dout, h0, weight_hh, out, gates, dxw, dhw, dh0)
    h_prev = np.concatenate([h0[None], out[:-1]])           # (T, B, H) h_{t-1}
    dweight_hh = dhw.reshape(T * B, 3 * H).T @ h_prev.reshape(T * B, H)   # every step in one GEMM
    return dxw, dh0, dweight_hh, dhw.sum(axis=(0, 1))
