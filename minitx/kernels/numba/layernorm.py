"""Layer normalization, compiled: a serial Numba kernel each way over (R, C) rows, run
on both cores by pair.py from pair.MIN_ELEMENTS, with the twin's signatures
(kernels/layernorm.py)."""
import math

import numpy as np

from . import pair
from ._jit import BLOCKS, as_rows, njit, sum_blocks
from ._math import row_moments, row_sum_dot


# Both passes are bound by memory traffic at the GPT shape (2048 rows of 384): Numba's
# workqueue threads made them slower (docs/lab/threads.md), pair.py's halve them.
#
# The statistics (mean, variance, the row sums of the backward, dweight and dbias)
# are accumulated in float64; the elementwise math runs in x's dtype, so float32
# rows run 16 lanes to an AVX-512 vector instead of 8. The float32 mean and rstd
# it uses are off by half an ulp at most: y moves by 6e-8 * |mean| * rstd.

@njit
def _forward_rows(x, weight, bias, eps, y, mean, rstd):
    """x (R, C), weight, bias (C,) -> y (R, C), mean, rstd (R,) float64."""
    R, C = x.shape
    f = x.dtype.type
    for i in range(R):
        xi, yi = x[i], y[i]                                 # (C,)
        k = np.float64(xi[0])
        s1, s2 = row_moments(xi, k)                         # sums of x - k and (x - k)^2
        m = k + s1 / C
        r = 1.0 / math.sqrt(max(s2 / C - (s1 / C) ** 2, 0.0) + eps)
        mf, rf = f(m), f(r)
        for j in range(C):
            yi[j] = (xi[j] - mf) * rf * weight[j] + bias[j]
        mean[i] = m
        rstd[i] = r


@pair.block_kernel
def _forward_block(job, blk, dtype):
    """The job's arrays: x, weight, bias, y (dtype), mean, rstd (float64); its float: eps."""
    _forward_rows(pair.rows(job, 0, dtype, blk), pair.vector(job, 1, dtype),
                  pair.vector(job, 2, dtype), pair.job_float(job), pair.rows(job, 3, dtype, blk),
                  pair.values(job, 4, np.float64, blk), pair.values(job, 5, np.float64, blk))


def layer_norm_forward(x, weight, bias, eps):
    """x (..., C), weight and bias (C,) -> y (..., C), mean (...), rstd (...)."""
    y, mean, rstd = np.empty_like(x), np.empty(x.shape[:-1]), np.empty(x.shape[:-1])
    args = (as_rows(x), weight, bias, as_rows(y), mean.reshape(-1), rstd.reshape(-1))
    if pair.pays(x.size):                                   # rows are independent: same bits
        pair.launch(_forward_block, *args[0].shape, *args, value=eps)
    else:
        _forward_rows(args[0], weight, bias, eps, *args[3:])
    return y, mean, rstd


# dweight and dbias add one term per row: in x's dtype over runs of FLUSH_ROWS rows,
# then into float64 sums (a float32 run of 8 terms adds an error of 8 ulp at most;
# float64 for every term made the whole backward markedly slower).
FLUSH_ROWS = 8


@njit
def _backward_rows(dy, x, weight, mean, rstd, dx, dweight, dbias):
    """dy, x (R, C), weight (C,), mean, rstd (R,) -> dx (R, C); adds into dweight, dbias (C,),
    float64."""
    R, C = x.shape
    f = x.dtype.type
    xhat = np.empty(C, x.dtype)                             # (C,) one row, reused
    dw_run, db_run = np.zeros(C, x.dtype), np.zeros(C, x.dtype)  # (C,) the current run of rows
    for i in range(R):
        xi, dyi, dxi = x[i], dy[i], dx[i]                   # (C,)
        m, r = f(mean[i]), f(rstd[i])
        for j in range(C):
            xhat[j] = (xi[j] - m) * r
            # y = xhat * weight + bias
            dw_run[j] += dyi[j] * xhat[j]
            db_run[j] += dyi[j]
            dxi[j] = dyi[j] * weight[j]                     # dxi holds dxhat for now
        sum_dxhat, sum_dxhat_xhat = row_sum_dot(dxi, xhat)
        mean_dxhat, mean_dxhat_xhat = f(sum_dxhat / C), f(sum_dxhat_xhat / C)
        # xhat = (x - mean) * rstd
        for j in range(C):
            dxi[j] = r * (dxi[j] - mean_dxhat - xhat[j] * mean_dxhat_xhat)
        if i % FLUSH_ROWS == FLUSH_ROWS - 1 or i == R - 1:
            for j in range(C):
                dweight[j] += dw_run[j]
                dbias[j] += db_run[j]
            dw_run[:] = 0
            db_run[:] = 0


@pair.block_kernel
def _backward_block(job, blk, dtype):
    """The job's arrays: dy, x, weight, mean, rstd, dx, and the (BLOCKS, C) float64
    partial sums of dweight and dbias, of which block blk fills row blk."""
    _backward_rows(pair.rows(job, 0, dtype, blk), pair.rows(job, 1, dtype, blk),
                   pair.vector(job, 2, dtype), pair.values(job, 3, np.float64, blk),
                   pair.values(job, 4, np.float64, blk), pair.rows(job, 5, dtype, blk),
                   pair.vector(job, 6, np.float64, blk), pair.vector(job, 7, np.float64, blk))


def layer_norm_backward(dy, x, weight, mean, rstd):
    """dy, x (..., C), weight (C,), mean, rstd (...) -> dx (..., C), dweight, dbias (C,).

    Always through pair.launch, on one core or two: dweight and dbias are sums over
    blocks, added in block order, so their bits do not depend on the path."""
    C = x.shape[-1]
    # dx in x's own shape, not a reshaped view: autograd then hands it to a leaf without a copy.
    dx = np.empty_like(x)                                   # (..., C)
    partial_dw, partial_db = np.zeros((BLOCKS, C)), np.zeros((BLOCKS, C))   # float64
    dy2 = as_rows(dy)
    pair.launch(_backward_block, *dy2.shape, dy2, as_rows(x), weight, mean.reshape(-1),
                rstd.reshape(-1), as_rows(dx), partial_dw, partial_db, alone=not pair.pays(x.size))
    dweight, dbias = np.zeros(C), np.zeros(C)               # (C,) float64
    sum_blocks(partial_dw, dweight)
    sum_blocks(partial_db, dbias)
    return dx, dweight.astype(weight.dtype), dbias.astype(weight.dtype)
