"""Attention for a few queries against a KV cache, compiled (decoding a token at a time).

The blocked kernel (kernels/numba/attention.py) copies every cached key and value of
a head into scratch, which for one query is more work than the products themselves.
Here each score is one dot product read straight from the rows of k, and each output
row a weighted sum of the rows of v, with no copy.
"""
import numpy as np

from ._jit import njit
from .attention_blocks import FAST, head_rows, key_end, softmax_row


@njit(fastmath=FAST)
def _decode_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                 dropout_scale, out, lse):
    """Head bh = b * NH + h for a few queries; arguments as attention.py's _forward_head."""
    b, h = bh // dims[1], bh % dims[1]
    Tq, Tk = dims[2], dims[3]
    qr, qf, qs = head_rows(q, steps[0], b, h)
    kr, kf, ks = head_rows(k, steps[1], b, h)
    vr, vf, vs = head_rows(v, steps[2], b, h)
    orows, of, os = head_rows(out, steps[3], b, h)
    bh = bias[min(b, bias.shape[0] - 1), min(h, bias.shape[1] - 1)]  # (mTq, Tk)
    keeph = keep[b, h] if has_keep else keep[0, 0]  # (Tq, Tk)
    HS = q.shape[1]
    s = np.empty(max(Tk, 1), q.dtype)               # (Tk,) one query's scores, then e
    acc = np.empty(HS, q.dtype)                     # (HS,) sum_j e_j v_j
    for i in range(Tq):
        qi, jend = qr[qf + i * qs], key_end(i, Tq, Tk, is_causal)  # qi (HS,)
        for j in range(jend):                       # s = scale * q . k
            kj = kr[kf + j * ks]                    # (HS,)
            d = q.dtype.type(0)
            for c in range(HS):
                d += qi[c] * kj[c]
            s[j] = scale * d
        lse[b, h, i], inv_l = softmax_row(s, jend, jend, bh[min(i, bh.shape[0] - 1)], has_bias,
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
def decode_heads(dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                 dropout_scale, out, lse):
    for bh in range(dims[0] * dims[1]):
        _decode_head(bh, dims, steps, q, k, v, bias, has_bias, is_causal, scale, keep, has_keep,
                     dropout_scale, out, lse)
