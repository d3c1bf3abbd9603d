"""Layer normalization over the last dims: the NumPy twin, the Function, layer_norm.

    y = (x - mean) * rstd * weight + bias,   rstd = 1 / sqrt(var + eps)

x is viewed as R rows of C values (C = the product of normalized_shape); each
row is normalized on its own. The forward saves mean and rstd (R,) in float64
and the backward rebuilds xhat from them instead of recomputing the statistics.
The derivation of the backward is in docs/kernels/layernorm.md; the compiled
version is kernels/numba/layernorm.py.
"""
import math

import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from ._arrays import reshaped, writable_c
from .numba import layernorm as compiled


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


layer_norm_forward = dispatch(layer_norm_forward_numpy, compiled.layer_norm_forward)
layer_norm_backward = dispatch(layer_norm_backward_numpy, compiled.layer_norm_backward)


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
