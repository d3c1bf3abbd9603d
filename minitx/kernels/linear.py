"""Linear layer: out = x @ weight^T + bias, as one Function with a BLAS backward.

Shapes: x (..., in); weight (out, in); bias (out,); out (..., out). The leading
dims of x are flattened into one, so every product is a single 2-D GEMM:
x2 (N, in), dout2 (N, out).

There is no Numba version: all the work is three matrix products, and NumPy
hands each to OpenBLAS, whose GEMM is blocked for the caches and vectorized by
hand; a Numba loop can only be slower (Numba's own np.dot would call the same
BLAS, through SciPy). So this file is the NumPy twin alone. Where GELU follows,
kernels/linear_gelu.py adds the bias inside GELU's kernel and sums its gradient
there, saving two passes over (N, out).
"""

from ..autograd import Function
from ..tensor import Tensor


def linear_forward_numpy(x2, weight, bias):
    """out2 (N, out) = x2 (N, in) @ weight^T (in, out) + bias (out,) or None."""
    out2 = x2 @ weight.T
    if bias is not None:
        out2 += bias
    return out2


def linear_backward_numpy(x2, weight, dout2, needs):
    """dx2 (N, in), dweight (out, in), dbias (out,); None where `needs` says no."""
    # out2 = x2 @ weight^T + bias
    dx2 = dout2 @ weight if needs[0] else None      # (N, out) @ (out, in)
    dweight = dout2.T @ x2 if needs[1] else None    # (out, N) @ (N, in)
    dbias = dout2.sum(axis=0) if needs[2] else None  # bias is added to every row
    return dx2, dweight, dbias


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        x2 = x.reshape(-1, x.shape[-1])             # (N, in)
        ctx.save_for_backward(x2, weight)
        ctx.x_shape = x.shape
        out2 = linear_forward_numpy(x2, weight, bias)
        return out2.reshape(x.shape[:-1] + (weight.shape[0],))

    @staticmethod
    def backward(ctx, grad):
        x2, weight = ctx.saved_tensors
        dout2 = grad.reshape(-1, weight.shape[0])   # (N, out)
        dx2, dweight, dbias = linear_backward_numpy(x2, weight, dout2, ctx.needs_input_grad)
        return (None if dx2 is None else dx2.reshape(ctx.x_shape)), dweight, dbias


def checked_operands(op, input, weight, bias):
    """input, weight and bias (or None) as Tensors, after the checks every linear op makes:
    input (..., in), weight (out, in), bias (out,), one dtype. `op` names the caller in
    the errors."""
    x, w = (t if isinstance(t, Tensor) else Tensor(t) for t in (input, weight))
    if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: input of shape {x.shape} and weight of shape {w.shape} do not "
                         f"match (want input (..., in) and weight (out, in))")
    if bias is not None:
        bias = bias if isinstance(bias, Tensor) else Tensor(bias)
        if bias.shape != (w.shape[0],):
            raise ValueError(f"{op}: bias of shape {bias.shape}, want ({w.shape[0]},)")
    if not (x.dtype == w.dtype and (bias is None or bias.dtype == w.dtype)):
        raise TypeError(f"{op}: input {x.dtype}, weight {w.dtype} and bias "
                        f"{None if bias is None else bias.dtype} must share one dtype")
    return x, w, bias


def linear(input, weight, bias=None):
    """input (..., in) @ weight^T (in, out) + bias (out,)."""
    return Linear.apply(*checked_operands("linear", input, weight, bias))
