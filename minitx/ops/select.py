"""Choosing between values by a condition (where, masked_fill) and comparisons."""
import numpy as np

from ..autograd import Function
from ..tensor import Tensor
from ._util import broadcast_shape, operand, unbroadcast


def _condition(cond, name):
    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if c.dtype != np.bool_:
        raise TypeError(f"{name}: the condition must be a boolean tensor, got {c.dtype}")
    return c


class Where(Function):
    @staticmethod
    def forward(ctx, cond, x, y):
        broadcast_shape("where", cond.shape, x.shape, y.shape)
        ctx.save_for_backward(cond)
        ctx.shapes = x.shape, y.shape
        return np.where(cond, x, y)

    @staticmethod
    def backward(ctx, grad):
        # out = cond ? x : y
        (cond,) = ctx.saved_tensors
        sx, sy = ctx.shapes
        gx = unbroadcast(np.where(cond, grad, 0), sx) if ctx.needs_input_grad[1] else None
        gy = unbroadcast(np.where(cond, 0, grad), sy) if ctx.needs_input_grad[2] else None
        return None, gx, gy


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, a, mask, value):
        if broadcast_shape("masked_fill", a.shape, mask.shape) != a.shape:
            raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to {a.shape}")
        ctx.save_for_backward(mask)
        return np.where(mask, np.asarray(value, dtype=a.dtype), a)

    @staticmethod
    def backward(ctx, grad):
        # out = mask ? value : a
        (mask,) = ctx.saved_tensors
        return np.where(mask, 0, grad), None, None


def where(condition, x, y):
    """Elements of x where condition holds, else of y (broadcast together)."""
    cond = _condition(condition, "where")
    like = x if isinstance(x, Tensor) else y
    return Where.apply(cond, operand(x, like), operand(y, like))


def masked_fill(a, mask, value):
    """A copy of `a` with `value` wherever the boolean `mask` is True."""
    value = value.item() if isinstance(value, Tensor) else value
    return MaskedFill.apply(a, _condition(mask, "masked_fill"), value)


def _compare(name, ufunc):
    def compare(a, b):
        x = a.data if isinstance(a, Tensor) else np.asarray(a)
        y = b.data if isinstance(b, Tensor) else np.asarray(b)
        broadcast_shape(name, x.shape, y.shape)
        return Tensor(ufunc(x, y))
    compare.__name__ = name
    compare.__doc__ = f"Elementwise {name} as a boolean tensor (no gradient)."
    return compare


eq = _compare("eq", np.equal)
ne = _compare("ne", np.not_equal)
lt = _compare("lt", np.less)
le = _compare("le", np.less_equal)
gt = _compare("gt", np.greater)
ge = _compare("ge", np.greater_equal)


def logical_not(a):
    return Tensor(np.logical_not(a.data))
