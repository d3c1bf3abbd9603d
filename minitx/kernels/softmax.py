"""softmax and log_softmax along one dim: the NumPy twins, the Functions, the public functions.

    softmax(x)_j     = exp(x_j - m) / s,        m = max_k x_k,  s = sum_k exp(x_k - m)
    log_softmax(x)_j = x_j - m - log(s)

Subtracting the row max m first keeps every exponent <= 0, so logits of 1e4
neither overflow nor lose the other entries. The kernels work on rows: x is
moved so that `dim` is last and viewed as R rows of C values.
"""

import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from ._arrays import writable_c
from .numba import softmax as compiled


# ---- NumPy twin --------------------------------------------------------------

def softmax_forward_numpy(x):
    """x (..., C) -> y (..., C), along the last axis."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))                 # (..., C)
    return (e / e.sum(axis=-1, keepdims=True, dtype=np.float64)).astype(x.dtype)


def softmax_backward_numpy(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    # y_j = exp(x_j) / sum_k exp(x_k):  dy_j/dx_i = y_j (delta_ij - y_i)
    dot = (dy * y).sum(axis=-1, keepdims=True, dtype=np.float64)  # (..., 1)
    return (y * (dy - dot)).astype(y.dtype)


def log_softmax_forward_numpy(x):
    """x (..., C) -> y (..., C), along the last axis."""
    shifted = x - x.max(axis=-1, keepdims=True)                   # (..., C)
    log_s = np.log(np.exp(shifted).sum(axis=-1, keepdims=True, dtype=np.float64))
    return (shifted - log_s).astype(x.dtype)


def log_softmax_backward_numpy(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    # y_j = x_j - log sum_k exp(x_k):  dy_j/dx_i = delta_ij - softmax(x)_i = delta_ij - exp(y_i)
    total = dy.sum(axis=-1, keepdims=True, dtype=np.float64)      # (..., 1)
    return (dy - np.exp(y) * total).astype(y.dtype)


softmax_forward = dispatch(softmax_forward_numpy, compiled.softmax_forward)
softmax_backward = dispatch(softmax_backward_numpy, compiled.softmax_backward)
log_softmax_forward = dispatch(log_softmax_forward_numpy, compiled.log_softmax_forward)
log_softmax_backward = dispatch(log_softmax_backward_numpy, compiled.log_softmax_backward)


# ---- autograd ----------------------------------------------------------------

def _dim_last(a, dim):
    """a with `dim` moved last, writable and C-contiguous: no copy when dim is last
    already (a 0-d a becomes one row of one)."""
    if a.ndim == 0:
        return writable_c(a.reshape(1))
    return writable_c(a if dim == a.ndim - 1 else np.moveaxis(a, dim, -1))


def _dim_back(a, dim, ndim):
    """Undo _dim_last for an input of ndim dims."""
    if ndim == 0:
        return a.reshape(())
    return a if dim == ndim - 1 else np.moveaxis(a, -1, dim)


class _RowFunction(Function):
    """softmax or log_softmax along `dim`: saves its output for the backward."""
    kernels = None  # (forward, backward), set by each subclass

    @classmethod
    def forward(cls, ctx, x, dim):
        y = cls.kernels[0](_dim_last(x, dim))                    # (..., C)
        ctx.save_for_backward(y)
        ctx.dim, ctx.ndim = dim, x.ndim
        return _dim_back(y, dim, x.ndim)

    @classmethod
    def backward(cls, ctx, grad):
        (y,) = ctx.saved_tensors
        dx = cls.kernels[1](_dim_last(grad, ctx.dim), y)         # (..., C)
        return _dim_back(dx, ctx.dim, ctx.ndim), None


class Softmax(_RowFunction):
    kernels = (softmax_forward, softmax_backward)


class LogSoftmax(_RowFunction):
    kernels = (log_softmax_forward, log_softmax_backward)


def _check(name, input, dim):
    x = input if isinstance(input, Tensor) else Tensor(input)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: x of shape {x.shape} has dtype {x.dtype}; expected float32 or float64")
    if dim is None:
        raise TypeError(f"{name}: dim is required (x has shape {x.shape})")
    ndim = max(x.ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(f"{name}: dim {dim} is out of range for x of shape {x.shape}")
    return x, dim % ndim if x.ndim else 0


def softmax(input, dim):
    """exp(x) / sum(exp(x)) along `dim`, as torch.nn.functional.softmax."""
    x, dim = _check("softmax", input, dim)
    return Softmax.apply(x, dim)


def log_softmax(input, dim):
    """x - log(sum(exp(x))) along `dim`, as torch.nn.functional.log_softmax."""
    x, dim = _check("log_softmax", input, dim)
    return LogSoftmax.apply(x, dim)
