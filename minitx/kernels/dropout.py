"""Dropout: zero each element with probability p, scale the rest by 1 / (1 - p).

Shapes: x any shape; keep (same shape, bool), the mask saved for backward.
The uniform draws u come from minitx.random.uniform (the seeded generator, or one per
sample in training), in NumPy, before either version runs: both backends then drop the same elements,
and one manual_seed reproduces a run. (Numba's own generator is not seeded by it.)
The compiled version (kernels/numba/dropout.py) fuses compare, mask and scale
into one serial pass over x.
"""
import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..random import uniform
from ..tensor import Tensor
from .numba import dropout as compiled


def _scale(p):
    return 1 / (1 - p) if p < 1 else 0.0           # p = 1 drops everything: out is 0


# ---- NumPy twin ------------------------------------------------------------------

def dropout_forward_numpy(x, u, p):
    """out and keep, shaped like x, from uniform draws u in [0, 1) of the same shape."""
    keep = u >= p
    return np.where(keep, x * x.dtype.type(_scale(p)), 0).astype(x.dtype, copy=False), keep


def dropout_backward_numpy(dout, keep, p):
    # out = where(keep, x * scale, 0)
    return np.where(keep, dout * dout.dtype.type(_scale(p)), 0).astype(dout.dtype, copy=False)


dropout_forward = dispatch(dropout_forward_numpy, compiled.dropout_forward)
dropout_backward = dispatch(dropout_backward_numpy, compiled.dropout_backward)


# ---- autograd --------------------------------------------------------------------

class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p):
        x = np.ascontiguousarray(x).reshape(x.shape)  # (reshape: keep a 0-d x 0-d)
        u = uniform(x.shape)
        out, keep = dropout_forward(x, u, p)
        ctx.save_for_backward(keep)
        ctx.p = p
        return out

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        dout = np.ascontiguousarray(grad).reshape(keep.shape)
        return dropout_backward(dout, keep, ctx.p), None


def dropout(input, p=0.5, training=True):
    """Zero elements of input with probability p and scale the rest by 1 / (1 - p);
    the identity when not training or p == 0."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    x = input if isinstance(input, Tensor) else Tensor(input)
    if not x.is_floating_point():
        raise TypeError(f"dropout: input must be float32 or float64, got {x.dtype}")
    if not training or p == 0:
        return x
    return Dropout.apply(x, float(p))
