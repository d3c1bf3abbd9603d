"""Scaled dot-product attention, compiled: the blocked kernel for training, with the
twin's signatures (kernels/attention.py).

One task per (batch, head), so each task owns its rows of out, dq, dk, dv and
every sum runs in one fixed order whatever the thread count (runs are
bit-identical). A task copies its head into padded contiguous scratch (q
scaled, k and v also transposed), then walks blocks of 64 queries: the block's
scores (64, Tk) stay in cache from q k^T through the softmax to p v. Every
product is a 4 x 4 register block (attention_blocks.py). Causal rows stop at
their last visible key, so the masked half of the (Tq, Tk) square costs
nothing. Operands of any layout arrive as contiguous rows with row steps, one
Numba type per dtype. Fewer than DECODE_MAX_QUERIES queries (decoding with a
KV cache) take attention_decode.py instead, which reads the cache in place.
docs/kernels/attention.md has the design and the measurements.
"""
import numpy as np

from . import pair
from ._atomic import float_from_bits
from ._jit import block_start, njit
from .attention_blocks import (BLOCK_QUERIES, FAST, add_weights_t_times, ceil_to, head_rows, key_end, load,
                               load_t, row_dots, rows_times_t, softmax_grad_row, softmax_row,
                               store, weights_times)
from .attention_decode import decode_heads

_NO_BIAS = {np.dtype(t): np.zeros((1, 1, 1, 1), t) for t in (np.float32, np.float64)}
_NO_KEEP = np.ones((1, 1, 1, 1), np.bool_)

# Below this many queries the copies into scratch cost more than the products they
# serve (one query against a 200-key cache: several times the twin's time).
DECODE_MAX_QUERIES = 4


# ---- forward -------------------------------------------------------------------

@njit(fastmath=FAST)
def _forward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                  dropout_scale, out, lse):
    """Head bh = b * NH + h. dims (B, NH, Tq, Tk); q, k, v, out as rows (N, HS) with their
    steps (4, 3); lse (B, NH, Tq) written; bias (mB, mNH, mTq, Tk) and keep (B, NH, Tq, Tk),
    or (1, 1, 1, 1) dummies. (The head's own work and its unpacking in one function: each
    level of calls costs compile time, as Numba optimizes all the callees again for it.)"""
    b, h = bh // dims[1], bh % dims[1]
    Tq, Tk = dims[2], dims[3]
    qh, kh = head_rows(q, steps[0], b, h), head_rows(k, steps[1], b, h)
    vh = head_rows(v, steps[2], b, h)
    oh, lseh = head_rows(out, steps[3], b, h), lse[b, h]  # qh, oh: Tq rows; kh, vh: Tk rows
    bh = bias[min(b, bias.shape[0] - 1), min(h, bias.shape[1] - 1)]  # (mTq, Tk)
    keeph = keep[b, h] if has_keep else keep[0, 0]  # (Tq, Tk)
    HS = q.shape[1]
    Tqp, Tkp, HSp = ceil_to(Tq, 4), ceil_to(Tk, 16), ceil_to(HS, 4)
    t = q.dtype
    qs = np.zeros((Tqp, HSp), t)                    # scale * q
    kt = np.zeros((HSp, Tkp), t)                    # k^T
    vv = np.zeros((Tkp, HSp), t)                    # v
    load(qs, qh, Tq, scale)
    load_t(kt, kh, Tk)
    load(vv, vh, Tk, t.type(1))
    BQ = min(BLOCK_QUERIES, Tqp)
    s = np.empty((BQ, Tkp), t)                      # one block's scores, then exp(s - max)
    ob = np.empty((BQ, HSp), t)                     # one block's exp(s - max) @ v
    inv_l = np.empty(BQ, t)                         # 1 / sum_j exp(s_ij - max), 0 if no key
    for i0 in range(0, Tqp, BQ):
        n = min(BQ, Tqp - i0)
        k_blk = ceil_to(key_end(min(i0 + n, Tq) - 1, Tq, Tk, is_causal), 16)
        rows_times_t(s, qs, kt, i0, n, Tq, Tk, is_causal)  # s = scale * q k^T
        for o in range(min(n, Tq - i0)):
            i = i0 + o
            lse_i, inv_l[o] = softmax_row(s[o], key_end(i, Tq, Tk, is_causal), k_blk,
                                           bh[min(i, bh.shape[0] - 1)], has_bias,
                                           keeph[min(i, keeph.shape[0] - 1)], has_keep,
                                           dropout_scale)
            lseh[i] = lse_i
        for o in range(min(n, Tq - i0), n):         # padding rows
            s[o, :k_blk] = 0
            inv_l[o] = 0
        weights_times(ob, s, vv, i0, n, Tq, Tk, is_causal)  # out = (e @ v) / l
        store(oh, i0, ob, min(n, Tq - i0), inv_l)


# ---- backward -----------------------------------------------------------

@njit(fastmath=FAST)
def _backward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                   dropout_scale, out, lse, dout, dq, dk, dv):
    """Head bh = b * NH + h, as _forward_head; q, k, v, out, dout, dq, dk, dv as rows with
    their steps (8, 3). Writes every row of the head in dq, dk, dv."""
    b, h = bh // dims[1], bh % dims[1]
    Tq, Tk = dims[2], dims[3]
    qh, kh = head_rows(q, steps[0], b, h), head_rows(k, steps[1], b, h)
    vh = head_rows(v, steps[2], b, h)
    oh, doh, lseh = head_rows(out, steps[3], b, h), head_rows(dout, steps[4], b, h), lse[b, h]
    dqh, dkh, dvh = head_rows(dq, steps[5], b, h), head_rows(dk, steps[6], b, h), head_rows(dv, steps[7], b, h)
    bh = bias[min(b, bias.shape[0] - 1), min(h, bias.shape[1] - 1)]  # (mTq, Tk)
    keeph = keep[b, h] if has_keep else keep[0, 0]  # (Tq, Tk)
    HS = q.shape[1]
    Tqp, Tkp, HSp = ceil_to(Tq, 4), ceil_to(Tk, 16), ceil_to(HS, 4)
    t = q.dtype
    qs = np.zeros((Tqp, HSp), t)                    # scale * q
    kt = np.zeros((HSp, Tkp), t)                    # k^T
    kk = np.zeros((Tkp, HSp), t)                    # k
    vt = np.zeros((HSp, Tkp), t)                    # v^T
    do = np.zeros((Tqp, HSp), t)                    # dout
    load(qs, qh, Tq, scale)
    load_t(kt, kh, Tk)
    load(kk, kh, Tk, t.type(1))
    load_t(vt, vh, Tk)
    load(do, doh, Tq, t.type(1))
    D = np.zeros(Tqp, t)                            # sum_j p_ij dp_ij = dout_i . out_i
    row_dots(D, doh, oh, Tq)
    dk = np.zeros((Tkp, HSp), t)
    dv = np.zeros((Tkp, HSp), t)
    BQ = min(BLOCK_QUERIES, Tqp)
    s = np.empty((BQ, Tkp), t)                      # one block's scores, then p (or pd)
    g = np.empty((BQ, Tkp), t)                      # one block's dpd = dout v^T, then ds
    dqb = np.empty((BQ, HSp), t)                    # one block's ds @ k
    scales = np.full(BQ, scale, t)                  # dq = scale * ds @ k, row by row
    for i0 in range(0, Tqp, BQ):
        n = min(BQ, Tqp - i0)
        k_blk = ceil_to(key_end(min(i0 + n, Tq) - 1, Tq, Tk, is_causal), 16)
        rows_times_t(s, qs, kt, i0, n, Tq, Tk, is_causal)  # s = scale * q k^T
        rows_times_t(g, do, vt, i0, n, Tq, Tk, is_causal)  # out = pd @ v: dpd = dout v^T
        for o in range(min(n, Tq - i0)):
            i = i0 + o
            softmax_grad_row(s[o], g[o], key_end(i, Tq, Tk, is_causal), k_blk, lseh[i], D[i],
                              bh[min(i, bh.shape[0] - 1)], has_bias,
                              keeph[min(i, keeph.shape[0] - 1)], has_keep, dropout_scale)
        for o in range(min(n, Tq - i0), n):         # padding rows
            s[o, :k_blk] = 0
            g[o, :k_blk] = 0
        add_weights_t_times(dv, s, do, i0, n, k_blk, Tq, Tk, is_causal)  # dv += pd^T dout
        # s = scale * q k^T + bias: dk = scale * ds^T q, dq = scale * ds k
        add_weights_t_times(dk, g, qs, i0, n, k_blk, Tq, Tk, is_causal)
        weights_times(dqb, g, kk, i0, n, Tq, Tk, is_causal)
        store(dqh, i0, dqb, min(n, Tq - i0), scales)
    ones = np.ones(Tk, t)
    store(dkh, 0, dk, Tk, ones)
    store(dvh, 0, dv, Tk, ones)


# ---- both cores: blocks of heads (pair.py) --------------------------------------
# A job's arrays: meta (int64, the words below), then q, k, v, out, lse, bias, keep, and
# for the backward dout, dq, dk, dv; its float: scale. Blocks cut the B * NH heads.
_DIMS = 0                     # B, NH, Tq, Tk
_STEPS = 4                    # the rows arrays' steps, (8, 3)
_ROWS = 28                    # the rows arrays' row counts, 8
_HS = 36
_BIAS, _KEEP = 37, 41         # their shapes, 4 each
_FLAGS = 45                   # has_bias, is_causal, has_keep
_DROPOUT = 48                 # dropout_scale's float64 bits
_META_WORDS = 49


@njit
def _operand(job, k, dtype, meta, i):
    """The job's k-th array, the i-th rows array: (rows, HS)."""
    return pair.array(job, k, dtype, (meta[_ROWS + i], meta[_HS]))


@njit
def _common(job, dtype):
    """What _forward_head and _backward_head share, from the job: dims, q, k, v, out, lse,
    bias, has_bias, is_causal, scale, keep, has_keep, dropout_scale."""
    meta = pair.array(job, 0, np.int64, (_META_WORDS,))
    dims = pair.array(job, 0, np.int64, (4,), _DIMS)
    q, k = _operand(job, 1, dtype, meta, 0), _operand(job, 2, dtype, meta, 1)
    v, out = _operand(job, 3, dtype, meta, 2), _operand(job, 4, dtype, meta, 3)
    lse = pair.array(job, 5, dtype, (dims[0], dims[1], dims[2]))
    bias = pair.array(job, 6, dtype, (meta[_BIAS], meta[_BIAS + 1], meta[_BIAS + 2], meta[_BIAS + 3]))
    keep = pair.array(job, 7, np.bool_, (meta[_KEEP], meta[_KEEP + 1], meta[_KEEP + 2], meta[_KEEP + 3]))
    t = q.dtype.type
    return (dims, q, k, v, out, lse, bias, meta[_FLAGS] != 0, meta[_FLAGS + 1] != 0,
            t(pair.job_float(job)), keep, meta[_FLAGS + 2] != 0, t(float_from_bits(meta[_DROPOUT])))


@pair.block_kernel
def _forward_block(job, blk, dtype):
    dims, q, k, v, out, lse, bias, has_bias, is_causal, scale, keep, has_keep, dropout_scale = \
        _common(job, dtype)
    steps = pair.array(job, 0, np.int64, (4, 3), _STEPS)
    for bh in range(block_start(blk, dims[0] * dims[1]), block_start(blk + 1, dims[0] * dims[1])):
        _forward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                      dropout_scale, out, lse)


@pair.block_kernel
def _backward_block(job, blk, dtype):
    dims, q, k, v, out, lse, bias, has_bias, is_causal, scale, keep, has_keep, dropout_scale = \
        _common(job, dtype)
    steps = pair.array(job, 0, np.int64, (8, 3), _STEPS)
    meta = pair.array(job, 0, np.int64, (_META_WORDS,))
    dout, dq = _operand(job, 8, dtype, meta, 4), _operand(job, 9, dtype, meta, 5)
    dk, dv = _operand(job, 10, dtype, meta, 6), _operand(job, 11, dtype, meta, 7)
    for bh in range(block_start(blk, dims[0] * dims[1]), block_start(blk + 1, dims[0] * dims[1])):
        _backward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                       dropout_scale, out, lse, dout, dq, dk, dv)


# ---- the Python side ----------------------------------------------------

def _address(a):
    return a.__array_interface__["data"][0]


def _rows(a):
    """a (B, NH, T, HS) as the kernel's (rows (N, HS), (sb, sh, st)): rows a C-contiguous
    view of the memory a lives in, starting at a's first number, with a[b, h, t] =
    rows[b*sb + h*sh + t*st]. Copied first when a's rows are not contiguous, its steps
    not whole rows, its memory not one C-contiguous array, or it is read-only (another
    Numba type). (Sliced from the base array, unrolled: as_strided is slow per call.)"""
    B, NH, T, HS = a.shape
    if a.size == 0:
        return np.empty((0, HS), a.dtype), (0, 0, 0)
    row = HS * a.itemsize
    sb, sh, st, sc = a.strides                      # a dim of size 1 may have any stride
    sb, sh, st = (sb if B > 1 else 0), (sh if NH > 1 else 0), (st if T > 1 else 0)
    base = a
    while isinstance(base.base, np.ndarray):
        base = base.base
    if ((HS > 1 and sc != a.itemsize) or sb % row or sh % row or st % row
            or min(sb, sh, st) < 0 or not a.flags.writeable or base.dtype != a.dtype
            or not base.flags.c_contiguous):
        a = base = np.array(a, order="C")         # a copy, writable even if a was not
        sb, sh, st = (a.strides[0] if B > 1 else 0), (a.strides[1] if NH > 1 else 0), row
    sb, sh, st = sb // row, sh // row, st // row
    first = (_address(a) - _address(base)) // a.itemsize
    N = 1 + (B - 1) * sb + (NH - 1) * sh + (T - 1) * st
    return base.reshape(-1)[first:first + N * HS].reshape(N, HS), (sb, sh, st)


# Both cores from 2^20 multiply-adds of q k^T (pair.py; about 2 us a launch), so the
# small GPT step's attention (B=12 T=64 L=4 C=128: 6M) runs on both: on Numba's
# workqueue pool (70 to 150 us a launch) it paid only from 2^26, and ran serial there,
# a quarter of the step. docs/lab/threads.md has the figures.
_PAIR_MIN_MULADDS = 1 << 20


def _launch(block, q, k, operands, steps, lse, bias, has_bias, is_causal, scale, keep, has_keep,
            dropout_scale):
    """Run block over the heads: operands are the rows arrays (q, k, v, out[, dout, dq,
    dk, dv]), steps their (n, 3) steps. Heads are independent: the same bits on one core
    or two."""
    B, NH, Tq, HS = q.shape
    meta = np.zeros(_META_WORDS, np.int64)
    meta[_DIMS:_DIMS + 4] = B, NH, Tq, k.shape[2]
    meta[_STEPS:_STEPS + steps.size] = steps.reshape(-1)
    meta[_ROWS:_ROWS + len(operands)] = [a.shape[0] for a in operands]
    meta[_HS] = HS
    meta[_BIAS:_BIAS + 4], meta[_KEEP:_KEEP + 4] = bias.shape, keep.shape
    meta[_FLAGS:_FLAGS + 3] = has_bias, is_causal, has_keep
    meta[_DROPOUT] = np.float64(dropout_scale).view(np.int64)
    muladds = B * NH * Tq * k.shape[2] * HS         # of q k^T alone
    pays = B * NH > 1 and muladds >= _PAIR_MIN_MULADDS and pair.usable()
    pair.launch(block, B * NH, 0, meta, *operands[:4], lse, bias, keep, *operands[4:],
                value=scale, dtype=q.dtype, alone=not pays)


def _flags(q, bias, keep, scale, dropout_scale):
    """bias, has_bias, scale, keep, has_keep, dropout_scale: None made a flag and a dummy."""
    t = q.dtype.type
    bias_arg = _NO_BIAS[q.dtype] if bias is None else np.ascontiguousarray(bias)
    keep_arg = _NO_KEEP if keep is None else np.ascontiguousarray(keep)
    return bias_arg, bias is not None, t(scale), keep_arg, keep is not None, t(dropout_scale)


def _operands(*arrays):
    """Each array as rows, and all their steps as one (n, 3) int64 array."""
    pairs = [_rows(a) for a in arrays]
    return [rows for rows, _ in pairs], np.array([steps for _, steps in pairs], np.int64)


def _written_back(a, rows):
    """Copy the kernel's result into a where _rows(a) had to make a copy of it."""
    if not np.may_share_memory(rows, a):
        a[...] = rows.reshape(a.shape)


def attention_forward(q, k, v, scale, bias=None, is_causal=False, keep=None, dropout_scale=1.0,
                      out=None):
    """The twin's attention_forward_numpy, compiled: -> out (B, NH, Tq, HS), lse (B, NH, Tq)."""
    if out is None:
        out = np.empty(q.shape, q.dtype)
    bias, has_bias, scale, keep, has_keep, dropout_scale = _flags(q, bias, keep, scale,
                                                                  dropout_scale)
    (q_, k_, v_, out_), steps = _operands(q, k, v, out)
    dims = np.array(q.shape[:3] + k.shape[2:3], np.int64)  # B, NH, Tq, Tk
    lse = np.empty(q.shape[:3], q.dtype)            # (B, NH, Tq)
    if q.shape[2] < DECODE_MAX_QUERIES:
        decode_heads(dims, steps, q_, k_, v_, bias, has_bias, is_causal, scale, keep, has_keep,
                     dropout_scale, out_, lse)
    else:
        _launch(_forward_block, q, k, [q_, k_, v_, out_], steps, lse, bias, has_bias, is_causal,
                scale, keep, has_keep, dropout_scale)
    _written_back(out, out_)
    return out, lse


def attention_backward(dout, q, k, v, out, lse, scale, bias=None, is_causal=False, keep=None,
                       dropout_scale=1.0, grads=None):
    """The twin's attention_backward_numpy, compiled: -> dq, dk, dv, written into
    grads = (dq, dk, dv) when given."""
    dq, dk, dv = grads if grads is not None else (np.empty(a.shape, q.dtype) for a in (q, k, v))
    bias, has_bias, scale, keep, has_keep, dropout_scale = _flags(q, bias, keep, scale,
                                                                  dropout_scale)
    (q_, k_, v_, out_, dout_, dq_, dk_, dv_), steps = _operands(q, k, v, out, dout, dq, dk, dv)
    _launch(_backward_block, q, k, [q_, k_, v_, out_, dout_, dq_, dk_, dv_], steps,
            np.ascontiguousarray(lse), bias, has_bias, is_causal, scale, keep, has_keep, dropout_scale)
    for g, g_ in ((dq, dq_), (dk, dk_), (dv, dv_)):
        _written_back(g, g_)
    return dq, dk, dv
