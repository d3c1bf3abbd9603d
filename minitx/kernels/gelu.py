"""GELU, x * Phi(x) with Phi the standard normal CDF: the NumPy twin, the Function, gelu.

    'none' (exact, BERT):   gelu(x) = x * Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2 = erfc(-x / sqrt 2) / 2
    'tanh' (GPT-2):         gelu(x) = x * (1 + tanh(u)) / 2,  u = sqrt(2/pi) (x + 0.044715 x^3)

The compiled version, without the C library's one-element-at-a-time erf and
tanh, is kernels/numba/gelu.py.
"""
import math

import numpy as np

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from ._arrays import writable_c
from .numba import gelu as compiled

APPROXIMATIONS = ("none", "tanh")


# ---- NumPy twin: computed in float64, rounded to x's dtype at the end ----------

# NumPy has no erf; math.erfc element by element. Phi(x) = erfc(-x / sqrt 2) / 2
# is 1 + erf(x / sqrt 2) without the cancellation for x << 0.
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def gelu_forward_numpy(x, approximate):
    """x (any shape) -> y (x's shape)."""
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        u = math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)
        y = 0.5 * x64 * (1.0 + np.tanh(u))
    else:
        y = x64 * 0.5 * _erfc(-x64 / math.sqrt(2))
    return y.astype(x.dtype)


def gelu_backward_numpy(dy, x, approximate):
    """dy, x (any shape) -> dx (x's shape)."""
    x64 = x.astype(np.float64)
    if approximate == "tanh":
        # y = x (1 + tanh(u)) / 2:  dy/dx = (1 + t) / 2 + x (1 - t^2) u' / 2
        t = np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3))
        du = math.sqrt(2 / math.pi) * (1.0 + 3 * 0.044715 * x64 ** 2)
        d = 0.5 * (1.0 + t) + 0.5 * x64 * (1.0 - t * t) * du
    else:
        # y = x Phi(x):  dy/dx = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        cdf = 0.5 * _erfc(-x64 / math.sqrt(2))
        d = cdf + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    return (dy * d).astype(x.dtype)


# With a bias added on the way in (the fused Linear -> GELU, kernels/linear_gelu.py).

def bias_gelu_forward_numpy(h, b, approximate):
    """h (R, C), b (C,) -> gelu(h + b) (R, C)."""
    return gelu_forward_numpy(h + b, approximate)


def bias_gelu_backward_numpy(dy, h, b, approximate):
    """dy, h (R, C), b (C,) -> da = dy * gelu'(h + b) (R, C), db = da summed over rows (C,)."""
    da = gelu_backward_numpy(dy, h + b, approximate)
    return da, da.sum(axis=0, dtype=np.float64).astype(h.dtype)   # b is added to every row


gelu_forward = dispatch(gelu_forward_numpy, compiled.gelu_forward)
gelu_backward = dispatch(gelu_backward_numpy, compiled.gelu_backward)
bias_gelu_forward = dispatch(bias_gelu_forward_numpy, compiled.bias_gelu_forward)
bias_gelu_backward = dispatch(bias_gelu_backward_numpy, compiled.bias_gelu_backward)


# ---- autograd ----------------------------------------------------------------

class Gelu(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        x = writable_c(x)
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        return gelu_forward(x, approximate)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return gelu_backward(writable_c(grad), x, ctx.approximate), None


def gelu(input, approximate="none"):
    """x * Phi(x), exact ('none') or with the tanh approximation, as torch.nn.functional.gelu."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    if approximate not in APPROXIMATIONS:
        raise ValueError(f"gelu: approximate={approximate!r}; choose one of {APPROXIMATIONS}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"gelu: x of shape {x.shape} has dtype {x.dtype}; expected float32 or float64")
    return Gelu.apply(x, approximate)
