"""softmax and log_softmax, compiled: one serial Numba kernel each way over (R, C) rows,
with the twins' signatures (kernels/softmax.py)."""
import math

import numpy as np

from ._jit import as_rows, njit
from ._math import poly_exp, row_dot, row_max, row_sum


# Serial only: at the GPT shape (12288 rows of 256) forward+backward is bound by
# memory traffic, and a second thread did not make it faster (docs/kernels/threads.md).

@njit
def _softmax_forward_rows(x, y):
    """x (R, C) -> y (R, C)."""
    R, C = x.shape
    for i in range(R):
        xi, yi = x[i], y[i]                                      # (C,)
        m = row_max(xi)
        for j in range(C):
            yi[j] = poly_exp(xi[j] - m)
        inv = x.dtype.type(1.0 / row_sum(yi))
        for j in range(C):
            yi[j] *= inv


@njit
def _softmax_backward_rows(dy, y, dx):
    """dy, y (R, C) -> dx (R, C)."""
    R, C = y.shape
    for i in range(R):
        yi, dyi, dxi = y[i], dy[i], dx[i]                        # (C,)
        # y_j = exp(x_j) / sum_k exp(x_k)
        dot = y.dtype.type(row_dot(dyi, yi))
        for j in range(C):
            dxi[j] = yi[j] * (dyi[j] - dot)


@njit
def _log_softmax_forward_rows(x, y):
    """x (R, C) -> y (R, C)."""
    R, C = x.shape
    for i in range(R):
        xi, yi = x[i], y[i]                                      # (C,)
        m = row_max(xi)
        for j in range(C):                                       # yi holds exp(x - m) for now
            yi[j] = poly_exp(xi[j] - m)
        # (x - m) - log s, not x - (m + log s): m + log s would round to the ulp of m.
        log_s = x.dtype.type(math.log(row_sum(yi)))
        for j in range(C):
            yi[j] = (xi[j] - m) - log_s


@njit
def _log_softmax_backward_rows(dy, y, dx):
    """dy, y (R, C) -> dx (R, C)."""
    R, C = y.shape
    for i in range(R):
        yi, dyi, dxi = y[i], dy[i], dx[i]                        # (C,)
        # y_j = x_j - log sum_k exp(x_k)
        total = y.dtype.type(row_sum(dyi))
        for j in range(C):
            dxi[j] = dyi[j] - poly_exp(yi[j]) * total


def _run(kernel, out, *inputs):
    """A row kernel on (..., C) arrays seen as (R, C). out is an array of its own,
    not a view, so autograd hands it to a leaf without a copy."""
    kernel(*[as_rows(a) for a in inputs + (out,)])
    return out


def softmax_forward(x):
    """x (..., C) -> y (..., C)."""
    return _run(_softmax_forward_rows, np.empty_like(x), x)


def softmax_backward(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    return _run(_softmax_backward_rows, np.empty_like(y), dy, y)


def log_softmax_forward(x):
    """x (..., C) -> y (..., C)."""
    return _run(_log_softmax_forward_rows, np.empty_like(x), x)


def log_softmax_backward(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    return _run(_log_softmax_backward_rows, np.empty_like(y), dy, y)
