"""A plain RNN's recurrence, compiled: one serial kernel each way over all T steps, with
the twin's signatures (kernels/rnn.py). The vectorizable sigmoid and tanh and the
blocked product add_products here are lstm.py's and gru.py's too.

Each step's product h_{t-1} @ W_hh^T is a loop here, not BLAS: Numba's np.dot needs
SciPy, which minitx does not depend on. What the loop saves is the cost of a dozen
NumPy calls a step, which is most of a step at the sizes a learner runs; the weight
gradient, one GEMM over all steps, stays with NumPy. From kernels/rnn.BLAS_MIN_MACS
multiply-adds a step the twin's GEMM wins and the Functions run the twin instead.
docs/kernels/lstm.md has the measurements.
"""
import math

import numpy as np
from numba import types
from numba.extending import overload

from ._jit import NOALIAS, njit
from ._math import poly_exp


def sigmoid(x):
    """1 / (1 + exp(-x)); compiled: exp of a non-positive number only, as the twin's,
    vectorizable, in x's dtype (a Python 1 would make float32 math float64)."""
    e = math.exp(-abs(x))
    return 1 / (1 + e) if x >= 0 else e / (1 + e)


def tanh(x):
    """tanh(x); compiled: (1 - e) / (1 + e) with e = exp(-2|x|) and the sign put back,
    vectorizable where math.tanh is a C call per element; within a few ulp of 1."""
    return math.tanh(x)


@overload(sigmoid)
def _sigmoid(x):
    if x in (types.float32, types.float64):
        one = np.float32(1) if x == types.float32 else np.float64(1)

        def impl(x):
            e = poly_exp(-abs(x))
            return one / (one + e) if x >= 0 else e / (one + e)
        return impl
    return None


@overload(tanh)
def _tanh(x):
    if x in (types.float32, types.float64):
        one, two = (np.float32(1), np.float32(2)) if x == types.float32 else (np.float64(1), np.float64(2))

        def impl(x):
            e = poly_exp(-two * abs(x))
            t = (one - e) / (one + e)
            return t if x >= 0 else -t
        return impl
    return None


# reassoc and contract only: the sums of the product run in SIMD lanes and fuse into
# multiply-adds, in the same order every run.
FAST = {"reassoc", "contract"}


@njit(fastmath=FAST, **NOALIAS)
def add_products(out, v, m):
    """out (R, N) += v (R, K) @ m (K, N), all C-contiguous, none overlapping.

    Four rows of out by four rows of m at a time: sixteen values of v sit in registers
    while the loop runs along N, 16 multiply-adds per 8 loads and 4 stores (one row of
    out at a time would reload m for every row). Rows and k past a multiple of 4 go one
    at a time.
    """
    R, K = v.shape
    N = m.shape[1]
    R4, K4 = R - R % 4, K - K % 4
    for o in range(0, R4, 4):
        for k in range(0, K4, 4):
            v00, v01, v02, v03 = v[o, k], v[o, k + 1], v[o, k + 2], v[o, k + 3]
            v10, v11, v12, v13 = v[o + 1, k], v[o + 1, k + 1], v[o + 1, k + 2], v[o + 1, k + 3]
            v20, v21, v22, v23 = v[o + 2, k], v[o + 2, k + 1], v[o + 2, k + 2], v[o + 2, k + 3]
            v30, v31, v32, v33 = v[o + 3, k], v[o + 3, k + 1], v[o + 3, k + 2], v[o + 3, k + 3]
            m0, m1, m2, m3 = m[k], m[k + 1], m[k + 2], m[k + 3]
            out0, out1, out2, out3 = out[o], out[o + 1], out[o + 2], out[o + 3]
            for j in range(N):
                x0, x1, x2, x3 = m0[j], m1[j], m2[j], m3[j]
                out0[j] += v00 * x0 + v01 * x1 + v02 * x2 + v03 * x3
                out1[j] += v10 * x0 + v11 * x1 + v12 * x2 + v13 * x3
                out2[j] += v20 * x0 + v21 * x1 + v22 * x2 + v23 * x3
                out3[j] += v30 * x0 + v31 * x1 + v32 * x2 + v33 * x3
        for k in range(K4, K):
            for i in range(o, o + 4):
                vik, mk, oi = v[i, k], m[k], out[i]
                for j in range(N):
                    oi[j] += vik * mk[j]
    for i in range(R4, R):
        oi = out[i]
        for k in range(K):
            vik, mk = v[i, k], m[k]
            for j in range(N):
                oi[j] += vik * mk[j]


@njit(**NOALIAS)
def _forward_steps(xw, h0, wt, bias, relu, out):
    """xw (T, B, H), h0 (B, H), wt = W_hh^T (H, H), bias (H,) -> out (T, B, H)."""
    T, B, H = xw.shape
    zero = xw.dtype.type(0)
    for t in range(T):
        h_prev = h0 if t == 0 else out[t - 1]               # (B, H)
        a = out[t]                                          # (B, H) a_t, then h_t in place
        for b in range(B):
            for j in range(H):
                a[b, j] = xw[t, b, j] + bias[j]
        # a_t = xw_t + h_{t-1} @ W_hh^T + b_hh
        add_products(a, h_prev, wt)
        for b in range(B):
            for j in range(H):
                a[b, j] = max(a[b, j], zero) if relu else tanh(a[b, j])


@njit(**NOALIAS)
def _backward_steps(dout, weight_hh, out, relu, da, dh_next):
    """dout, out (T, B, H), weight_hh (H, H) -> da (T, B, H), dh_next (B, H): d h0 at the end."""
    T, B, H = out.shape
    zero, one = out.dtype.type(0), out.dtype.type(1)
    dh_next[:] = 0
    for t in range(T - 1, -1, -1):
        d, o = da[t], out[t]                                # (B, H)
        for b in range(B):
            for j in range(H):
                dh = dout[t, b, j] + dh_next[b, j]          # h_t feeds the output and step t+1
                # h_t = act(a_t)
                d[b, j] = (dh if o[b, j] > zero else zero) if relu else dh * (one - o[b, j] * o[b, j])
        # a_t = xw_t + h_{t-1} @ W_hh^T + b_hh
        dh_next[:] = 0
        add_products(dh_next, d, weight_hh)


def rnn_forward(xw, h0, weight_hh, bias_hh, nonlinearity):
    """xw (T, B, H), h0 (B, H), weight_hh (H, H), bias_hh (H,) -> h (T, B, H), every h_t."""
    out = np.empty_like(xw)
    _forward_steps(xw, h0, np.ascontiguousarray(weight_hh.T), bias_hh, nonlinearity == "relu", out)
    return out


def rnn_backward(dout, h0, weight_hh, out, nonlinearity):
    """dout, out (T, B, H), h0 (B, H), weight_hh (H, H) -> dxw (T, B, H), dh0 (B, H),
    dweight_hh (H, H), dbias_hh (H,)."""
    T, B, H = out.shape
    da, dh0 = np.empty_like(out), np.empty_like(h0)
    _backward_steps(dout, weight_hh, out, nonlinearity == "relu", da, dh0)
    h_prev = np.concatenate([h0[None], out[:-1]])           # (T, B, H) h_{t-1}
    dweight_hh = da.reshape(T * B, H).T @ h_prev.reshape(T * B, H)   # every step in one GEMM
    return da, dh0, dweight_hh, da.sum(axis=(0, 1))
