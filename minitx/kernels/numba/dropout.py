"""Dropout, compiled: compare, mask and scale fused into one serial pass over x, with
the twin's signatures (kernels/dropout.py). The pass is memory-bound and short next to
the draws: threads would not pay for their launch."""
import numpy as np

from ._jit import njit


def _scale(p):
    return 1 / (1 - p) if p < 1 else 0.0           # p = 1 drops everything: out is 0


@njit
def _forward_kernel(x, u, p, scale):
    out = np.empty_like(x)                          # x, u, out, keep: (n,), flattened
    keep = np.empty(x.shape, dtype=np.bool_)
    for n in range(x.shape[0]):
        keep[n] = u[n] >= p
        out[n] = x[n] * scale if keep[n] else 0
    return out, keep


@njit
def _backward_kernel(dout, keep, scale):
    dx = np.empty_like(dout)                        # dout, keep, dx: (n,)
    for n in range(dout.shape[0]):
        dx[n] = dout[n] * scale if keep[n] else 0   # out = x * scale where kept
    return dx


def dropout_forward(x, u, p):
    # writable C arrays: a read-only one is another type to Numba, another compile
    x, u = (np.require(a, requirements="CW") for a in (x, u))
    out, keep = _forward_kernel(x.reshape(-1), u.reshape(-1), u.dtype.type(p),
                                x.dtype.type(_scale(p)))
    return out.reshape(x.shape), keep.reshape(x.shape)


def dropout_backward(dout, keep, p):
    dout, keep = (np.require(a, requirements="CW") for a in (dout, keep))
    return _backward_kernel(dout.reshape(-1), keep.reshape(-1),
                            dout.dtype.type(_scale(p))).reshape(dout.shape)
