"""softmax and log_softmax, compiled: a serial Numba kernel each way over (R, C) rows,
a parallel driver over BLOCKS fixed blocks of rows, and the twins' signatures
(kernels/softmax.py). Rows are independent: either path gives the same bits."""
import math

import numpy as np
from numba import prange

from ._jit import BLOCKS, as_rows, block_start, njit, parallel_pays
from ._math import poly_exp, row_dot, row_max, row_sum


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


@njit(parallel=True)
def _forward_parallel(kernel, x, y):
    for blk in prange(BLOCKS):
        a, b = block_start(blk, x.shape[0]), block_start(blk + 1, x.shape[0])
        kernel(x[a:b], y[a:b])


@njit(parallel=True)
def _backward_parallel(kernel, dy, y, dx):
    for blk in prange(BLOCKS):
        a, b = block_start(blk, y.shape[0]), block_start(blk + 1, y.shape[0])
        kernel(dy[a:b], y[a:b], dx[a:b])


def _run(kernel, parallel, out, *inputs):
    """A row kernel on (..., C) arrays seen as (R, C), through its parallel driver when
    threads pay. out is an array of its own, not a view, so autograd hands it to a
    leaf without a copy."""
    rows = [as_rows(a) for a in inputs + (out,)]
    if parallel_pays(out.size):
        parallel(kernel, *rows)
    else:
        kernel(*rows)
    return out


def softmax_forward(x):
    """x (..., C) -> y (..., C)."""
    return _run(_softmax_forward_rows, _forward_parallel, np.empty_like(x), x)


def softmax_backward(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    return _run(_softmax_backward_rows, _backward_parallel, np.empty_like(y), dy, y)


def log_softmax_forward(x):
    """x (..., C) -> y (..., C)."""
    return _run(_log_softmax_forward_rows, _forward_parallel, np.empty_like(x), x)


def log_softmax_backward(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    return _run(_log_softmax_backward_rows, _backward_parallel, np.empty_like(y), dy, y)
