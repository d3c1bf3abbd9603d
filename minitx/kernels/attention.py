"""Scaled dot-product attention, fused: softmax(q k^T * scale + mask) v. The NumPy twin,
the Functions and the public functions.

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

Dropout (dropout_p > 0) zeroes probabilities with draws from
minitx.random.uniform (the seeded generator, or one per sample in training) and scales the rest by 1 / (1 - dropout_p);
as in torch, it applies whenever dropout_p > 0 (pass 0.0 in eval).

What the forward saves for backward (FlashAttention's choice): the inputs, the
output, and the row log-sum-exp lse = max + log(sum exp) (B, NH, Tq); the
backward recomputes p = exp(scale q.k + bias - lse). Saving p instead would
cost B*NH*Tq*Tk numbers, 12.6 MB per layer at B=8, NH=6, T=256 (float32), to
save one more q k^T product in the backward. With dropout the keep mask
(B, NH, Tq, Tk) is saved too. Under no_grad nothing is kept. The derivation is
in docs/kernels/attention.md; the compiled kernels are kernels/numba/attention.py
(training, blocked) and kernels/numba/attention_decode.py (a few queries
against a KV cache).
"""
import numpy as np

from ..autograd import Function, is_grad_enabled
from ..backend import dispatch
from ..random import uniform
from ..tensor import Tensor
from .numba import attention as compiled


def _causal_allowed(Tq, Tk):
    """(Tq, Tk) bool: query i (the last Tq of Tk positions) may see key j <= i + Tk - Tq."""
    return np.tril(np.ones((Tq, Tk), dtype=np.bool_), k=Tk - Tq)


# ---- NumPy twin ------------------------------------------------------------------
# q (B, NH, Tq, HS); k, v (B, NH, Tk, HS); bias (mB, mNH, mTq, Tk) additive, broadcast
# over B, NH and Tq, or None; keep (B, NH, Tq, Tk) bool, dropout's mask, or None.
# `out` and `grads` name arrays to write the results into (views of merged heads, say),
# as NumPy's out= does; without them the results are new arrays.

def _scores(q, k, bias, is_causal, scale):
    """s = scale * q k^T + bias (B, NH, Tq, Tk), -inf where causality hides a key."""
    s = scale * (q @ k.swapaxes(-1, -2))            # (B, NH, Tq, Tk)
    if bias is not None:
        s = s + bias                                # -inf where a key is masked out
    if is_causal:
        s = np.where(_causal_allowed(q.shape[2], k.shape[2]), s, -np.inf)
    return s


def attention_forward_numpy(q, k, v, scale, bias=None, is_causal=False, keep=None,
                            dropout_scale=1.0, out=None):
    """softmax(scale q k^T + bias) v, dropout on the probabilities -> out (B, NH, Tq, HS),
    lse (B, NH, Tq) the row log-sum-exp, +inf for a row with no key."""
    s = _scores(q, k, bias, is_causal, scale)       # (B, NH, Tq, Tk)
    m = s.max(axis=-1, keepdims=True)               # (B, NH, Tq, 1)
    m = np.where(np.isneginf(m), 0, m)              # a row with no key: avoid -inf - -inf
    e = np.exp(s - m)                               # (B, NH, Tq, Tk)
    l = e.sum(axis=-1, keepdims=True)               # (B, NH, Tq, 1); 0 for a row with no key
    empty = l == 0
    l = np.where(empty, 1, l)
    p = e / l                                       # (B, NH, Tq, Tk); a row with no key stays 0
    pd = p if keep is None else p * keep * dropout_scale  # dropout on the probabilities
    if out is None:
        out = np.empty(q.shape, q.dtype)
    out[...] = pd @ v                               # (B, NH, Tq, HS)
    lse = np.where(empty, np.inf, m + np.log(l))    # (B, NH, Tq, 1)
    return out, lse[..., 0].astype(q.dtype)


def attention_backward_numpy(dout, q, k, v, out, lse, scale, bias=None, is_causal=False,
                             keep=None, dropout_scale=1.0, grads=None):
    """dout (B, NH, Tq, HS) -> dq (B, NH, Tq, HS), dk, dv (B, NH, Tk, HS); out and lse are
    the forward's."""
    dq, dk, dv = grads if grads is not None else (np.empty(a.shape, q.dtype) for a in (q, k, v))
    # p = exp(s - lse) is the forward's softmax, recomputed (0 where s = -inf or lse = inf)
    p = np.exp(_scores(q, k, bias, is_causal, scale) - lse[..., None])  # (B, NH, Tq, Tk)
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
    return dq, dk, dv


attention_forward = dispatch(attention_forward_numpy, compiled.attention_forward)
attention_backward = dispatch(attention_backward_numpy, compiled.attention_backward)


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
        u = uniform((B, NH, Tq, k.shape[2]))
        keep = u >= dropout_p                       # (B, NH, Tq, Tk)
        dropout_scale = 1 / (1 - dropout_p) if dropout_p < 1 else 0.0
    _, lse = attention_forward(q, k, v, scale, bias, is_causal, keep, dropout_scale, out=out)
    if is_grad_enabled() and any(ctx.needs_input_grad):
        ctx.save_for_backward(q, k, v, bias, keep, out, lse)
        ctx.is_causal, ctx.scale, ctx.dropout_scale = is_causal, scale, dropout_scale


def _attend_backward(ctx, dout, dq, dk, dv):
    """Writes dq, dk, dv (views into the gradients the caller returns) from dout."""
    q, k, v, bias, keep, out, lse = ctx.saved_tensors
    attention_backward(dout, q, k, v, out, lse, ctx.scale, bias, ctx.is_causal, keep,
                       ctx.dropout_scale, grads=(dq, dk, dv))


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
