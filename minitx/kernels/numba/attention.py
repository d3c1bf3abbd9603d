"""Scaled dot-product attention, fused: softmax(q k^T * scale + mask) v.

Two entry points share one kernel:
- scaled_dot_product_attention(q, k, v): q (B, NH, Tq, HS); k, v (B, NH, Tk, HS);
  out (B, NH, Tq, HS), torch's signature. Any strides: BERT's heads and a KV
  cache's keys go in as the views they are, with no copy.
- qkv_attention(qkv, n_head): c_attn's output qkv (B, T, 3C) in, y (B, T, C)
  out, already in merged-heads layout (c_proj reads it as it is); the backward
  returns dqkv (B, T, 3C) as one fresh array. Head h of q is
  qkv[b, :, h*HS:(h+1)*HS]; k starts at column C, v at 2C.

Tk may exceed Tq (a KV cache): the queries are then the LAST Tq positions of
the sequence, so with is_causal query i may see the keys j <= i + (Tk - Tq).
PyTorch aligns is_causal to the top left instead (j <= i); the two agree when
Tq == Tk, and the KV cache needs ours, so the parity tests pass PyTorch an
explicit mask for Tq != Tk.

A mask (torch's attn_mask) is boolean (True = the key takes part) or additive
float, broadcastable to (B, NH, Tq, Tk); both may be combined with is_causal
(torch refuses the combination). A query row with no key left gives zeros and
zero gradients, never NaN.

Dropout (dropout_p > 0) zeroes probabilities with the seeded generator
minitx.random.default_generator() and scales the rest by 1 / (1 - dropout_p);
as in torch, it applies whenever dropout_p > 0 (pass 0.0 in eval).

What the forward saves for backward (FlashAttention's choice): the inputs, the
output, and the row log-sum-exp lse = max + log(sum exp) (B, NH, Tq); the
backward recomputes p = exp(scale q.k + bias - lse). Saving p instead would
cost B*NH*Tq*Tk numbers, 12.6 MB per layer at B=8, NH=6, T=256 (float32), for
a recompute that takes about 15% of the backward (one more q k^T product). With dropout the keep
mask (B, NH, Tq, Tk) is saved too. Under no_grad nothing is kept. The
derivation is in docs/kernels/attention.md.

The Numba kernel: one task per (batch, head), so each task owns its rows of
out, dq, dk, dv and every sum runs in one fixed order whatever the thread
count (runs are bit-identical). A task copies its head into padded contiguous
scratch (q scaled, k and v also transposed), then walks blocks of 64 queries:
the block's scores (64, Tk) stay in cache from q k^T through the softmax to
p v. Every product is `_add_products4`, a 4 x 4 register block: four rows of
the output, four rows of the right-hand matrix per pass, the inner loop along
a contiguous row (SIMD), compiled without LLVM's alias checks. Causal rows
stop at their last visible key, so the masked half of the (Tq, Tk) square
costs nothing. Operands of any layout arrive as contiguous rows with row
steps, one Numba type per dtype. docs/kernels/attention.md has the design and
the measurements: at the GPT benchmark's shape forward and backward take about
0.6 and 0.5 times PyTorch's.
"""
import math

import numba
import numpy as np
from numba import prange

from ..autograd import Function, is_grad_enabled
from ..backend import dispatch
from ..random import default_generator
from ..tensor import Tensor
from ._jit import njit
from ._math import exp, row_max

_NO_BIAS = {np.dtype(t): np.zeros((1, 1, 1, 1), t) for t in (np.float32, np.float64)}
_NO_KEEP = np.ones((1, 1, 1, 1), np.bool_)


def _causal_allowed(Tq, Tk):
    """(Tq, Tk) bool: query i (the last Tq of Tk positions) may see key j <= i + Tk - Tq."""
    return np.tril(np.ones((Tq, Tk), dtype=np.bool_), k=Tk - Tq)


# ---- NumPy twin ------------------------------------------------------------------

def _scores_numpy(q, k, bias, is_causal, scale):
    """s = scale * q k^T + bias (B, NH, Tq, Tk), -inf where causality hides a key."""
    s = scale * (q @ k.swapaxes(-1, -2))            # (B, NH, Tq, Tk)
    if bias is not None:
        s = s + bias                                # -inf where a key is masked out
    if is_causal:
        s = np.where(_causal_allowed(q.shape[2], k.shape[2]), s, -np.inf)
    return s


def attention_forward_numpy(q, k, v, bias, is_causal, scale, keep, dropout_scale, out):
    """Writes out (B, NH, Tq, HS); returns lse (B, NH, Tq), +inf for a row with no key.
    q (B, NH, Tq, HS); k, v (B, NH, Tk, HS); bias (mB, mNH, mTq, Tk) or None; keep or None."""
    s = _scores_numpy(q, k, bias, is_causal, scale)  # (B, NH, Tq, Tk)
    m = s.max(axis=-1, keepdims=True)               # (B, NH, Tq, 1)
    m = np.where(np.isneginf(m), 0, m)              # a row with no key: avoid -inf - -inf
    e = np.exp(s - m)                               # (B, NH, Tq, Tk)
    l = e.sum(axis=-1, keepdims=True)               # (B, NH, Tq, 1); 0 for a row with no key
    empty = l == 0
    l = np.where(empty, 1, l)
    p = e / l                                       # (B, NH, Tq, Tk); a row with no key stays 0
    pd = p if keep is None else p * keep * dropout_scale  # dropout on the probabilities
    out[...] = pd @ v                               # (B, NH, Tq, HS)
    lse = np.where(empty, np.inf, m + np.log(l))    # (B, NH, Tq, 1)
    return lse[..., 0].astype(q.dtype)


def attention_backward_numpy(q, k, v, bias, is_causal, scale, keep, dropout_scale, out, lse, dout,
                             dq, dk, dv):
    """Writes dq (B, NH, Tq, HS), dk and dv (B, NH, Tk, HS) from dout (B, NH, Tq, HS)."""
    # p = exp(s - lse) is the forward's softmax, recomputed (0 where s = -inf or lse = inf)
    p = np.exp(_scores_numpy(q, k, bias, is_causal, scale) - lse[..., None])  # (B, NH, Tq, Tk)
    pd = p if keep is None else p * keep * dropout_scale  # (B, NH, Tq, Tk)
    # out = pd @ v
    dv[...] = pd.swapaxes(-1, -2) @ dout            # (B, NH, Tk, HS)
    dpd = dout @ v.swapaxes(-1, -2)                 # (B, NH, Tq, Tk)
    # pd = p * keep * dropout_scale
    dp = dpd if keep is None else dpd * keep * dropout_scale
    # p = softmax(s) along a row: ds_ij = p_ij (dp_ij - sum_j' p_ij' dp_ij'); that row sum
    # equals sum_j pd_ij dpd_ij = dout_i . out_i, which needs no (Tq, Tk) product
    D = np.sum(dout * out, axis=-1, keepdims=True)  # (B, NH, Tq, 1)
    ds = p * (dp - D)                               # (B, NH, Tq, Tk); 0 where p is 0 (masked)
    # s = scale * q @ k^T + bias
    dq[...] = scale * (ds @ k)                      # (B, NH, Tq, HS)
    dk[...] = scale * (ds.swapaxes(-1, -2) @ q)     # (B, NH, Tk, HS)


# ---- Numba: the 4 x 4 product --------------------------------------------------
# fastmath is limited to reassoc and contract, so that sums run in SIMD lanes and
# fuse into multiply-adds (in the same order every run) while -inf and NaN keep
# their meaning (no ninf, nnan).
_FAST = {"reassoc", "contract"}

# LLVM must assume that `out` may overlap `rows`, so before each vectorized loop it
# compares the addresses of every row pair and keeps a scalar fallback: at HS = 64
# that setup costs more than the loop it guards (44 against 75 GFLOP/s measured for
# a (256, 256) @ (256, 64) product). Numba has the flag that removes it (noalias on
# every pointer argument, C's `restrict`) for its own parallel loops, but does not
# offer it as a jit option; this registers it. Where a Numba version lacks the
# internals, the kernels compile without it: slower, the same results.
try:
    from numba.core import cpu as _cpu, options as _options
    if not hasattr(_cpu.CPUTargetOptions, "noalias"):
        _cpu.CPUTargetOptions.noalias = _options.TargetOptions.Mapping("noalias")
    _NOALIAS = {"noalias": True}
except (ImportError, AttributeError):
    _NOALIAS = {}


@njit(fastmath=_FAST, **_NOALIAS)
def _add_products4(out, o, w, rows, r0, r1, n):
    """out[o:o+4, :n] += w[o:o+4, r0:r1] @ rows[r0:r1, :n], r1 - r0 a multiple of 4.

    out (., N) and rows (R, N) C-contiguous; w (., R) any strides (a transposed view);
    the three never overlap (compiled with noalias).
    Sixteen weights sit in registers while the loop runs along the rows: each pass
    reads four rows of `rows` once for four rows of out, 16 multiply-adds per 8
    loads and 4 stores, where one row at a time (or a dot product per number)
    would load as often as it multiplies.
    """
    for r in range(r0, r1, 4):
        w00, w01, w02, w03 = w[o, r], w[o, r + 1], w[o, r + 2], w[o, r + 3]
        w10, w11, w12, w13 = w[o + 1, r], w[o + 1, r + 1], w[o + 1, r + 2], w[o + 1, r + 3]
        w20, w21, w22, w23 = w[o + 2, r], w[o + 2, r + 1], w[o + 2, r + 2], w[o + 2, r + 3]
        w30, w31, w32, w33 = w[o + 3, r], w[o + 3, r + 1], w[o + 3, r + 2], w[o + 3, r + 3]
        for c in range(n):
            x0, x1, x2, x3 = rows[r, c], rows[r + 1, c], rows[r + 2, c], rows[r + 3, c]
            out[o, c] += w00 * x0 + w01 * x1 + w02 * x2 + w03 * x3
            out[o + 1, c] += w10 * x0 + w11 * x1 + w12 * x2 + w13 * x3
            out[o + 2, c] += w20 * x0 + w21 * x1 + w22 * x2 + w23 * x3
            out[o + 3, c] += w30 * x0 + w31 * x1 + w32 * x2 + w33 * x3


# ---- Numba: causal ranges and padding ------------------------------------------
# Scratch is padded with zeros: rows of q to a multiple of 4 (the block height),
# keys to a multiple of 16 (one SIMD vector of float32, so no row of scores ends
# in a scalar tail), HS to a multiple of 4. A zero row adds nothing to a product,
# so the loops never need a remainder case.

@njit
def _ceil(n, m):
    """n rounded up to a multiple of m."""
    return (n + m - 1) // m * m


@njit
def _key_end(i, Tq, Tk, is_causal):
    """Query i sees keys [0, _key_end); the queries are the last Tq of Tk positions."""
    return max(0, min(Tk, i + Tk - Tq + 1)) if is_causal else Tk


@njit
def _query_start(j, Tq, Tk, is_causal):
    """Key j is seen by queries [_query_start, Tq)."""
    return max(0, j - (Tk - Tq)) if is_causal else 0


@njit
def _group_key_end(i, Tq, Tk, is_causal, m):
    """Keys the four queries [i, i + 4) see, as one range [0, end) rounded up to m."""
    return _ceil(_key_end(min(i + 3, Tq - 1), Tq, Tk, is_causal), m)


@njit(fastmath=_FAST)
def _rows_times_t(s, a, bt, i0, n, Tq, Tk, is_causal):
    """s[:n] = a[i0:i0+n] @ bt, each group of 4 rows up to its last visible key (scores
    q k^T with bt = k^T, or dout v^T with bt = v^T). s (BQ, Tkp); a (Tqp, HSp); bt (HSp, Tkp)"""
    a = a[i0:]
    for o in range(0, n, 4):
        end = _group_key_end(i0 + o, Tq, Tk, is_causal, 16)
        s[o:o + 4, :end] = 0
        _add_products4(s, o, a, bt, 0, bt.shape[0], end)


@njit(fastmath=_FAST)
def _weights_times(out, w, rows, i0, n, Tq, Tk, is_causal):
    """out[:n] = w[:n] @ rows over each group's visible keys (p v, or ds k).
    out (BQ, HSp); w (BQ, Tkp), 0 past each row's last key; rows (Tkp, HSp)"""
    out[:n] = 0
    for o in range(0, n, 4):
        _add_products4(out, o, w, rows, 0, _group_key_end(i0 + o, Tq, Tk, is_causal, 4),
                       out.shape[1])


@njit(fastmath=_FAST)
def _add_weights_t_times(out, w, rows, i0, n, k_end, Tq, Tk, is_causal):
    """out[:k_end] += w[:n]^T @ rows[i0:i0+n], each group of 4 keys over the queries of
    the block that see it (pd^T dout, or ds^T q). out (Tkp, HSp); w (BQ, Tkp), 0 where a
    query does not see a key, up to k_end; rows (Tqp, HSp)"""
    wt, rows = w.T, rows[i0:]
    for j in range(0, k_end, 4):
        r0 = max(0, _query_start(j, Tq, Tk, is_causal) - i0) // 4 * 4
        if r0 < n:
            _add_products4(out, j, wt, rows, r0, n, out.shape[1])


# ---- Numba: heads as rows -----------------------------------------------------
# A (B, NH, T, HS) operand reaches the kernel as `rows` (N, HS), a C-contiguous view of
# its memory, and the row steps (sb, sh, st) of its first three dims: row t of head
# (b, h) is rows[b*sb + h*sh + t*st] (the steps of all operands travel as one int array,
# as Numba's parallel loop takes no tuples). A view of qkv, an output written into merged
# heads, a KV cache's first positions and a plain contiguous array are all rows of HS
# numbers at whole-row steps, so they are one Numba type (one compile per dtype), and
# the copies between them and the scratch run along contiguous rows in SIMD (as
# 'A'-layout 4-D arrays, the copies were scalar: 70 of a head's 178 us forward).

@njit
def _head(rows, steps, b, h):
    """Head (b, h) of an operand, rows (N, HS) and steps (sb, sh, st), as (rows, first row,
    row step)."""
    return rows, b * steps[0] + h * steps[1], steps[2]


@njit(fastmath=_FAST, **_NOALIAS)
def _load(dst, head, n, scale):
    """dst[:n, :HS] = scale * the first n rows of head; dst is zero-padded scratch."""
    rows, first, step = head
    for t in range(n):
        src = rows[first + t * step]                # (HS,)
        for c in range(src.shape[0]):
            dst[t, c] = scale * src[c]


@njit(fastmath=_FAST, **_NOALIAS)
def _load_t(dst, head, n):
    """dst[:HS, :n] = the first n rows of head, transposed. Four rows at a time: each
    row of dst gets four neighbouring numbers per visit (2.4 times faster than one)."""
    rows, first, step = head
    t = 0
    while t + 4 <= n:
        a, b = rows[first + t * step], rows[first + (t + 1) * step]          # (HS,)
        c, d = rows[first + (t + 2) * step], rows[first + (t + 3) * step]
        for x in range(a.shape[0]):
            dst[x, t], dst[x, t + 1], dst[x, t + 2], dst[x, t + 3] = a[x], b[x], c[x], d[x]
        t += 4
    for t in range(t, n):
        a = rows[first + t * step]
        for x in range(a.shape[0]):
            dst[x, t] = a[x]


@njit(fastmath=_FAST, **_NOALIAS)
def _store(head, t0, src, n, scales):
    """Rows t0 .. t0+n-1 of head = scales[t] * src[t, :HS]; scales (n,)."""
    rows, first, step = head
    for t in range(n):
        dst, w = rows[first + (t0 + t) * step], scales[t]  # (HS,)
        for c in range(dst.shape[0]):
            dst[c] = w * src[t, c]


@njit(fastmath=_FAST)
def _row_dots(D, a, b, n):
    """D[t] = a_t . b_t for the first n rows of heads a and b."""
    ra, fa, sa = a
    rb, fb, sb = b
    for t in range(n):
        x, y = ra[fa + t * sa], rb[fb + t * sb]     # (HS,)
        acc = D.dtype.type(0)
        for c in range(x.shape[0]):
            acc += x[c] * y[c]
        D[t] = acc


@njit(fastmath=_FAST)
def _softmax_row(si, jend, k_end, bi, has_bias, ki, has_keep, dropout_scale):
    """One row of scores si (Tkp,) in place: e = exp(s + bias - max) on the keys [0, jend)
    the row sees (times keep * dropout_scale), 0 on [jend, k_end). Returns lse = max +
    log(sum e) and 1 / sum e; +inf and 0 for a row with no key. bi (Tk,) bias, ki (Tk,)."""
    t = si.dtype.type
    if has_bias:                                    # s += bias
        for j in range(jend):
            si[j] += bi[j]
    m = row_max(si[:jend])
    if m == -np.inf:                                # no key: p = 0
        si[:k_end] = 0
        return t(np.inf), t(0)
    l = t(0)
    for j in range(jend):                           # e = exp(s - max); l = sum e
        e = exp(si[j] - m)
        si[j] = e
        l += e
    si[jend:k_end] = 0                              # keys this row does not see
    if has_keep:                                    # pd = p * keep * dropout_scale
        for j in range(jend):
            si[j] *= ki[j] * dropout_scale
    return t(m + math.log(l)), t(1 / l)


@njit(fastmath=_FAST)
def _softmax_grad_row(si, gi, jend, k_end, lse, D, bi, has_bias, ki, has_keep, dropout_scale):
    """One row in place: si (Tkp,) scores -> pd, gi (Tkp,) dpd -> ds, on the keys
    [0, jend) the row sees; both 0 on [jend, k_end). D = sum_j p_j dp_j = dout . out."""
    if has_bias:
        for j in range(jend):
            si[j] += bi[j]
    for j in range(jend):
        p = exp(si[j] - lse)                        # p = softmax(s), recomputed from lse
        dp = gi[j]
        if has_keep:                                # pd = p * keep * dropout_scale
            kd = ki[j] * dropout_scale
            dp *= kd
            si[j] = p * kd
        else:
            si[j] = p
        gi[j] = p * (dp - D)                        # ds = p (dp - sum_j p dp)
    si[jend:k_end] = 0                              # keys this row does not see
    gi[jend:k_end] = 0


_BQ = 64    # queries per block: scores (64, Tk) stay in L2 between the three passes


# ---- Numba: forward ------------------------------------------------------------

@njit(fastmath=_FAST)
def _forward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                  dropout_scale, out, lse):
    """Head bh = b * NH + h. dims (B, NH, Tq, Tk); q, k, v, out as rows (N, HS) with their
    steps (4, 3); lse (B, NH, Tq) written; bias (mB, mNH, mTq, Tk) and keep (B, NH, Tq, Tk),
    or (1, 1, 1, 1) dummies. (The head's own work and its unpacking in one function: each
    level of calls costs compile time, as Numba optimizes all the callees again for it.)"""
    b, h = bh // dims[1], bh % dims[1]
    Tq, Tk = dims[2], dims[3]
    qh, kh, vh = _head(q, steps[0], b, h), _head(k, steps[1], b, h), _head(v, steps[2], b, h)
    oh, lseh = _head(out, steps[3], b, h), lse[b, h]  # qh, oh: Tq rows; kh, vh: Tk rows
    bh = bias[min(b, bias.shape[0] - 1), min(h, bias.shape[1] - 1)]  # (mTq, Tk)
    keeph = keep[b, h] if has_keep else keep[0, 0]  # (Tq, Tk)
    HS = q.shape[1]
    Tqp, Tkp, HSp = _ceil(Tq, 4), _ceil(Tk, 16), _ceil(HS, 4)
    t = q.dtype
    qs = np.zeros((Tqp, HSp), t)                    # scale * q
    kt = np.zeros((HSp, Tkp), t)                    # k^T
    vv = np.zeros((Tkp, HSp), t)                    # v
    _load(qs, qh, Tq, scale)
    _load_t(kt, kh, Tk)
    _load(vv, vh, Tk, t.type(1))
    BQ = min(_BQ, Tqp)
    s = np.empty((BQ, Tkp), t)                      # one block's scores, then exp(s - max)
    ob = np.empty((BQ, HSp), t)                     # one block's exp(s - max) @ v
    inv_l = np.empty(BQ, t)                         # 1 / sum_j exp(s_ij - max), 0 if no key
    for i0 in range(0, Tqp, BQ):
        n = min(BQ, Tqp - i0)
        k_blk = _ceil(_key_end(min(i0 + n, Tq) - 1, Tq, Tk, is_causal), 16)
        _rows_times_t(s, qs, kt, i0, n, Tq, Tk, is_causal)  # s = scale * q k^T
        for o in range(min(n, Tq - i0)):
            i = i0 + o
            lse_i, inv_l[o] = _softmax_row(s[o], _key_end(i, Tq, Tk, is_causal), k_blk,
                                           bh[min(i, bh.shape[0] - 1)], has_bias,
                                           keeph[min(i, keeph.shape[0] - 1)], has_keep,
                                           dropout_scale)
            lseh[i] = lse_i
        for o in range(min(n, Tq - i0), n):         # padding rows
            s[o, :k_blk] = 0
            inv_l[o] = 0
        _weights_times(ob, s, vv, i0, n, Tq, Tk, is_causal)  # out = (e @ v) / l
        _store(oh, i0, ob, min(n, Tq - i0), inv_l)


@njit(parallel=True)
def _forward_heads(dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                   dropout_scale, out, lse):
    for bh in prange(dims[0] * dims[1]):
        # prange counts in uint64, and uint64 // int64 is a float in Numba: the index as int64
        _forward_head(np.int64(bh), dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep,
                      has_keep, dropout_scale, out, lse)


@njit
def _forward_heads_serial(dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                          dropout_scale, out, lse):
    for bh in range(dims[0] * dims[1]):
        _forward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                      dropout_scale, out, lse)


# Decoding with a KV cache asks for a few queries against the whole cache. The blocked
# kernel would copy every cached key and value of a head into scratch for that, more
# work than the products themselves: 376 us a call at B=1 NH=6 Tq=1 Tk=200 HS=64,
# against 112 us for the NumPy twin. Below DECODE_MAX_QUERIES queries, each score is
# one dot product read straight from the rows of k, and each output row a weighted
# sum of the rows of v, with no copy.
DECODE_MAX_QUERIES = 4


@njit(fastmath=_FAST)
def _decode_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                 dropout_scale, out, lse):
    """Head bh = b * NH + h for Tq < DECODE_MAX_QUERIES; arguments as _forward_head."""
    b, h = bh // dims[1], bh % dims[1]
    Tq, Tk = dims[2], dims[3]
    qr, qf, qs = _head(q, steps[0], b, h)
    kr, kf, ks = _head(k, steps[1], b, h)
    vr, vf, vs = _head(v, steps[2], b, h)
    orows, of, os = _head(out, steps[3], b, h)
    bh = bias[min(b, bias.shape[0] - 1), min(h, bias.shape[1] - 1)]  # (mTq, Tk)
    keeph = keep[b, h] if has_keep else keep[0, 0]  # (Tq, Tk)
    HS = q.shape[1]
    s = np.empty(max(Tk, 1), q.dtype)               # (Tk,) one query's scores, then e
    acc = np.empty(HS, q.dtype)                     # (HS,) sum_j e_j v_j
    for i in range(Tq):
        qi, jend = qr[qf + i * qs], _key_end(i, Tq, Tk, is_causal)  # qi (HS,)
        for j in range(jend):                       # s = scale * q . k
            kj = kr[kf + j * ks]                    # (HS,)
            d = q.dtype.type(0)
            for c in range(HS):
                d += qi[c] * kj[c]
            s[j] = scale * d
        lse[b, h, i], inv_l = _softmax_row(s, jend, jend, bh[min(i, bh.shape[0] - 1)], has_bias,
                                           keeph[min(i, keeph.shape[0] - 1)], has_keep,
                                           dropout_scale)
        acc[:] = 0
        for j in range(jend):                       # out = (e @ v) / l
            vj, w = vr[vf + j * vs], s[j]           # vj (HS,)
            for c in range(HS):
                acc[c] += w * vj[c]
        oi = orows[of + i * os]                     # (HS,)
        for c in range(HS):
            oi[c] = acc[c] * inv_l


@njit
def _decode_heads(dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                  dropout_scale, out, lse):
    for bh in range(dims[0] * dims[1]):
        _decode_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                     dropout_scale, out, lse)


# ---- Numba: backward -----------------------------------------------------------

@njit(fastmath=_FAST)
def _backward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                   dropout_scale, out, lse, dout, dq, dk, dv):
    """Head bh = b * NH + h, as _forward_head; q, k, v, out, dout, dq, dk, dv as rows with
    their steps (8, 3). Writes every row of the head in dq, dk, dv."""
    b, h = bh // dims[1], bh % dims[1]
    Tq, Tk = dims[2], dims[3]
    qh, kh, vh = _head(q, steps[0], b, h), _head(k, steps[1], b, h), _head(v, steps[2], b, h)
    oh, doh, lseh = _head(out, steps[3], b, h), _head(dout, steps[4], b, h), lse[b, h]
    dqh, dkh, dvh = _head(dq, steps[5], b, h), _head(dk, steps[6], b, h), _head(dv, steps[7], b, h)
    bh = bias[min(b, bias.shape[0] - 1), min(h, bias.shape[1] - 1)]  # (mTq, Tk)
    keeph = keep[b, h] if has_keep else keep[0, 0]  # (Tq, Tk)
    HS = q.shape[1]
    Tqp, Tkp, HSp = _ceil(Tq, 4), _ceil(Tk, 16), _ceil(HS, 4)
    t = q.dtype
    qs = np.zeros((Tqp, HSp), t)                    # scale * q
    kt = np.zeros((HSp, Tkp), t)                    # k^T
    kk = np.zeros((Tkp, HSp), t)                    # k
    vt = np.zeros((HSp, Tkp), t)                    # v^T
    do = np.zeros((Tqp, HSp), t)                    # dout
    _load(qs, qh, Tq, scale)
    _load_t(kt, kh, Tk)
    _load(kk, kh, Tk, t.type(1))
    _load_t(vt, vh, Tk)
    _load(do, doh, Tq, t.type(1))
    D = np.zeros(Tqp, t)                            # sum_j p_ij dp_ij = dout_i . out_i
    _row_dots(D, doh, oh, Tq)
    dk = np.zeros((Tkp, HSp), t)
    dv = np.zeros((Tkp, HSp), t)
    BQ = min(_BQ, Tqp)
    s = np.empty((BQ, Tkp), t)                      # one block's scores, then p (or pd)
    g = np.empty((BQ, Tkp), t)                      # one block's dpd = dout v^T, then ds
    dqb = np.empty((BQ, HSp), t)                    # one block's ds @ k
    scales = np.full(BQ, scale, t)                  # dq = scale * ds @ k, row by row
    for i0 in range(0, Tqp, BQ):
        n = min(BQ, Tqp - i0)
        k_blk = _ceil(_key_end(min(i0 + n, Tq) - 1, Tq, Tk, is_causal), 16)
        _rows_times_t(s, qs, kt, i0, n, Tq, Tk, is_causal)  # s = scale * q k^T
        _rows_times_t(g, do, vt, i0, n, Tq, Tk, is_causal)  # out = pd @ v: dpd = dout v^T
        for o in range(min(n, Tq - i0)):
            i = i0 + o
            _softmax_grad_row(s[o], g[o], _key_end(i, Tq, Tk, is_causal), k_blk, lseh[i], D[i],
                              bh[min(i, bh.shape[0] - 1)], has_bias,
                              keeph[min(i, keeph.shape[0] - 1)], has_keep, dropout_scale)
        for o in range(min(n, Tq - i0), n):         # padding rows
            s[o, :k_blk] = 0
            g[o, :k_blk] = 0
        _add_weights_t_times(dv, s, do, i0, n, k_blk, Tq, Tk, is_causal)  # dv += pd^T dout
        # s = scale * q k^T + bias: dk = scale * ds^T q, dq = scale * ds k
        _add_weights_t_times(dk, g, qs, i0, n, k_blk, Tq, Tk, is_causal)
        _weights_times(dqb, g, kk, i0, n, Tq, Tk, is_causal)
        _store(dqh, i0, dqb, min(n, Tq - i0), scales)
    ones = np.ones(Tk, t)
    _store(dkh, 0, dk, Tk, ones)
    _store(dvh, 0, dv, Tk, ones)


@njit(parallel=True)
def _backward_heads(dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                    dropout_scale, out, lse, dout, dq, dk, dv):
    for bh in prange(dims[0] * dims[1]):
        _backward_head(np.int64(bh), dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep,
                       has_keep, dropout_scale, out, lse, dout, dq, dk, dv)


@njit
def _backward_heads_serial(dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                           dropout_scale, out, lse, dout, dq, dk, dv):
    for bh in range(dims[0] * dims[1]):
        _backward_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                       dropout_scale, out, lse, dout, dq, dk, dv)


# ---- Numba: the Python side ----------------------------------------------------

def _address(a):
    return a.__array_interface__["data"][0]


def _rows(a):
    """a (B, NH, T, HS) as the kernel's (rows (N, HS), (sb, sh, st)): rows a C-contiguous
    view of the memory a lives in, starting at a's first number, with a[b, h, t] =
    rows[b*sb + h*sh + t*st]. Copied first when a's rows are not contiguous, its steps
    not whole rows, its memory not one C-contiguous array, or it is read-only (another
    Numba type). (Sliced from the base array, unrolled: as_strided took 10 us a call.)"""
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


# Threads pay from about 32M multiply-adds of q k^T up, inside a training step. Alone,
# through autograd (2 cores, load average 0.8), forward / backward ms per call serial
# against 2 threads were: B*NH=8 T=64 HS=32 (1M) 0.110/0.184 against 0.085/0.130;
# B=12 NH=4 T=64 HS=32 (6.3M) 0.570/1.038 against 0.296/0.531. But in a step, each
# call comes right after a matmul, whose OpenBLAS threads keep spinning on the cores
# for a while: the small GPT benchmark step (B=12 T=64 L=4 C=128) took 49 and 63 ms
# with threads from 1M, 41 and 50 ms with attention serial (two alternated runs).
# At the GPT shape (50M), with gelu serial as well, the step took 952, 934 and
# 941 ms against 975, 970 and 957 ms with threads (three alternated runs; see
# _jit.py). So threads start at 256M multiply-adds, where a head's work dwarfs
# whatever the second core is doing.
_THREADS_MIN_MULADDS = 1 << 28


def _threads_pay(q, k):
    """Whether the threaded driver runs. Below the threshold the serial one does: a
    parallel loop merely set to one thread still hands its work to a worker thread and
    waits (8 context switches a call, measured), and in a VM each costs tens of us."""
    B, NH, Tq, HS = q.shape
    muladds = B * NH * Tq * k.shape[2] * HS         # of q k^T alone
    return numba.get_num_threads() > 1 and B * NH > 1 and muladds >= _THREADS_MIN_MULADDS


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


def attention_forward_numba(q, k, v, bias, is_causal, scale, keep, dropout_scale, out):
    """The Numba kernel, with the twin's signature."""
    bias, has_bias, scale, keep, has_keep, dropout_scale = _flags(q, bias, keep, scale,
                                                                  dropout_scale)
    (q_, k_, v_, out_), steps = _operands(q, k, v, out)
    dims = np.array(q.shape[:3] + k.shape[2:3], np.int64)  # B, NH, Tq, Tk
    lse = np.empty(q.shape[:3], q.dtype)            # (B, NH, Tq)
    if q.shape[2] < DECODE_MAX_QUERIES:
        _decode_heads(dims, steps, q_, k_, v_, bias, has_bias, is_causal, scale, keep, has_keep,
                      dropout_scale, out_, lse)
    else:
        run = _forward_heads if _threads_pay(q, k) else _forward_heads_serial
        run(dims, steps, q_, k_, v_, bias, has_bias, is_causal, scale, keep, has_keep,
            dropout_scale, out_, lse)
    _written_back(out, out_)
    return lse


def attention_backward_numba(q, k, v, bias, is_causal, scale, keep, dropout_scale, out, lse, dout,
                             dq, dk, dv):
    bias, has_bias, scale, keep, has_keep, dropout_scale = _flags(q, bias, keep, scale,
                                                                  dropout_scale)
    (q_, k_, v_, out_, dout_, dq_, dk_, dv_), steps = _operands(q, k, v, out, dout, dq, dk, dv)
    dims = np.array(q.shape[:3] + k.shape[2:3], np.int64)
    run = _backward_heads if _threads_pay(q, k) else _backward_heads_serial
    run(dims, steps, q_, k_, v_, bias, has_bias, is_causal, scale, keep, has_keep, dropout_scale,
        out_, np.ascontiguousarray(lse), dout_, dq_, dk_, dv_)
    for g, g_ in ((dq, dq_), (dk, dk_), (dv, dv_)):
        _written_back(g, g_)


attention_forward = dispatch(attention_forward_numpy, attention_forward_numba)
attention_backward = dispatch(attention_backward_numpy, attention_backward_numba)


# ---- autograd --------------------------------------------------------------------

def _bias_from_mask(mask, dtype, shape, name):
    """A boolean or additive mask as an additive (mB, mNH, mTq, Tk) array of `dtype`;
    name: the public function, for errors.

    Broadcast dims of size 1 stay 1 (the kernel reuses that slice); the key dim is
    filled out to Tk so that a row of the bias is a plain contiguous row.
    """
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    try:
        fits = mask.ndim <= 4 and np.broadcast_shapes(mask.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: attn_mask of shape {mask.shape} does not broadcast to "
                         f"(B, NH, Tq, Tk) = {shape}")
    mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    if mask.dtype == np.bool_:
        bias = np.where(mask, 0, -np.inf).astype(dtype)  # True = the key takes part
    elif np.issubdtype(mask.dtype, np.floating):
        bias = mask.astype(dtype)
    else:
        raise TypeError(f"{name}: attn_mask must be bool or float, not {mask.dtype}")
    out = np.empty(mask.shape[:3] + (shape[3],), dtype=dtype)  # (mB, mNH, mTq, Tk), writable
    out[...] = bias
    return out


def _attend(ctx, q, k, v, bias, is_causal, scale, dropout_p, out):
    """The forward both Functions share: draws dropout, writes out (B, NH, Tq, HS) (a view
    into the output the caller returns), saves what the backward needs."""
    keep, dropout_scale = None, 1.0
    if dropout_p > 0:
        B, NH, Tq, _ = q.shape
        u = default_generator().random((B, NH, Tq, k.shape[2]), dtype=np.float32)
        keep = u >= dropout_p                       # (B, NH, Tq, Tk)
        dropout_scale = 1 / (1 - dropout_p) if dropout_p < 1 else 0.0
    lse = attention_forward(q, k, v, bias, is_causal, scale, keep, dropout_scale, out)
    if is_grad_enabled() and any(ctx.needs_input_grad):
        ctx.save_for_backward(q, k, v, bias, keep, out, lse)
        ctx.is_causal, ctx.scale, ctx.dropout_scale = is_causal, scale, dropout_scale


def _attend_backward(ctx, dout, dq, dk, dv):
    """Writes dq, dk, dv (views into the gradients the caller returns) from dout."""
    q, k, v, bias, keep, out, lse = ctx.saved_tensors
    attention_backward(q, k, v, bias, ctx.is_causal, ctx.scale, keep, ctx.dropout_scale, out, lse,
                       dout, dq, dk, dv)


def _merged(B, T, NH, HS, dtype):
    """A fresh (B, T, NH, HS) array seen as (B, NH, T, HS): heads written into it come
    out already merged, as (B, T, C) needs no copy."""
    return np.empty((B, T, NH, HS), dtype).transpose(0, 2, 1, 3)


class ScaledDotProductAttention(Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, is_causal, scale, dropout_p):
        B, NH, Tq, HS = q.shape
        out = _merged(B, Tq, NH, HS, q.dtype)       # (B, NH, Tq, HS)
        _attend(ctx, q, k, v, bias, is_causal, scale, dropout_p, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k = ctx.saved_tensors[:2]
        B, NH, Tq, HS = q.shape
        Tk = k.shape[2]
        dq = _merged(B, Tq, NH, HS, q.dtype)
        dk, dv = _merged(B, Tk, NH, HS, q.dtype), _merged(B, Tk, NH, HS, q.dtype)
        _attend_backward(ctx, grad.astype(q.dtype, copy=False), dq, dk, dv)
        return dq, dk, dv, None, None, None, None


def _heads(x, NH, parts):
    """x (B, T, parts * C) as `parts` views (B, NH, T, HS), one per C columns."""
    B, T, W = x.shape
    HS = W // (parts * NH)
    return x.reshape(B, T, parts, NH, HS).transpose(2, 0, 3, 1, 4)


class QKVAttention(Function):
    @staticmethod
    def forward(ctx, qkv, n_head, bias, is_causal, scale, dropout_p):
        B, T, C3 = qkv.shape
        q, k, v = _heads(qkv, n_head, 3)            # (B, NH, T, HS) views of qkv
        y = np.empty((B, T, C3 // 3), qkv.dtype)    # (B, T, C)
        _attend(ctx, q, k, v, bias, is_causal, scale, dropout_p, _heads(y, n_head, 1)[0])
        return y

    @staticmethod
    def backward(ctx, grad):
        q = ctx.saved_tensors[0]
        B, NH, T, HS = q.shape
        dqkv = np.empty((B, T, 3 * NH * HS), q.dtype)  # (B, T, 3C), every number written
        dout = _heads(grad.astype(q.dtype, copy=False), NH, 1)[0]
        _attend_backward(ctx, dout, *_heads(dqkv, NH, 3))
        return dqkv, None, None, None, None, None


def _check_dropout(dropout_p, name):
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"{name}: dropout_p must be in [0, 1], got {dropout_p}")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None):
    """softmax(query key^T * scale + mask) value, fused; see the module docstring for causal
    alignment when Tq < Tk, masks, dropout and what is saved for backward."""
    q, k, v = (t if isinstance(t, Tensor) else Tensor(t) for t in (query, key, value))
    if (q.ndim != 4 or k.ndim != 4 or k.shape != v.shape
            or q.shape[:2] + q.shape[3:] != k.shape[:2] + k.shape[3:]):
        raise ValueError(f"scaled_dot_product_attention: want q (B, NH, Tq, HS) and k, v "
                         f"(B, NH, Tk, HS); got q {q.shape}, k {k.shape}, v {v.shape}")
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in (np.float32, np.float64):
        raise TypeError(f"scaled_dot_product_attention: q, k, v must share float32 or float64; "
                        f"got {q.dtype}, {k.dtype}, {v.dtype}")
    _check_dropout(dropout_p, "scaled_dot_product_attention")
    B, NH, Tq, HS = q.shape
    shape = (B, NH, Tq, k.shape[2])
    bias = None if attn_mask is None else _bias_from_mask(attn_mask, q.dtype, shape,
                                                          "scaled_dot_product_attention")
    scale = 1 / np.sqrt(HS) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(q, k, v, bias, bool(is_causal), scale, float(dropout_p))


def qkv_attention(qkv, n_head, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """Self-attention over c_attn's fused output: qkv (B, T, 3C) -> y (B, T, C), heads merged.

    The same as splitting qkv into q, k, v, splitting each into n_head heads, calling
    scaled_dot_product_attention and merging the heads, without the copies: the kernel
    reads the heads where they lie and writes y and dqkv in place.
    """
    x = qkv if isinstance(qkv, Tensor) else Tensor(qkv)
    if x.ndim != 3 or n_head < 1 or x.shape[2] % (3 * n_head):
        raise ValueError(f"qkv_attention: want qkv (B, T, 3C) with C divisible by n_head; got qkv "
                         f"{x.shape} and n_head {n_head}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"qkv_attention: qkv must be float32 or float64, not {x.dtype}")
    _check_dropout(dropout_p, "qkv_attention")
    B, T, C3 = x.shape
    HS = C3 // (3 * n_head)
    bias = None if attn_mask is None else _bias_from_mask(attn_mask, x.dtype, (B, n_head, T, T),
                                                          "qkv_attention")
    scale = 1 / np.sqrt(HS) if scale is None else float(scale)
    return QKVAttention.apply(x, int(n_head), bias, bool(is_causal), scale, float(dropout_p))
