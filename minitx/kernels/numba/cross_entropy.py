"""Cross-entropy, compiled: serial kernels over a range of rows, run on both cores by
pair.py from pair.MIN_ELEMENTS, with the twin's signatures (kernels/cross_entropy.py)."""
import math

import numpy as np

from . import pair
from ._jit import BLOCKS, block_start, njit
from ._math import poly_exp, row_max, row_sum


# ---- serial kernels over a range of rows, and their block functions --------------
# With keep, e is (N, V) and row i of it is kept; without, e is (BLOCKS, V)
# scratch, one row per block, so blocks on two cores never share one.

@njit
def _forward_rows(x, targets, valid, label_smoothing, loss, m, s, e, keep, start, stop, slot):
    """Rows start..stop: x (N, V), targets (N,), valid (N,) -> loss, m, s (N,) float64,
    e (N, V) = exp(x - m) if keep, else scratch row e[slot]."""
    V = x.shape[1]
    # Two loops, not one: the rows' exps and sums alone, then the losses (a log, the
    # target, label smoothing's row sum); one loop with all of it ran a third slower
    # at V = 65 (docs/lab/performance.md).
    for i in range(start, stop):
        xi, ei = x[i], (e[i] if keep else e[slot])              # (V,)
        mi = row_max(xi)
        for j in range(V):
            ei[j] = poly_exp(xi[j] - mi)
        m[i], s[i] = mi, row_sum(ei)
    for i in range(start, stop):
        loss[i] = 0.0
        if valid[i]:
            lse = m[i] + math.log(s[i])
            loss[i] = (1 - label_smoothing) * (lse - x[i, targets[i]])
            if label_smoothing != 0.0:
                loss[i] += label_smoothing * (lse - row_sum(x[i]) / V)


@njit
def _backward_rows(g, x, e, kept, targets, valid, m, s, label_smoothing, dx, start, stop):
    """Rows start..stop: g (N,) float64 (dL/dloss_i) and x (N, V), or e = exp(x - m) (N, V)
    if kept -> dx (N, V)."""
    V = dx.shape[1]
    for i in range(start, stop):
        dxi = dx[i]                                              # (V,)
        if not valid[i]:
            dxi[:] = 0
            continue
        scale = dx.dtype.type(g[i] / s[i])                       # g_i / s_i
        shift = dx.dtype.type(g[i] * label_smoothing / V)        # g_i eps / V
        # loss_i = (1 - eps) (lse_i - x_it) + eps (lse_i - mean_j x_ij)
        if kept:
            ei = e[i]                                            # (V,)
            for j in range(V):
                dxi[j] = ei[j] * scale - shift
        else:
            xi, mi = x[i], x.dtype.type(m[i])                    # (V,); m is an element of x: exact
            for j in range(V):
                dxi[j] = poly_exp(xi[j] - mi) * scale - shift
        dxi[targets[i]] -= dx.dtype.type(g[i] * (1 - label_smoothing))


@pair.block_kernel
def _forward_block(job, blk, dtype):
    """The job's arrays: x (N, V), targets (N,) int64, valid (N,) bool, loss, m, s (N,)
    float64, e (N or BLOCKS, V); its float: label_smoothing; its flag: keep."""
    N, V = job[pair.ROWS], job[pair.COLUMNS]
    keep = pair.job_flag(job) != 0
    _forward_rows(pair.array(job, 0, dtype, (N, V)), pair.array(job, 1, np.int64, (N,)),
                  pair.array(job, 2, np.bool_, (N,)), pair.job_float(job),
                  pair.array(job, 3, np.float64, (N,)), pair.array(job, 4, np.float64, (N,)),
                  pair.array(job, 5, np.float64, (N,)),
                  pair.array(job, 6, dtype, (N if keep else BLOCKS, V)), keep,
                  block_start(blk, N), block_start(blk + 1, N), blk)


@pair.block_kernel
def _backward_block(job, blk, dtype):
    """The job's arrays: g (N,) float64, x, e (N, V) (x again if not kept), targets (N,)
    int64, valid (N,) bool, m, s (N,) float64, dx (N, V); its float: label_smoothing;
    its flag: kept."""
    N, V = job[pair.ROWS], job[pair.COLUMNS]
    _backward_rows(pair.array(job, 0, np.float64, (N,)), pair.array(job, 1, dtype, (N, V)),
                   pair.array(job, 2, dtype, (N, V)), pair.job_flag(job) != 0,
                   pair.array(job, 3, np.int64, (N,)), pair.array(job, 4, np.bool_, (N,)),
                   pair.array(job, 5, np.float64, (N,)), pair.array(job, 6, np.float64, (N,)),
                   pair.job_float(job), pair.array(job, 7, dtype, (N, V)),
                   block_start(blk, N), block_start(blk + 1, N))


def cross_entropy_forward(x, targets, valid, label_smoothing, keep_exp=False):
    """x (N, V), targets (N,) int64, valid (N,) bool -> loss (N,) float64, m (N,), s (N,)
    and e = exp(x - m) (N, V) if keep_exp, else None."""
    N, V = x.shape
    loss, m, s = np.empty(N), np.empty(N), np.empty(N)
    e = np.empty((N if keep_exp else BLOCKS, V), x.dtype)        # (N, V) kept, or scratch per block
    if pair.pays(x.size):                       # rows are independent: the same bits
        pair.launch(_forward_block, N, V, x, targets, valid, loss, m, s, e, value=label_smoothing,
                    flag=keep_exp)
    else:
        _forward_rows(x, targets, valid, label_smoothing, loss, m, s, e, keep_exp, 0, N, 0)
    return loss, m, s, (e if keep_exp else None)


def cross_entropy_backward(g, x, targets, valid, m, s, label_smoothing, e=None):
    """g (N,) float64 (dL/dloss_i, 0 on ignored rows), x (N, V), m, s (N,) -> dx (N, V);
    reads e = exp(x - m) (N, V) instead of x if the forward kept it."""
    kept = e is not None
    dx = np.empty_like(x)
    e = e if kept else x
    if pair.pays(dx.size):
        pair.launch(_backward_block, *dx.shape, g, x, e, targets, valid, m, s, dx,
                    value=label_smoothing, flag=kept, dtype=x.dtype)
    else:
        _backward_rows(g, x, e, kept, targets, valid, m, s, label_smoothing, dx, 0, dx.shape[0])
    return dx
