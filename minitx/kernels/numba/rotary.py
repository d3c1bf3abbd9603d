"""Rotary position embedding, compiled: each pair (x1, x2) = (x[i], x[i + HS/2]) turned in
one serial pass, with the twin's signatures (kernels/rotary.py). x may be any strided
view (SelfAttention's heads lie inside c_attn's output); out is a fresh C array. The
pass is memory-bound and short: threads would not pay for their launch."""
import numpy as np

from ._jit import njit


@njit
def _rotate(x, cos, sin, sign):
    """x (B, NH, T, HS); cos, sin (Bc, 1, T, HS), Bc 1 or B -> x turned by sign * angle."""
    B, NH, T, HS = x.shape
    h = HS // 2
    out = np.empty((B, NH, T, HS), x.dtype)
    for b in range(B):
        bc = b if cos.shape[0] > 1 else 0
        for n in range(NH):
            for t in range(T):
                for i in range(h):
                    c, s = cos[bc, 0, t, i], sign * sin[bc, 0, t, i]
                    x1, x2 = x[b, n, t, i], x[b, n, t, i + h]
                    out[b, n, t, i] = x1 * c - x2 * s        # y = x * cos + rotate_half(x) * sin
                    out[b, n, t, i + h] = x2 * c + x1 * s
    return out


def _as_4d(a):
    """cos or sin (T, HS) or (B, 1, T, HS) as (Bc, 1, T, HS), writable (a read-only array
    is another type to Numba, another compile)."""
    a = np.require(a, requirements="W")
    return a.reshape((1, 1) + a.shape) if a.ndim == 2 else a


def rotary_forward(x, cos, sin):
    return _rotate(np.require(x, requirements="W"), _as_4d(cos), _as_4d(sin), x.dtype.type(1))


def rotary_backward(dy, cos, sin):
    return _rotate(np.require(dy, requirements="W"), _as_4d(cos), _as_4d(sin), dy.dtype.type(-1))
