"""softmax and log_softmax, compiled: a serial Numba kernel each way over (R, C) rows,
run on both cores by pair.py from pair.MIN_ELEMENTS, and the twins' signatures
(kernels/softmax.py). Rows are independent: either path gives the same bits."""
import math

import numpy as np
from . import pair
from ._jit import as_rows, njit
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


# The four kernels on both cores (pair.py): one block function each.
@pair.block_kernel
def _softmax_forward_block(job, blk, dtype):
    _softmax_forward_rows(pair.rows(job, 0, dtype, blk), pair.rows(job, 1, dtype, blk))


@pair.block_kernel
def _softmax_backward_block(job, blk, dtype):
    _softmax_backward_rows(pair.rows(job, 0, dtype, blk), pair.rows(job, 1, dtype, blk),
                           pair.rows(job, 2, dtype, blk))


@pair.block_kernel
def _log_softmax_forward_block(job, blk, dtype):
    _log_softmax_forward_rows(pair.rows(job, 0, dtype, blk), pair.rows(job, 1, dtype, blk))


@pair.block_kernel
def _log_softmax_backward_block(job, blk, dtype):
    _log_softmax_backward_rows(pair.rows(job, 0, dtype, blk), pair.rows(job, 1, dtype, blk),
                               pair.rows(job, 2, dtype, blk))


def _run(kernel, block, out, *inputs):
    """A row kernel on (..., C) arrays seen as (R, C), on both cores when that pays. out
    is an array of its own, not a view, so autograd hands it to a leaf without a copy."""
    rows = [as_rows(a) for a in inputs + (out,)]
    if pair.pays(out.size):
        pair.launch(block, *rows[0].shape, *rows)
    else:
        kernel(*rows)
    return out


def softmax_forward(x):
    """x (..., C) -> y (..., C)."""
    return _run(_softmax_forward_rows, _softmax_forward_block, np.empty_like(x), x)


def softmax_backward(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    return _run(_softmax_backward_rows, _softmax_backward_block, np.empty_like(y), dy, y)


def log_softmax_forward(x):
    """x (..., C) -> y (..., C)."""
    return _run(_log_softmax_forward_rows, _log_softmax_forward_block, np.empty_like(x), x)


def log_softmax_backward(dy, y):
    """dy, y (..., C) -> dx (..., C)."""
    return _run(_log_softmax_backward_rows, _log_softmax_backward_block, np.empty_like(y), dy, y)
