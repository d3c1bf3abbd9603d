"""The building blocks of the compiled attention (kernels/numba/attention.py): the
4 x 4 register-blocked product, causal key ranges, a head's rows copied into
scratch and back, and one row of the softmax and of its gradient."""
import math

import numpy as np

from ._jit import NOALIAS, njit
from ._math import poly_exp, row_max


# fastmath is limited to reassoc and contract, so that sums run in SIMD lanes and
# fuse into multiply-adds (in the same order every run) while -inf and NaN keep
# their meaning (no ninf, nnan).
FAST = {"reassoc", "contract"}


# ---- the 4 x 4 product ---------------------------------------------------------


@njit(fastmath=FAST, **NOALIAS)
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


# ---- causal ranges and padding ------------------------------------------
# Scratch is padded with zeros: rows of q to a multiple of 4 (the block height),
# keys to a multiple of 16 (one SIMD vector of float32, so no row of scores ends
# in a scalar tail), HS to a multiple of 4. A zero row adds nothing to a product,
# so the loops never need a remainder case.

@njit
def ceil_to(n, m):
    """n rounded up to a multiple of m."""
    return (n + m - 1) // m * m


@njit
def key_end(i, Tq, Tk, is_causal):
    """Query i sees keys [0, key_end); the queries are the last Tq of Tk positions."""
    return max(0, min(Tk, i + Tk - Tq + 1)) if is_causal else Tk


@njit
def _query_start(j, Tq, Tk, is_causal):
    """Key j is seen by queries [_query_start, Tq)."""
    return max(0, j - (Tk - Tq)) if is_causal else 0


@njit
def _group_key_end(i, Tq, Tk, is_causal, m):
    """Keys the four queries [i, i + 4) see, as one range [0, end) rounded up to m."""
    return ceil_to(key_end(min(i + 3, Tq - 1), Tq, Tk, is_causal), m)


@njit(fastmath=FAST)
def rows_times_t(s, a, bt, i0, n, Tq, Tk, is_causal):
    """s[:n] = a[i0:i0+n] @ bt, each group of 4 rows up to its last visible key (scores
    q k^T with bt = k^T, or dout v^T with bt = v^T). s (BQ, Tkp); a (Tqp, HSp); bt (HSp, Tkp)"""
    a = a[i0:]
    for o in range(0, n, 4):
        end = _group_key_end(i0 + o, Tq, Tk, is_causal, 16)
        s[o:o + 4, :end] = 0
        _add_products4(s, o, a, bt, 0, bt.shape[0], end)


@njit(fastmath=FAST)
def weights_times(out, w, rows, i0, n, Tq, Tk, is_causal):
    """out[:n] = w[:n] @ rows over each group's visible keys (p v, or ds k).
    out (BQ, HSp); w (BQ, Tkp), 0 past each row's last key; rows (Tkp, HSp)"""
    out[:n] = 0
    for o in range(0, n, 4):
        _add_products4(out, o, w, rows, 0, _group_key_end(i0 + o, Tq, Tk, is_causal, 4),
                       out.shape[1])


@njit(fastmath=FAST)
def add_weights_t_times(out, w, rows, i0, n, k_end, Tq, Tk, is_causal):
    """out[:k_end] += w[:n]^T @ rows[i0:i0+n], each group of 4 keys over the queries of
    the block that see it (pd^T dout, or ds^T q). out (Tkp, HSp); w (BQ, Tkp), 0 where a
    query does not see a key, up to k_end; rows (Tqp, HSp)"""
    wt, rows = w.T, rows[i0:]
    for j in range(0, k_end, 4):
        r0 = max(0, _query_start(j, Tq, Tk, is_causal) - i0) // 4 * 4
        if r0 < n:
            _add_products4(out, j, wt, rows, r0, n, out.shape[1])


# ---- heads as rows -----------------------------------------------------
# A (B, NH, T, HS) operand reaches the kernel as `rows` (N, HS), a C-contiguous view of
# its memory, and the row steps (sb, sh, st) of its first three dims: row t of head
# (b, h) is rows[b*sb + h*sh + t*st] (the steps of all operands travel as one int array,
# as Numba's parallel loop takes no tuples). A view of qkv, an output written into merged
# heads, a KV cache's first positions and a plain contiguous array are all rows of HS
# numbers at whole-row steps, so they are one Numba type (one compile per dtype), and
# the copies between them and the scratch run along contiguous rows in SIMD (as
# 'A'-layout 4-D arrays, the copies were scalar; docs/kernels/attention.md).

@njit
def head_rows(rows, steps, b, h):
    """Head (b, h) of an operand, rows (N, HS) and steps (sb, sh, st), as (rows, first row,
    row step)."""
    return rows, b * steps[0] + h * steps[1], steps[2]


@njit(fastmath=FAST, **NOALIAS)
def load(dst, head, n, scale):
    """dst[:n, :HS] = scale * the first n rows of head; dst is zero-padded scratch."""
    rows, first, step = head
    for t in range(n):
        src = rows[first + t * step]                # (HS,)
        for c in range(src.shape[0]):
            dst[t, c] = scale * src[c]


@njit(fastmath=FAST, **NOALIAS)
def load_t(dst, head, n):
    """dst[:HS, :n] = the first n rows of head, transposed. Four rows at a time: each
    row of dst gets four neighbouring numbers per visit, not one."""
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


@njit(fastmath=FAST, **NOALIAS)
def store(head, t0, src, n, scales):
    """Rows t0 .. t0+n-1 of head = scales[t] * src[t, :HS]; scales (n,)."""
    rows, first, step = head
    for t in range(n):
        dst, w = rows[first + (t0 + t) * step], scales[t]  # (HS,)
        for c in range(dst.shape[0]):
            dst[c] = w * src[t, c]


@njit(fastmath=FAST)
def row_dots(D, a, b, n):
    """D[t] = a_t . b_t for the first n rows of heads a and b."""
    ra, fa, sa = a
    rb, fb, sb = b
    for t in range(n):
        x, y = ra[fa + t * sa], rb[fb + t * sb]     # (HS,)
        acc = D.dtype.type(0)
        for c in range(x.shape[0]):
            acc += x[c] * y[c]
        D[t] = acc


@njit(fastmath=FAST)
def softmax_row(si, jend, k_end, bi, has_bias, ki, has_keep, dropout_scale):
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
        e = poly_exp(si[j] - m)
        si[j] = e
        l += e
    si[jend:k_end] = 0                              # keys this row does not see
    if has_keep:                                    # pd = p * keep * dropout_scale
        for j in range(jend):
            si[j] *= ki[j] * dropout_scale
    return t(m + math.log(l)), t(1 / l)


@njit(fastmath=FAST)
def softmax_grad_row(si, gi, jend, k_end, lse, D, bi, has_bias, ki, has_keep, dropout_scale):
    """One row in place: si (Tkp,) scores -> pd, gi (Tkp,) dpd -> ds, on the keys
    [0, jend) the row sees; both 0 on [jend, k_end). D = sum_j p_j dp_j = dout . out."""
    if has_bias:
        for j in range(jend):
            si[j] += bi[j]
    for j in range(jend):
        p = poly_exp(si[j] - lse)                        # p = softmax(s), recomputed from lse
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


BLOCK_QUERIES = 64    # queries per block: scores (64, Tk) stay in L2 between the three passes
