"""Reductions over dims: sum, mean, var, max, min (PyTorch's `dim`, `keepdim`)."""
import builtins
import math
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._util import normalize_dims

MaxMin = namedtuple("MaxMin", ["values", "indices"])


def _kept(shape, axes):
    """`shape` with the reduced axes kept as 1: what keepdim=True gives. A reduced
    gradient reshaped to it broadcasts back over the input, keepdim or not."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.kept = a.shape, _kept(a.shape, axes)
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        # out = sum_axes a: every element of a gets the gradient of its sum
        return np.broadcast_to(grad.reshape(ctx.kept), ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.kept = a.shape, _kept(a.shape, axes)
        ctx.count = math.prod(a.shape[i] for i in axes)
        return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        # out = sum_axes a / n
        g = grad.reshape(ctx.kept) / ctx.count
        return np.broadcast_to(g, ctx.shape).astype(grad.dtype, copy=False), None, None


class Var(Function):
    @staticmethod
    def forward(ctx, a, axes, keepdim, correction):
        n = math.prod(a.shape[i] for i in axes)
        centered = a - a.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centered)
        ctx.kept, ctx.denom = _kept(a.shape, axes), builtins.max(n - correction, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (centered * centered).sum(axis=axes, keepdims=keepdim) / ctx.denom

    @staticmethod
    def backward(ctx, grad):
        # out = sum (a - mean)^2 / (n - correction):  d/da = 2 (a - mean) / (n - correction)
        # (the mean's own dependence on a cancels since sum (a - mean) = 0)
        (centered,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad.reshape(ctx.kept) * 2 * centered / ctx.denom, None, None, None


class Extremum(Function):
    """max or min over `axes`; ties share the gradient equally (as torch.amax)."""

    @staticmethod
    def forward(ctx, a, axes, keepdim, largest):
        out = a.max(axis=axes, keepdims=True) if largest else a.min(axis=axes, keepdims=True)
        hits = a == out
        ctx.save_for_backward((hits / hits.sum(axis=axes, keepdims=True)).astype(a.dtype))
        ctx.kept = out.shape
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        # out = max_axes a: each of the k tied maxima gets 1/k of the gradient
        (share,) = ctx.saved_tensors
        return grad.reshape(ctx.kept) * share, None, None, None


class ExtremumAlong(Function):
    """max or min along one dim; the gradient goes to the returned index."""

    @staticmethod
    def forward(ctx, a, axis, keepdim, index):
        ctx.shape, ctx.axis, ctx.keepdim, ctx.index = a.shape, axis, keepdim, index
        out = np.take_along_axis(a, index, axis=axis)
        return out if keepdim else np.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        g = grad if ctx.keepdim else np.expand_dims(grad, ctx.axis)
        full = np.zeros(ctx.shape, dtype=grad.dtype)
        np.put_along_axis(full, ctx.index, g, axis=ctx.axis)
        return full, None, None, None


def sum(a, dim=None, keepdim=False):  # noqa: A001  (PyTorch's name)
    return Sum.apply(a, normalize_dims(dim, a.ndim, "sum"), keepdim)


def mean(a, dim=None, keepdim=False):
    if not a.is_floating_point():
        raise TypeError(f"mean: needs a floating-point tensor, got {a.dtype}")
    return Mean.apply(a, normalize_dims(dim, a.ndim, "mean"), keepdim)


def var(a, dim=None, keepdim=False, *, correction=1, unbiased=None):
    """Variance with Bessel's correction by default (correction=1), as torch.var."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return Var.apply(a, normalize_dims(dim, a.ndim, "var"), keepdim, correction)


def _extremum(a, dim, keepdim, largest):
    name = "max" if largest else "min"
    if a.data.size == 0:
        raise ValueError(f"{name}: empty tensor of shape {a.shape}")
    if dim is None:
        return Extremum.apply(a, normalize_dims(None, a.ndim, name), False, largest)
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be one int, got {dim!r}")
    if a.ndim == 0:  # a 0-d tensor is its own max along dim 0 or -1
        normalize_dims(dim, 0, name)
        return _extremum(a.reshape(1), 0, False, largest)
    (axis,) = normalize_dims(dim, a.ndim, name)
    pick = np.argmax if largest else np.argmin
    index = np.expand_dims(pick(a.data, axis=axis), axis)
    values = ExtremumAlong.apply(a, axis, keepdim, index)
    return MaxMin(values, Tensor(index if keepdim else np.squeeze(index, axis)))


def max(a, dim=None, keepdim=False):  # noqa: A001  (PyTorch's name)
    """The largest element; with `dim`, a (values, indices) pair as in PyTorch."""
    return _extremum(a, dim, keepdim, True)


def min(a, dim=None, keepdim=False):  # noqa: A001  (PyTorch's name)
    """The smallest element; with `dim`, a (values, indices) pair as in PyTorch."""
    return _extremum(a, dim, keepdim, False)


def argmax(a, dim=None, keepdim=False):
    if dim is None:
        return Tensor(np.asarray(np.argmax(a.data)))
    return Tensor(np.argmax(a.data, axis=dim, keepdims=keepdim))


def argmin(a, dim=None, keepdim=False):
    if dim is None:
        return Tensor(np.asarray(np.argmin(a.data)))
    return Tensor(np.argmin(a.data, axis=dim, keepdims=keepdim))
