"""Linear then GELU, fused: gelu(x @ weight^T + bias) as one Function.

Shapes: x (..., in); weight (out, in); bias (out,); out (..., out). As in
kernels/linear.py the leading dims are flattened: x2 (N, in), and h (N, out) =
x2 @ weight^T, the GEMM without the bias.

Unfused, a Linear writes h + bias into a new array and GELU reads it back, and
in the backward Linear sums GELU's gradient over the rows for the bias in a pass
of its own. Here GELU's kernels add the bias on the way in and sum its gradient
while they write it (bias_gelu_forward / bias_gelu_backward in kernels/gelu.py),
so both passes over the (N, out) activations go. The products are Linear's own.
GPT's MLP and BERT's intermediate layer run through it.
"""
import numpy as np

from ..autograd import Function
from ._arrays import writable_c
from .gelu import APPROXIMATIONS, bias_gelu_backward, bias_gelu_forward, gelu
from .linear import checked_operands, linear, linear_backward_numpy, linear_forward_numpy


class LinearGelu(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, approximate):
        x2 = x.reshape(-1, x.shape[-1])                     # (N, in)
        h = linear_forward_numpy(x2, weight, None)          # (N, out) = x2 @ weight^T, C-contiguous
        ctx.save_for_backward(x2, weight, bias, h)
        ctx.x_shape, ctx.approximate = x.shape, approximate
        y = bias_gelu_forward(h, bias, approximate)         # gelu(h + bias)
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x2, weight, bias, h = ctx.saved_tensors
        dy2 = writable_c(grad.reshape(-1, weight.shape[0]))  # (N, out)
        da, dbias = bias_gelu_backward(dy2, h, bias, ctx.approximate)  # da: d(loss)/d(h + bias)
        needs = ctx.needs_input_grad
        dx2, dweight, _ = linear_backward_numpy(x2, weight, da, (needs[0], needs[1], False))
        return (None if dx2 is None else dx2.reshape(ctx.x_shape)), dweight, dbias, None


def linear_gelu(input, weight, bias, approximate="none"):
    """gelu(input @ weight^T + bias): F.gelu(F.linear(input, weight, bias), approximate) in
    one Function. Without a bias, it is those two calls."""
    if approximate not in APPROXIMATIONS:
        raise ValueError(f"linear_gelu: approximate={approximate!r}; choose one of {APPROXIMATIONS}")
    if bias is None:
        return gelu(linear(input, weight), approximate)
    x, w, b = checked_operands("linear_gelu", input, weight, bias)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"linear_gelu: input of shape {x.shape} has dtype {x.dtype}; expected "
                        f"float32 or float64")
    return LinearGelu.apply(x, w, b, approximate)
