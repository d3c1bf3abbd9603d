"""Transformer parts: multi-head self-attention (with a KV cache), the MLP, the block."""
import numpy as np

from ..tensor import Tensor
from . import functional as F
from .layers import GELU, Dropout, LayerNorm, Linear, linear_then_gelu
from .module import Module


class KVCache:
    """Keys and values of the positions seen so far, for one attention layer.

    Preallocated to `capacity` positions so a step appends in place:
    k, v are (B, NH, capacity, HS); the first `length` positions are filled.
    """

    def __init__(self, capacity):
        self.capacity, self.length = capacity, 0
        self.k = self.v = None

    def update(self, k, v):
        """Append k, v (B, NH, T, HS); return all keys and values so far (B, NH, length, HS)."""
        B, NH, T, HS = k.shape
        if self.k is None:
            self.k = np.empty((B, NH, self.capacity, HS), dtype=k.dtype)
            self.v = np.empty_like(self.k)
        if self.length + T > self.capacity:
            raise ValueError(f"KVCache: {self.length} + {T} positions exceed its capacity {self.capacity}")
        self.k[:, :, self.length:self.length + T] = k.data
        self.v[:, :, self.length:self.length + T] = v.data
        self.length += T
        return Tensor(self.k[:, :, :self.length]), Tensor(self.v[:, :, :self.length])

    def reset(self):
        self.length = 0


def split_heads(x, NH):
    """(B, T, C) -> (B, NH, T, HS)"""
    B, T, C = x.shape
    return x.reshape(B, T, NH, C // NH).transpose(1, 2)


def merge_heads(y):
    """(B, NH, T, HS) -> (B, T, C)"""
    B, NH, T, HS = y.shape
    return y.transpose(1, 2).reshape(B, T, NH * HS)


class SelfAttention(Module):
    """Multi-head self-attention with fused q, k, v projections (GPT-2's c_attn, c_proj).

    causal=True masks future positions (GPT); attn_mask (broadcastable to
    (B, NH, T, T), True = attend) masks padding (BERT). With a KVCache the new
    positions attend to every cached one (generation, under no_grad).
    """

    def __init__(self, n_embd, n_head, bias=True, dropout=0.0, causal=True):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"SelfAttention: n_embd {n_embd} is not divisible by n_head {n_head}")
        self.n_embd, self.n_head, self.causal, self.dropout = n_embd, n_head, causal, dropout
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = Dropout(dropout)

    def forward(self, x, attn_mask=None, kv_cache=None):
        qkv = self.c_attn(x)  # (B, T, 3C)
        dropout_p = self.dropout if self.training else 0.0
        if kv_cache is None:  # the kernel reads the heads out of qkv and writes y merged
            y = F.qkv_attention(qkv, self.n_head, attn_mask=attn_mask, dropout_p=dropout_p,
                                is_causal=self.causal)  # (B, T, C)
        else:
            q, k, v = (split_heads(t, self.n_head) for t in qkv.split(self.n_embd, dim=2))
            k, v = kv_cache.update(k, v)  # (B, NH, T_past + T, HS)
            y = merge_heads(F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, is_causal=self.causal, dropout_p=dropout_p))
        return self.resid_dropout(self.c_proj(y))

    def extra_repr(self):
        return f"n_embd={self.n_embd}, n_head={self.n_head}, causal={self.causal}"


class MLP(Module):
    """Linear(C, 4C) -> GELU -> Linear(4C, C) -> dropout, GPT-2's c_fc and c_proj."""

    def __init__(self, n_embd, hidden=None, bias=True, dropout=0.0, approximate="tanh"):
        super().__init__()
        hidden = hidden or 4 * n_embd
        self.c_fc = Linear(n_embd, hidden, bias=bias)
        self.act = GELU(approximate)
        self.c_proj = Linear(hidden, n_embd, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(linear_then_gelu(self.c_fc, self.act, x)))


class Block(Module):
    """One pre-LN transformer layer (GPT-2): x + attn(ln_1(x)), then x + mlp(ln_2(x)).
    BERT's post-LN layer keeps Hugging Face's module names, so it lives in models/bert."""

    def __init__(self, n_embd, n_head, bias=True, dropout=0.0, causal=True, layer_norm_eps=1e-5, hidden=None,
                 approximate="tanh"):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, eps=layer_norm_eps, bias=bias)
        self.attn = SelfAttention(n_embd, n_head, bias=bias, dropout=dropout, causal=causal)
        self.ln_2 = LayerNorm(n_embd, eps=layer_norm_eps, bias=bias)
        self.mlp = MLP(n_embd, hidden=hidden, bias=bias, dropout=dropout, approximate=approximate)

    def forward(self, x, attn_mask=None, kv_cache=None):
        x = x + self.attn(self.ln_1(x), attn_mask, kv_cache)
        return x + self.mlp(self.ln_2(x))
