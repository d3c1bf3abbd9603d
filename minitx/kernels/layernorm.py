"""Layer normalization over the last dims, forward and backward, NumPy and Numba.

    y = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps)

x is viewed as R rows of C values (C = the product of normalized_shape); each
row is normalized on its own. The forward saves mean and rstd (R,) in float64
and the backward rebuilds xhat from them instead of recomputing the statistics.
The derivation of the backward is in docs/kernels/layernorm.md.
"""
import math

import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from ._jit import as_rows, njit, reshaped, writable_c
from ._math import row_moments, row_sum_dot


# ---- NumPy twin: reads like the math ----------------------------------------

def layer_norm_forward_numpy(x, weight, bias, eps):
    """x (..., C), weight and bias (C,) -> y (..., C), mean (...), rstd (...)."""
    mean = x.mean(axis=-1, dtype=np.float64)                # (...)
    xc = x - mean[..., None]                                # (..., C) float64
    var = (xc * xc).mean(axis=-1)                           # (...) biased, as in PyTorch
    rstd = 1.0 / np.sqrt(var + eps)                         # (...)
    xhat = xc * rstd[..., None]                             # (..., C)
    y = xhat * weight + bias                                # (..., C)
    return y.astype(x.dtype), mean, rstd


def layer_norm_backward_numpy(dy, x, weight, mean, rstd):
    """dy, x (..., C), weight (C,), mean, rstd (...) -> dx (..., C), dweight, dbias (C,)."""
    C = x.shape[-1]
    xhat = (x - mean[..., None]) * rstd[..., None]          # (..., C)
    # y = xhat * weight + bias
    dweight = (dy * xhat).reshape(-1, C).sum(axis=0)        # (C,)
    dbias = dy.reshape(-1, C).sum(axis=0, dtype=np.float64)  # (C,)
    dxhat = dy * weight                                     # (..., C)
    # xhat = (x - mean) * rstd, where mean and rstd depend on every x of the row
    dx = rstd[..., None] * (dxhat
                            - dxhat.sum(axis=-1, keepdims=True) / C
                            - xhat * (dxhat * xhat).sum(axis=-1, keepdims=True) / C)
    return dx.astype(x.dtype), dweight.astype(weight.dtype), dbias.astype(weight.dtype)


# ---- Numba: one serial kernel each way --------------------------------------------

# Serial only: at the GPT shape (2048 rows of 384) both passes are bound by memory
# traffic, and a second thread on the second of 2 idle cores made forward+backward
# slower, not faster (serial / parallel time 0.69 and 0.72, measured; see
# docs/kernels/threads.md).
#
# The statistics (mean, variance, the row sums of the backward, dweight and dbias)
# are accumulated in float64; the elementwise math runs in x's dtype, so float32
# rows run 16 lanes to an AVX-512 vector instead of 8. The float32 mean and rstd
# it uses are off by half an ulp at most: y moves by 6e-8 * |mean| * rstd.

@njit
def _forward_rows(x, weight, bias, eps, y, mean, rstd):
    """x (R, C), weight, bias (C,) -> y (R, C), mean, rstd (R,) float64."""
    R, C = x.shape
    f = x.dtype.type
    for i in range(R):
        xi, yi = x[i], y[i]                                 # (C,)
        k = np.float64(xi[0])
        s1, s2 = row_moments(xi, k)                         # sums of x - k and (x - k)^2
        m = k + s1 / C
        r = 1.0 / math.sqrt(max(s2 / C - (s1 / C) ** 2, 0.0) + eps)
        mf, rf = f(m), f(r)
        for j in range(C):
            yi[j] = (xi[j] - mf) * rf * weight[j] + bias[j]
        mean[i] = m
        rstd[i] = r


def layer_norm_forward_numba(x, weight, bias, eps):
    """x (..., C), weight and bias (C,) -> y (..., C), mean (...), rstd (...)."""
    y, mean, rstd = np.empty_like(x), np.empty(x.shape[:-1]), np.empty(x.shape[:-1])
    _forward_rows(as_rows(x), weight, bias, eps, as_rows(y), mean.reshape(-1), rstd.reshape(-1))
    return y, mean, rstd


# dweight and dbias add one term per row: in x's dtype over runs of FLUSH_ROWS rows,
# then into float64 sums (a float32 run of 8 terms adds an error of 8 ulp at most;
# float64 for every term cost 30% of the backward, measured).
FLUSH_ROWS = 8


@njit
def _backward_rows(dy, x, weight, mean, rstd, dx, dweight, dbias):
    """dy, x (R, C), weight (C,), mean, rstd (R,) -> dx (R, C); adds into dweight, dbias (C,),
    float64."""
    R, C = x.shape
    f = x.dtype.type
    xhat = np.empty(C, x.dtype)                             # (C,) one row, reused
    dw_run, db_run = np.zeros(C, x.dtype), np.zeros(C, x.dtype)  # (C,) the current run of rows
    for i in range(R):
        xi, dyi, dxi = x[i], dy[i], dx[i]                   # (C,)
        m, r = f(mean[i]), f(rstd[i])
        for j in range(C):
            xhat[j] = (xi[j] - m) * r
            # y = xhat * weight + bias
            dw_run[j] += dyi[j] * xhat[j]
            db_run[j] += dyi[j]
            dxi[j] = dyi[j] * weight[j]                     # dxi holds dxhat for now
        sum_dxhat, sum_dxhat_xhat = row_sum_dot(dxi, xhat)
        mean_dxhat, mean_dxhat_xhat = f(sum_dxhat / C), f(sum_dxhat_xhat / C)
        # xhat = (x - mean) * rstd
        for j in range(C):
            dxi[j] = r * (dxi[j] - mean_dxhat - xhat[j] * mean_dxhat_xhat)
        if i % FLUSH_ROWS == FLUSH_ROWS - 1 or i == R - 1:
            for j in range(C):
                dweight[j] += dw_run[j]
                dbias[j] += db_run[j]
            dw_run[:] = 0
            db_run[:] = 0


def layer_norm_backward_numba(dy, x, weight, mean, rstd):
    """dy, x (..., C), weight (C,), mean, rstd (...) -> dx (..., C), dweight, dbias (C,)."""
    C = x.shape[-1]
    # dx in x's own shape, not a reshaped view: autograd then hands it to a leaf without a copy.
    dx = np.empty_like(x)                                   # (..., C)
    dweight, dbias = np.zeros(C), np.zeros(C)               # (C,) float64
    _backward_rows(as_rows(dy), as_rows(x), weight, mean.reshape(-1), rstd.reshape(-1),
                   as_rows(dx), dweight, dbias)
    return dx, dweight.astype(weight.dtype), dbias.astype(weight.dtype)


layer_norm_forward = dispatch(layer_norm_forward_numpy, layer_norm_forward_numba)
layer_norm_backward = dispatch(layer_norm_backward_numpy, layer_norm_backward_numba)


# ---- autograd ----------------------------------------------------------------

class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, normalized_shape, eps):
        C = math.prod(normalized_shape)
        x2 = writable_c(x).reshape(x.shape[:x.ndim - len(normalized_shape)] + (C,))  # (..., C)
        w = np.ones(C, x.dtype) if weight is None else writable_c(weight).reshape(C)
        b = np.zeros(C, x.dtype) if bias is None else writable_c(bias).reshape(C)
        y, mean, rstd = layer_norm_forward(x2, w, b, eps)
        ctx.save_for_backward(x2, w, mean, rstd)
        ctx.shapes = (x.shape, None if weight is None else weight.shape)
        return reshaped(y, x.shape)

    @staticmethod
    def backward(ctx, grad):
        x2, w, mean, rstd = ctx.saved_tensors
        x_shape, w_shape = ctx.shapes
        dy = reshaped(writable_c(grad), x2.shape)           # (..., C)
        dx, dw, db = layer_norm_backward(dy, x2, w, mean, rstd)
        dx = reshaped(dx, x_shape)
        if w_shape is None:
            return dx, None, None, None, None
        return dx, reshaped(dw, w_shape), reshaped(db, w_shape), None, None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the last len(normalized_shape) dims, as torch.nn.functional.layer_norm."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    ns = tuple(int(n) for n in ns)
    if not ns or x.shape[x.ndim - len(ns):] != ns or len(ns) > x.ndim:
        raise ValueError(f"layer_norm: x of shape {x.shape} does not end in normalized_shape {ns}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"layer_norm: x of shape {x.shape} has dtype {x.dtype}; expected float32 or float64")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        if tuple(p.shape) != ns:
            raise ValueError(f"layer_norm: {name} of shape {tuple(p.shape)} does not match "
                             f"normalized_shape {ns}")
        if p.dtype != x.dtype:
            raise TypeError(f"layer_norm: {name} has dtype {p.dtype} but x has {x.dtype}")
    if (weight is None) != (bias is None):
        # One affine parameter without the other: use the neutral one in its place.
        if weight is None:
            weight = Tensor(np.ones(ns, x.dtype))
        else:
            bias = Tensor(np.zeros(ns, x.dtype))
    return LayerNorm.apply(x, weight, bias, ns, float(eps))
