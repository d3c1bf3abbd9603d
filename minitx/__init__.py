"""minitx: a readable transformer engine on NumPy, with Numba kernels."""
__version__ = "0.1.0"  # first: the kernel cache is keyed by it
from . import runtime  # isort: skip
runtime.configure(__version__)  # malloc, kernel cache, threading layer: see runtime.py
# tensor first: it pulls in autograd and ops, which need the Tensor class.
from .tensor import Tensor, bool_, float32, float64, int32, int64  # isort: skip
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .backend import get_backend, set_backend, use_backend
from .creation import (arange, from_numpy, full, ones, ones_like, rand, randint, randn, tensor,
                       zeros, zeros_like)
from .ops import (abs, add, argmax, argmin, cat, chunk, clone, div, eq, exp, expand, flatten, ge,
                  gt, le, log, logical_not, lt, masked_fill, matmul, max, mean, min, mul, ne, neg,
                  permute, pow, relu, reshape, sigmoid, split, sqrt, squeeze, stack, sub, sum,
                  tanh, transpose, unsqueeze, var, where)
from .random import manual_seed
from . import nn, optim, testing  # noqa: E402  (as torch.nn, torch.optim, torch.testing)

from .pipelines import pipeline  # noqa: E402
