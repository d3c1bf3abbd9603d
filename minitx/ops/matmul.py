"""Matrix product with NumPy's rules: 1-D operands, batched and broadcast batch dims."""
import numpy as np

from ..autograd import Function
from ._util import operand, unbroadcast


def _check(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({k_a} != {k_b})")
    if a.ndim < 3 or b.ndim < 3:
        return  # a 2-D or 1-D operand has no batch dims to clash
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: batch dims of shapes {a.shape} and {b.shape} cannot be broadcast together") from None


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        _check(a, b)
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        # out = a @ b, seen as (..., M, K) @ (..., K, N) after lifting 1-D operands:
        # d/da = grad @ b^T (..., M, K),  d/db = a^T @ grad (..., K, N)
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a        # (1, K) for a vector
        b2 = b[:, None] if b.ndim == 1 else b        # (K, 1) for a vector
        g = grad
        # b's N axis first: for a dot product grad is 0-d and needs (1,) before (1, 1).
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(np.matmul(g, b2.swapaxes(-1, -2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(np.matmul(a2.swapaxes(-1, -2), g), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a, b):
    """a @ b; batch dims broadcast as in NumPy and PyTorch."""
    return MatMul.apply(operand(a, b), operand(b, a))
