"""Softmax cross-entropy of (N, V) logits against (N,) class ids, fused, NumPy and Numba.

For row i with target t = targets[i] and label smoothing eps:

    lse_i    = m_i + log s_i,   m_i = max_j x_ij,  s_i = sum_j exp(x_ij - m_i)
    nll_i    = lse_i - x_it                      (-log softmax(x_i)_t)
    smooth_i = lse_i - mean_j x_ij               (-mean_j log softmax(x_i)_j)
    loss_i   = (1 - eps) nll_i + eps smooth_i    (0 where t == ignore_index)

reduced by 'mean' (over the rows not ignored), 'sum' or 'none', exactly as
torch.nn.functional.cross_entropy, except that a batch whose rows are all
ignored gives 0 and a zero gradient where PyTorch gives nan. The backward is

    dloss_i/dx_ij = softmax(x_i)_j - eps / V - (1 - eps) [j == t],  softmax(x_i)_j = e_ij / s_i

with e_ij = exp(x_ij - m_i). Up to KEEP_EXP_MAX elements (a small vocabulary)
the forward keeps e (N, V) for the backward, which then needs no exp; above it
the forward saves only m and s per row and the backward recomputes e from x,
so a large vocabulary costs no (N, V) array between the passes (411 MB at
N = 2048, V = 50257 in float32).

The derivation is in docs/kernels/cross_entropy.md.
"""
import math

import numpy as np
from numba import prange

from ..autograd import Function
from ..backend import dispatch
from ..tensor import Tensor
from ._jit import BLOCKS, block_start, njit, parallel_pays, writable_c
from ._math import exp, row_max, row_sum

REDUCTIONS = ("mean", "sum", "none")


# ---- NumPy twin --------------------------------------------------------------

def cross_entropy_forward_numpy(x, targets, valid, label_smoothing):
    """x (N, V), targets (N,) int64, valid (N,) bool -> loss (N,) float64, m (N,), s (N,).

    Rows that are not valid have loss 0 and any target (it is never read).
    """
    N, V = x.shape
    m = x.max(axis=1, keepdims=True)                             # (N, 1)
    s = np.exp(x - m).sum(axis=1, dtype=np.float64)              # (N,)
    m = m[:, 0].astype(np.float64)                               # (N,)
    lse = m + np.log(s)                                          # (N,)
    safe_targets = np.where(valid, targets, 0)                   # (N,)
    nll = lse - x[np.arange(N), safe_targets]                    # (N,)
    smooth = lse - x.mean(axis=1, dtype=np.float64)              # (N,)
    loss = (1 - label_smoothing) * nll + label_smoothing * smooth
    return np.where(valid, loss, 0.0), m, s


def cross_entropy_forward_keep_numpy(x, targets, valid, label_smoothing):
    """cross_entropy_forward_numpy's loss, m, s, and e = exp(x - m) (N, V) for the backward."""
    loss, m, s = cross_entropy_forward_numpy(x, targets, valid, label_smoothing)
    return loss, m, s, np.exp(x - m[:, None].astype(x.dtype))


def cross_entropy_backward_numpy(g, x, targets, valid, m, s, label_smoothing):
    """g (N,) float64 (dL/dloss_i, 0 on ignored rows), x (N, V) -> dx (N, V)."""
    e = np.exp(x - m[:, None].astype(x.dtype))                   # (N, V)
    return cross_entropy_backward_kept_numpy(g, e, targets, valid, s, label_smoothing)


def cross_entropy_backward_kept_numpy(g, e, targets, valid, s, label_smoothing):
    """g (N,) float64 (dL/dloss_i, 0 on ignored rows), e = exp(x - m) (N, V) -> dx (N, V)."""
    N, V = e.shape
    p = e / s[:, None].astype(e.dtype)                           # (N, V) softmax
    # loss_i = (1 - eps) (lse_i - x_it) + eps (lse_i - mean_j x_ij)
    dx = p - label_smoothing / V                                 # (N, V)
    rows = np.flatnonzero(valid)
    dx[rows, targets[rows]] -= 1 - label_smoothing               # the one-hot, one entry per row
    return (g[:, None] * dx).astype(e.dtype)


# ---- Numba: serial kernels over a range of rows, parallel drivers ---------------
# With keep, e is (N, V) and row i of it is kept; without, e is (BLOCKS, V)
# scratch, one row per block, so parallel blocks never share one.

@njit
def _forward_rows(x, targets, valid, label_smoothing, loss, m, s, e, keep, start, stop, slot):
    """Rows start..stop: x (N, V), targets (N,), valid (N,) -> loss, m, s (N,) float64,
    e (N, V) = exp(x - m) if keep, else scratch row e[slot]."""
    V = x.shape[1]
    for i in range(start, stop):
        xi, ei = x[i], (e[i] if keep else e[slot])              # (V,)
        mi = row_max(xi)
        for j in range(V):
            ei[j] = exp(xi[j] - mi)
        si = row_sum(ei)
        m[i], s[i] = mi, si
        loss[i] = 0.0
        if valid[i]:
            lse = mi + math.log(si)
            loss[i] = (1 - label_smoothing) * (lse - xi[targets[i]])
            if label_smoothing != 0.0:
                loss[i] += label_smoothing * (lse - row_sum(xi) / V)


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
                dxi[j] = exp(xi[j] - mi) * scale - shift
        dxi[targets[i]] -= dx.dtype.type(g[i] * (1 - label_smoothing))


@njit(parallel=True)
def _forward_parallel(x, targets, valid, label_smoothing, loss, m, s, e, keep):
    for blk in prange(BLOCKS):
        _forward_rows(x, targets, valid, label_smoothing, loss, m, s, e, keep,
                      block_start(blk, x.shape[0]), block_start(blk + 1, x.shape[0]), blk)


@njit(parallel=True)
def _backward_parallel(g, x, e, kept, targets, valid, m, s, label_smoothing, dx):
    for blk in prange(BLOCKS):
        _backward_rows(g, x, e, kept, targets, valid, m, s, label_smoothing, dx,
                       block_start(blk, dx.shape[0]), block_start(blk + 1, dx.shape[0]))


def _forward(x, targets, valid, label_smoothing, keep):
    N, V = x.shape
    loss, m, s = np.empty(N), np.empty(N), np.empty(N)
    e = np.empty((N if keep else BLOCKS, V), x.dtype)            # (N, V) kept, or scratch per block
    args = (x, targets, valid, label_smoothing, loss, m, s, e, keep)
    if parallel_pays(x.size):
        _forward_parallel(*args)
    else:
        _forward_rows(*args, 0, N, 0)
    return loss, m, s, e


def _backward(g, x, e, kept, targets, valid, m, s, label_smoothing):
    dx = np.empty_like(e if kept else x)
    args = (g, x, e, kept, targets, valid, m, s, label_smoothing, dx)
    if parallel_pays(dx.size):
        _backward_parallel(*args)
    else:
        _backward_rows(*args, 0, dx.shape[0])
    return dx


def cross_entropy_forward_numba(x, targets, valid, label_smoothing):
    """x (N, V), targets (N,) int64, valid (N,) bool -> loss (N,) float64, m (N,), s (N,)."""
    return _forward(x, targets, valid, label_smoothing, False)[:3]


def cross_entropy_forward_keep_numba(x, targets, valid, label_smoothing):
    """The same, and e = exp(x - m) (N, V) for cross_entropy_backward_kept."""
    return _forward(x, targets, valid, label_smoothing, True)


def cross_entropy_backward_numba(g, x, targets, valid, m, s, label_smoothing):
    """g (N,) float64 (dL/dloss_i, 0 on ignored rows), x (N, V) -> dx (N, V)."""
    return _backward(g, x, x, False, targets, valid, m, s, label_smoothing)


def cross_entropy_backward_kept_numba(g, e, targets, valid, s, label_smoothing):
    """g (N,) float64 (dL/dloss_i, 0 on ignored rows), e = exp(x - m) (N, V) -> dx (N, V)."""
    return _backward(g, e, e, True, targets, valid, s, s, label_smoothing)


cross_entropy_forward = dispatch(cross_entropy_forward_numpy, cross_entropy_forward_numba)
cross_entropy_forward_keep = dispatch(cross_entropy_forward_keep_numpy,
                                      cross_entropy_forward_keep_numba)
cross_entropy_backward = dispatch(cross_entropy_backward_numpy, cross_entropy_backward_numba)
cross_entropy_backward_kept = dispatch(cross_entropy_backward_kept_numpy,
                                       cross_entropy_backward_kept_numba)

# Keep e = exp(x - m) between the passes up to this many elements (16 MB of float32):
# the backward then skips its exp pass, 5x faster at N = 2048, V = 65 (measured).
KEEP_EXP_MAX = 1 << 22


# ---- autograd ----------------------------------------------------------------

class CrossEntropy(Function):
    @staticmethod
    def forward(ctx, x, targets, valid, reduction, label_smoothing):
        x = writable_c(x)                                        # (N, V)
        ctx.kept = x.size <= KEEP_EXP_MAX
        if ctx.kept:
            loss, m, s, e = cross_entropy_forward_keep(x, targets, valid, label_smoothing)
            ctx.save_for_backward(e, s)                          # e (N, V), s (N,)
        else:
            loss, m, s = cross_entropy_forward(x, targets, valid, label_smoothing)  # (N,) each
            ctx.save_for_backward(x, m, s)
        count = int(valid.sum())
        ctx.targets, ctx.valid, ctx.count = targets, valid, count
        ctx.reduction, ctx.label_smoothing = reduction, label_smoothing
        if reduction == "none":
            return loss.astype(x.dtype)
        total = loss.sum()
        if reduction == "mean":
            total = total / count if count else 0.0             # all ignored: 0, not nan
        return np.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        saved = ctx.saved_tensors
        N = saved[0].shape[0]
        if ctx.reduction == "none":
            g = np.asarray(grad, dtype=np.float64).reshape(N)     # (N,)
        else:
            scale = 1.0 / ctx.count if ctx.reduction == "mean" and ctx.count else 1.0
            g = np.full(N, float(grad) * scale)                  # (N,)
        g = np.where(ctx.valid, g, 0.0)
        eps = ctx.label_smoothing
        if ctx.kept:
            e, s = saved
            dx = cross_entropy_backward_kept(g, e, ctx.targets, ctx.valid, s, eps)
        else:
            x, m, s = saved
            dx = cross_entropy_backward(g, x, ctx.targets, ctx.valid, m, s, eps)
        return dx, None, None, None, None


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of (N, V) logits and (N,) class ids, as torch.nn.functional.cross_entropy."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if x.ndim != 2:
        raise ValueError(f"cross_entropy: logits of shape {x.shape}; expected (N, V) "
                         f"(flatten (B, T, V) to (B*T, V) first)")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"cross_entropy: logits of shape {x.shape} have dtype {x.dtype}; "
                        f"expected float32 or float64")
    if t.shape != x.shape[:1]:
        raise ValueError(f"cross_entropy: targets of shape {t.shape} for logits of shape "
                         f"{x.shape}; expected ({x.shape[0]},)")
    if t.size and not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"cross_entropy: targets have dtype {t.dtype}; expected integers (class ids)")
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction={reduction!r}; choose one of {REDUCTIONS}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing={label_smoothing} is outside [0, 1]")
    t = t.astype(np.int64)
    V = x.shape[1]
    valid = t != ignore_index                                    # (N,)
    bad = valid & ((t < 0) | (t >= V))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        # The kernels index x[i, t[i]] without bounds checks: stop here, before them.
        raise IndexError(f"cross_entropy: target {int(t[i])} at position {i} is out of range "
                         f"for V={V} classes (logits of shape {x.shape}; ignore_index={ignore_index})")
    return CrossEntropy.apply(x, t, valid, reduction, float(label_smoothing))
