"""Scaled dot-product attention, fused: softmax(q k^T * scale + mask) v.

Shapes: q (B, NH, Tq, HS); k, v (B, NH, Tk, HS); out (B, NH, Tq, HS).
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

What the forward saves for backward, and why: the probabilities
p (B, NH, Tq, Tk) before dropout, and the dropout keep mask (B, NH, Tq, Tk).
The alternative, FlashAttention's, saves only the row log-sum-exp (B, NH, Tq)
and recomputes p = exp(scale * q . k + bias - lse) in backward: T times less
memory, but one more (Tq, Tk, HS) product and Tq * Tk more exp calls. Per head
at T=256, HS=64 that product alone takes about 105 us of a 400 us backward on
this machine, while p costs 12.6 MB per layer at B=8, NH=6 (float32), which a
model this size can spare. Under no_grad (sampling with a KV cache) nothing is
kept. The derivation is in docs/kernels/attention.md.
"""
import numba
import numpy as np
from numba import prange

from ..autograd import Function, is_grad_enabled
from ..backend import dispatch
from ..ops import contiguous
from ..random import default_generator
from ..tensor import Tensor
from ._jit import njit
from ._math import exp

_NO_BIAS = {np.dtype(t): np.zeros((1, 1, 1, 1), t) for t in (np.float32, np.float64)}
_NO_KEEP = np.ones((1, 1, 1, 1), np.bool_)


def _causal_allowed(Tq, Tk):
    """(Tq, Tk) bool: query i (the last Tq of Tk positions) may see key j <= i + Tk - Tq."""
    return np.tril(np.ones((Tq, Tk), dtype=np.bool_), k=Tk - Tq)


# ---- NumPy twin ------------------------------------------------------------------

def attention_forward_numpy(q, k, v, bias, is_causal, scale, keep, dropout_scale):
    """out (B, NH, Tq, HS) and p (B, NH, Tq, Tk); bias (mB, mNH, mTq, Tk) or None, keep or None."""
    Tq, Tk = q.shape[2], k.shape[2]
    s = scale * (q @ k.swapaxes(-1, -2))            # (B, NH, Tq, Tk)
    if bias is not None:
        s = s + bias                                # -inf where a key is masked out
    if is_causal:
        s = np.where(_causal_allowed(Tq, Tk), s, -np.inf)
    m = s.max(axis=-1, keepdims=True)               # (B, NH, Tq, 1)
    m = np.where(np.isneginf(m), 0, m)              # a row with no key: avoid -inf - -inf
    e = np.exp(s - m)                               # (B, NH, Tq, Tk)
    l = e.sum(axis=-1, keepdims=True)               # (B, NH, Tq, 1); 0 for a row with no key
    p = e / np.where(l == 0, 1, l)                  # (B, NH, Tq, Tk); a row with no key stays 0
    pd = p if keep is None else p * keep * dropout_scale  # dropout on the probabilities
    out = pd @ v                                    # (B, NH, Tq, HS)
    return out.astype(q.dtype, copy=False), p.astype(q.dtype, copy=False)


def attention_backward_numpy(q, k, v, is_causal, scale, keep, dropout_scale, p, out, dout):
    """dq (B, NH, Tq, HS), dk and dv (B, NH, Tk, HS) from dout (B, NH, Tq, HS)."""
    pd = p if keep is None else p * keep * dropout_scale  # (B, NH, Tq, Tk)
    # out = pd @ v
    dv = pd.swapaxes(-1, -2) @ dout                 # (B, NH, Tk, HS)
    dpd = dout @ v.swapaxes(-1, -2)                 # (B, NH, Tq, Tk)
    # pd = p * keep * dropout_scale
    dp = dpd if keep is None else dpd * keep * dropout_scale
    # p = softmax(s) along a row: ds_ij = p_ij (dp_ij - sum_j' p_ij' dp_ij'); that row sum
    # equals sum_j pd_ij dpd_ij = dout_i . out_i, which needs no (Tq, Tk) product
    D = np.sum(dout * out, axis=-1, keepdims=True)  # (B, NH, Tq, 1)
    ds = p * (dp - D)                               # (B, NH, Tq, Tk); 0 where p is 0 (masked)
    # s = scale * q @ k^T + bias
    dq = scale * (ds @ k)                           # (B, NH, Tq, HS)
    dk = scale * (ds.swapaxes(-1, -2) @ q)          # (B, NH, Tk, HS)
    return tuple(g.astype(q.dtype, copy=False) for g in (dq, dk, dv))


# ---- Numba -----------------------------------------------------------------------
# One task per (batch, head), split over threads with prange: each task owns its
# rows of out, p, dq, dk and dv, so no two threads add into the same number, and
# every number is summed in the same order whatever the thread count: runs are
# bit-identical. Causal rows stop at their last visible key, so the masked half of
# the (Tq, Tk) square costs nothing.
# The work of one head is a function of its own: the body of Numba's parallel loop
# does not vectorize its inner loops, a plain function called from it does. fastmath
# is limited to reassoc and contract, so that sums run in SIMD lanes (in the same
# order every run) while -inf and NaN keep their meaning (no ninf, nnan).
_FAST = {"reassoc", "contract"}


@njit(fastmath=_FAST)
def _dot(a, b):
    """a . b for two rows of HS."""
    acc = a.dtype.type(0)
    for d in range(a.shape[0]):
        acc += a[d] * b[d]
    return acc


@njit(fastmath=_FAST)
def _add_rows(out, o, w, rows, start, end):
    """out[o] += sum over r in [start, end) of w[r] * rows[r]; out (., HS), w (R,), rows (R, HS).

    Four rows per pass over out[o]: one load and store of it feeds four multiply-adds.
    """
    HS = rows.shape[1]
    r = start
    while r + 4 <= end:
        w0, w1, w2, w3 = w[r], w[r + 1], w[r + 2], w[r + 3]
        for d in range(HS):
            x0, x1, x2, x3 = rows[r, d], rows[r + 1, d], rows[r + 2, d], rows[r + 3, d]
            out[o, d] += w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3
        r += 4
    while r < end:
        for d in range(HS):
            out[o, d] += w[r] * rows[r, d]
        r += 1


@njit(fastmath=_FAST)
def _add_rows2(out, o, w, u, rows, start, end):
    """_add_rows into out[o] with weights w and into out[o + 1] with weights u at once:
    each of the four rows read feeds both (a 2 x 4 block, about 30% faster measured)."""
    HS = rows.shape[1]
    r = start
    while r + 4 <= end:
        w0, w1, w2, w3 = w[r], w[r + 1], w[r + 2], w[r + 3]
        u0, u1, u2, u3 = u[r], u[r + 1], u[r + 2], u[r + 3]
        for d in range(HS):
            x0, x1, x2, x3 = rows[r, d], rows[r + 1, d], rows[r + 2, d], rows[r + 3, d]
            out[o, d] += w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3
            out[o + 1, d] += u0 * x0 + u1 * x1 + u2 * x2 + u3 * x3
        r += 4
    while r < end:
        for d in range(HS):
            out[o, d] += w[r] * rows[r, d]
            out[o + 1, d] += u[r] * rows[r, d]
        r += 1


@njit
def _key_end(i, Tq, Tk, is_causal):
    """Query i sees keys [0, _key_end); the queries are the last Tq of Tk positions."""
    return min(Tk, i + Tk - Tq + 1) if is_causal else Tk


@njit
def _query_start(j, Tq, Tk, is_causal):
    """Key j is seen by queries [_query_start, Tq)."""
    return max(0, j - (Tk - Tq)) if is_causal else 0


@njit(fastmath=_FAST)
def _add_w_rows(out, w, rows, is_causal):
    """out (Tq, HS) += w (Tq, Tk) @ rows (Tk, HS), two rows of out at a time.

    Row i of w must be 0 past the last key query i sees (so rows i and i + 1 can
    share query i + 1's range)."""
    Tq, Tk = w.shape
    for i in range(0, Tq - 1, 2):
        _add_rows2(out, i, w[i], w[i + 1], rows, 0, _key_end(i + 1, Tq, Tk, is_causal))
    if Tq % 2:
        _add_rows(out, Tq - 1, w[Tq - 1], rows, 0, _key_end(Tq - 1, Tq, Tk, is_causal))


@njit(fastmath=_FAST)
def _add_wt_rows(out, w, rows, is_causal):
    """out (Tk, HS) += w^T (Tk, Tq) @ rows (Tq, HS), two rows of out at a time.

    Column j of w must be 0 above the first query that sees key j."""
    Tq, Tk = w.shape
    for j in range(0, Tk - 1, 2):
        _add_rows2(out, j, w[:, j], w[:, j + 1], rows, _query_start(j, Tq, Tk, is_causal), Tq)
    if Tk % 2:
        _add_rows(out, Tk - 1, w[:, Tk - 1], rows, _query_start(Tk - 1, Tq, Tk, is_causal), Tq)


@njit(fastmath=_FAST)
def _forward_head(qh, kh, vh, bh, has_bias, is_causal, scale, keeph, has_keep, dropout_scale,
                  ph, oh):
    Tq, Tk = ph.shape                               # ph: (Tq, Tk) zeros in, probabilities out
    mTq = bh.shape[0]                               # bh: (mTq, Tk) bias; keeph: (Tq, Tk)
    pd = np.zeros((Tq, Tk), dtype=qh.dtype) if has_keep else ph  # (Tq, Tk) p after dropout
    for i in range(Tq):                             # qh, oh: (Tq, HS); kh, vh: (Tk, HS)
        jend = _key_end(i, Tq, Tk, is_causal)
        m = qh.dtype.type(-np.inf)                  # typed, so float32 math stays float32
        for j in range(jend):                       # s = scale * q . k + bias
            x = scale * _dot(qh[i], kh[j])
            if has_bias:
                x += bh[min(i, mTq - 1), j]
            ph[i, j] = x
            m = max(m, x)
        if m == -np.inf:                            # no key left: p and out rows stay 0
            ph[i, :] = 0
            continue
        l = qh.dtype.type(0)
        for j in range(jend):                       # p = exp(s - max) / sum
            e = exp(ph[i, j] - m)
            ph[i, j] = e
            l += e
        inv_l = 1 / l
        for j in range(jend):
            ph[i, j] *= inv_l
            if has_keep:
                pd[i, j] = ph[i, j] * keeph[i, j] * dropout_scale
    _add_w_rows(oh, pd, vh, is_causal)              # out = pd @ v


@njit
def _forward_task(bh, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep, dropout_scale,
                  p, out):
    """Head bh = b * NH + h: q, out (B, NH, Tq, HS); k, v (B, NH, Tk, HS); p (B, NH, Tq, Tk);
    bias (mB, mNH, mTq, Tk) and keep (B, NH, Tq, Tk), or (1, 1, 1, 1) dummies."""
    b, h = bh // q.shape[1], bh % q.shape[1]
    keeph = keep[b, h] if has_keep else keep[0, 0]
    bh_bias = bias[min(b, bias.shape[0] - 1), min(h, bias.shape[1] - 1)]
    _forward_head(q[b, h], k[b, h], v[b, h], bh_bias, has_bias, is_causal, scale, keeph, has_keep,
                  dropout_scale, p[b, h], out[b, h])


@njit(parallel=True)
def _forward_threads(*args):
    for bh in prange(args[0].shape[0] * args[0].shape[1]):
        _forward_task(np.int64(bh), *args)          # prange counts in uint64; int64 is the
                                                    # type _forward_serial compiled already


@njit
def _forward_serial(*args):
    for bh in range(args[0].shape[0] * args[0].shape[1]):
        _forward_task(bh, *args)


@njit(fastmath=_FAST)
def _backward_head(qh, kh, vh, is_causal, scale, keeph, has_keep, dropout_scale, ph, oh, doh,
                   dqh, dkh, dvh):
    Tq, Tk = ph.shape                               # ph, keeph: (Tq, Tk)
    ds = np.zeros((Tq, Tk), dtype=qh.dtype)         # (Tq, Tk) d loss / d s; 0 where p is 0
    pd = np.zeros((Tq, Tk), dtype=qh.dtype) if has_keep else ph  # (Tq, Tk) p after dropout
    for i in range(Tq):                             # qh, oh, doh, dqh: (Tq, HS)
        D = _dot(doh[i], oh[i])                     # sum_j p_ij dp_ij = dout_i . out_i
        for j in range(_key_end(i, Tq, Tk, is_causal)):
            dp = _dot(doh[i], vh[j])                # out = pd @ v: dpd_ij = dout_i . v_j
            if has_keep:                            # pd = p * keep * dropout_scale
                dp *= keeph[i, j] * dropout_scale
                pd[i, j] = ph[i, j] * keeph[i, j] * dropout_scale
            ds[i, j] = scale * ph[i, j] * (dp - D)  # p = softmax(s), s = scale * q . k + bias
    _add_w_rows(dqh, ds, kh, is_causal)             # dq = ds @ k       kh, vh, dkh, dvh: (Tk, HS)
    _add_wt_rows(dkh, ds, qh, is_causal)            # dk = ds^T @ q
    _add_wt_rows(dvh, pd, doh, is_causal)           # dv = pd^T @ dout


@njit
def _backward_task(bh, q, k, v, is_causal, scale, keep, has_keep, dropout_scale, p, out, dout,
                   dq, dk, dv):
    """Head bh = b * NH + h: q, out, dout, dq (B, NH, Tq, HS); k, v, dk, dv (B, NH, Tk, HS)."""
    b, h = bh // q.shape[1], bh % q.shape[1]
    keeph = keep[b, h] if has_keep else keep[0, 0]
    _backward_head(q[b, h], k[b, h], v[b, h], is_causal, scale, keeph, has_keep, dropout_scale,
                   p[b, h], out[b, h], dout[b, h], dq[b, h], dk[b, h], dv[b, h])


@njit(parallel=True)
def _backward_threads(*args):
    for bh in prange(args[0].shape[0] * args[0].shape[1]):
        _backward_task(np.int64(bh), *args)         # (see _forward_threads)


@njit
def _backward_serial(*args):
    for bh in range(args[0].shape[0] * args[0].shape[1]):
        _backward_task(bh, *args)


# Threads pay from about 32M multiply-adds of q k^T up. Serial / threads time of
# causal forward+backward on 2 cores, alternated and interleaved over 40 s (load
# 1.2): 4M 0.85, 16M 1.00, 64M 1.38, 192M 1.39. A workqueue launch costs 60 to
# 100 us and the second core is not always free (docs/kernels/threads.md).
# (The small shape B=2, NH=2, T=32, HS=32 does 130K; `minitx train gpt`'s default
# B=32, NH=4, T=64, HS=32 16M; the GPT benchmark shape B=8, NH=6, T=256, HS=64 192M.)
_THREADS_MIN_MULADDS = 1 << 25


def _threads_pay(q, k):
    B, NH, Tq, HS = q.shape
    muladds = B * NH * Tq * k.shape[2] * HS         # of q k^T alone
    return B * NH > 1 and numba.get_num_threads() > 1 and muladds >= _THREADS_MIN_MULADDS


def _cw(*arrays):
    """The arrays as writable C-contiguous ones, copying only those that are not: a read-only
    array (a broadcast view, say) is another type to Numba and would cost another compile."""
    return [np.require(a, requirements="CW") for a in arrays]


def attention_forward_numba(q, k, v, bias, is_causal, scale, keep, dropout_scale):
    """The Numba kernel, with the twin's signature (None becomes a flag and a dummy)."""
    t = q.dtype.type
    q, k, v = _cw(q, k, v)
    out = np.zeros_like(q)                          # (B, NH, Tq, HS)
    p = np.zeros(q.shape[:3] + k.shape[2:3], dtype=q.dtype)  # (B, NH, Tq, Tk)
    run = _forward_threads if _threads_pay(q, k) else _forward_serial
    run(q, k, v, _NO_BIAS[q.dtype] if bias is None else bias, bias is not None, is_causal, t(scale),
        _NO_KEEP if keep is None else keep, keep is not None, t(dropout_scale), p, out)
    return out, p


def attention_backward_numba(q, k, v, is_causal, scale, keep, dropout_scale, p, out, dout):
    t = q.dtype.type
    q, k, v, p, out, dout = _cw(q, k, v, p, out, dout)
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    run = _backward_threads if _threads_pay(q, k) else _backward_serial
    run(q, k, v, is_causal, t(scale), _NO_KEEP if keep is None else keep, keep is not None,
        t(dropout_scale), p, out, dout, dq, dk, dv)
    return dq, dk, dv


attention_forward = dispatch(attention_forward_numpy, attention_forward_numba)
attention_backward = dispatch(attention_backward_numpy, attention_backward_numba)


# ---- autograd --------------------------------------------------------------------

def _bias_from_mask(mask, dtype, shape):
    """A boolean or additive mask as an additive (mB, mNH, mTq, Tk) array of `dtype`.

    Broadcast dims of size 1 stay 1 (the kernel reuses that slice); the key dim is
    filled out to Tk so that a row of the bias is a plain contiguous row.
    """
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    try:
        fits = mask.ndim <= 4 and np.broadcast_shapes(mask.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} does not "
                         f"broadcast to (B, NH, Tq, Tk) = {shape}")
    mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    if mask.dtype == np.bool_:
        bias = np.where(mask, 0, -np.inf).astype(dtype)  # True = the key takes part
    elif np.issubdtype(mask.dtype, np.floating):
        bias = mask.astype(dtype)
    else:
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or float, "
                        f"not {mask.dtype}")
    out = np.empty(mask.shape[:3] + (shape[3],), dtype=dtype)  # (mB, mNH, mTq, Tk), writable
    out[...] = bias
    return out


class ScaledDotProductAttention(Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, is_causal, scale, dropout_p):
        keep, dropout_scale = None, 1.0
        if dropout_p > 0:
            B, NH, Tq, _ = q.shape
            u = default_generator().random((B, NH, Tq, k.shape[2]), dtype=np.float32)
            keep = u >= dropout_p                   # (B, NH, Tq, Tk)
            dropout_scale = 1 / (1 - dropout_p) if dropout_p < 1 else 0.0
        out, p = attention_forward(q, k, v, bias, is_causal, scale, keep, dropout_scale)
        if is_grad_enabled() and any(ctx.needs_input_grad):
            ctx.save_for_backward(q, k, v, p, out, keep)
            ctx.is_causal, ctx.scale, ctx.dropout_scale = is_causal, scale, dropout_scale
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, p, out, keep = ctx.saved_tensors
        dout = np.ascontiguousarray(grad, dtype=q.dtype)  # (B, NH, Tq, HS)
        dq, dk, dv = attention_backward(q, k, v, ctx.is_causal, ctx.scale, keep, ctx.dropout_scale,
                                        p, out, dout)
        return dq, dk, dv, None, None, None, None


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
    if not 0 <= dropout_p <= 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], "
                         f"got {dropout_p}")
    B, NH, Tq, HS = q.shape
    shape = (B, NH, Tq, k.shape[2])
    bias = None if attn_mask is None else _bias_from_mask(attn_mask, q.dtype, shape)
    scale = 1 / np.sqrt(HS) if scale is None else float(scale)
    q, k, v = (contiguous(t) for t in (q, k, v))
    return ScaledDotProductAttention.apply(q, k, v, bias, bool(is_causal), scale, float(dropout_p))
