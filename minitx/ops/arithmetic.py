"""+ - * / ** and negation, with NumPy broadcasting, and dtype casts."""
import numpy as np

from ..autograd import Function
from ._util import broadcast_shape, operand, unbroadcast


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:  # only to name both shapes if NumPy would refuse
            broadcast_shape("add", a.shape, b.shape)
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, grad):
        # out = a + b
        sa, sb = ctx.shapes
        return unbroadcast(grad, sa), unbroadcast(grad, sb)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:  # only to name both shapes if NumPy would refuse
            broadcast_shape("sub", a.shape, b.shape)
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, grad):
        # out = a - b
        sa, sb = ctx.shapes
        gb = unbroadcast(-grad, sb) if ctx.needs_input_grad[1] else None
        return unbroadcast(grad, sa), gb


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:  # only to name both shapes if NumPy would refuse
            broadcast_shape("mul", a.shape, b.shape)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        # out = a * b
        a, b = ctx.saved_tensors
        ga = unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:  # only to name both shapes if NumPy would refuse
            broadcast_shape("div", a.shape, b.shape)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        # out = a / b:  d/da = 1/b,  d/db = -a/b^2
        a, b = ctx.saved_tensors
        ga = unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        if a.shape != b.shape:  # only to name both shapes if NumPy would refuse
            broadcast_shape("pow", a.shape, b.shape)
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # out = a ** b:  d/da = b a^(b-1),  d/db = out ln a
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = b * np.power(a, b - 1)
            # a ** 0 is the constant 1, also at a = 0 where b a^(b-1) reads 0 * inf.
            ga = unbroadcast(grad * np.where(b == 0, 0, slope), a.shape)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.log(a)
            # 0 ** b with b >= 0 has a zero derivative in b (PyTorch's convention).
            log_a = np.where((a == 0) & (b >= 0), 0, log_a)
            gb = unbroadcast(grad * out * log_a, b.shape)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype), None


def add(a, b):
    return Add.apply(operand(a, b), operand(b, a))


def sub(a, b):
    return Sub.apply(operand(a, b), operand(b, a))


def mul(a, b):
    return Mul.apply(operand(a, b), operand(b, a))


def div(a, b):
    return Div.apply(operand(a, b), operand(b, a))


def pow(a, b):  # noqa: A001  (PyTorch's name)
    return Pow.apply(operand(a, b), operand(b, a))


def neg(a):
    return Neg.apply(a)


def cast(a, dtype):
    """A copy in another dtype; gradients flow back in the original dtype."""
    return Cast.apply(a, np.dtype(dtype))
