"""Transformer parts built from one BlockConfig: multi-head self-attention (with a KV
cache and rotary positions), the MLP, GPT-2's pre-LN block; and ForwardContext, what
one forward pass hands every layer.

A new variant touches two places: its entry in NORMS, ACTIVATIONS or the attention
(a position scheme), and the model config that names it.
"""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .layers import GELU, Dropout, LayerNorm, Linear, linear_then_gelu
from .module import Module

# name -> the module, built from a BlockConfig
NORMS = {"layernorm": lambda c: LayerNorm(c.n_embd, eps=c.norm_eps, bias=c.bias)}
ACTIVATIONS = {"gelu_tanh": lambda c: GELU("tanh"), "gelu": lambda c: GELU("none")}
# "learned" and "sinusoidal" are added to the token embeddings by the model; "rotary"
# rotates q and k inside every attention layer.
POSITIONS = ("learned", "sinusoidal", "rotary")


@dataclass
class BlockConfig:
    """The named choices a block is built from; the defaults are GPT-2's."""
    n_embd: int
    n_head: int
    norm: str = "layernorm"          # one of NORMS
    position: str = "learned"        # one of POSITIONS
    activation: str = "gelu_tanh"    # one of ACTIVATIONS
    bias: bool = True
    dropout: float = 0.0
    causal: bool = True
    norm_eps: float = 1e-5
    hidden: Optional[int] = None     # MLP width; None means 4 * n_embd
    rope_base: float = 10000.0       # rotary: inv_freq = 1 / rope_base^(2i / HS)

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"BlockConfig: n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        for name, choices in (("norm", NORMS), ("position", POSITIONS), ("activation", ACTIVATIONS)):
            if getattr(self, name) not in choices:
                raise ValueError(f"BlockConfig: {name} {getattr(self, name)!r} is not one of {sorted(choices)}")
        if self.position == "rotary" and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"BlockConfig: rotary positions need an even head size, got "
                             f"n_embd {self.n_embd} / n_head {self.n_head} = {self.n_embd // self.n_head}")


@dataclass
class ForwardContext:
    """What one forward pass hands every layer, instead of one argument each."""
    attn_mask: Optional[np.ndarray] = None     # broadcastable to (B, NH, Tq, Tk), True = attend
    kv_caches: Optional[list] = None           # one KVCache per layer (generation), by layer_idx
    position_ids: Optional[np.ndarray] = None  # (T,) or (B, T), read by rotary attention
    output_attentions: bool = False            # each attention layer appends its probabilities
    attentions: list = field(default_factory=list)  # (B, NH, Tq, Tk) Tensors, one per layer


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


def attention_probs(q, k, attn_mask=None, is_causal=False):
    """softmax(q k^T / sqrt(HS) + mask) (B, NH, Tq, Tk) as a Tensor with no gradient, for
    reading: computed plainly in NumPy from q (B, NH, Tq, HS) and k (B, NH, Tk, HS), with
    the fused kernel's conventions (a boolean mask, True = attend, or an additive one;
    causal queries are the last Tq positions; a row with no key is all zeros). They are
    the probabilities before attention dropout (which only training applies)."""
    q, k = (t.data if isinstance(t, Tensor) else np.asarray(t) for t in (q, k))
    Tq, Tk = q.shape[2], k.shape[2]
    s = (q @ k.swapaxes(-1, -2)) * q.dtype.type(1 / np.sqrt(q.shape[-1]))  # (B, NH, Tq, Tk)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        s = np.where(mask, s, -np.inf) if mask.dtype == np.bool_ else s + mask
    if is_causal:
        s = np.where(np.tril(np.ones((Tq, Tk), np.bool_), k=Tk - Tq), s, -np.inf)
    m = s.max(axis=-1, keepdims=True)                     # (B, NH, Tq, 1)
    e = np.exp(s - np.where(np.isneginf(m), 0, m))         # exp(-inf) = 0 at every hidden key
    total = e.sum(axis=-1, keepdims=True)
    return Tensor(e / np.where(total == 0, 1, total))


class SelfAttention(Module):
    """Multi-head self-attention with fused q, k, v projections (GPT-2's c_attn, c_proj).

    config.causal masks future positions (GPT); ctx.attn_mask masks padding. With
    config.position "rotary" q and k are rotated by ctx.position_ids (default: the
    positions after the cached ones) before attending, and the cache keeps the rotated
    keys. With a KVCache the new positions attend to every cached one (generation,
    under no_grad). With ctx.output_attentions the layer appends its probabilities to
    ctx.attentions, recomputed in NumPy from the same q and k (see attention_probs)
    beside the fused kernel, which runs as without the flag.
    """

    def __init__(self, config, layer_idx=0):
        super().__init__()
        c = self.config = config
        self.layer_idx = layer_idx
        self.c_attn = Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.resid_dropout = Dropout(c.dropout)

    def forward(self, x, ctx=None):
        c = self.config
        ctx = ForwardContext() if ctx is None else ctx
        cache = ctx.kv_caches[self.layer_idx] if ctx.kv_caches else None
        qkv = self.c_attn(x)  # (B, T, 3C)
        dropout_p = c.dropout if self.training else 0.0
        if cache is None and c.position != "rotary":  # the kernel reads the heads out of qkv, writes y merged
            y = F.qkv_attention(qkv, c.n_head, attn_mask=ctx.attn_mask, dropout_p=dropout_p,
                                is_causal=c.causal)  # (B, T, C)
            if ctx.output_attentions:
                B, T, _ = x.shape
                q, k, _ = qkv.data.reshape(B, T, 3, c.n_head, -1).transpose(2, 0, 3, 1, 4)  # (B, NH, T, HS)
                ctx.attentions.append(attention_probs(q, k, ctx.attn_mask, c.causal))
        else:
            q, k, v = (split_heads(t, c.n_head) for t in qkv.split(c.n_embd, dim=2))  # (B, NH, T, HS)
            if c.position == "rotary":
                past, T = (cache.length if cache else 0), x.shape[1]
                pos = np.arange(past, past + T) if ctx.position_ids is None else ctx.position_ids
                q, k = F.rotary_embedding(q, pos, c.rope_base), F.rotary_embedding(k, pos, c.rope_base)
            if cache is not None:
                k, v = cache.update(k, v)  # (B, NH, T_past + T, HS)
            y = merge_heads(F.scaled_dot_product_attention(
                q, k, v, attn_mask=ctx.attn_mask, is_causal=c.causal, dropout_p=dropout_p))
            if ctx.output_attentions:
                ctx.attentions.append(attention_probs(q, k, ctx.attn_mask, c.causal))
        return self.resid_dropout(self.c_proj(y))

    def extra_repr(self):
        c = self.config
        return f"n_embd={c.n_embd}, n_head={c.n_head}, causal={c.causal}, position={c.position!r}"


class MLP(Module):
    """Linear(C, hidden) -> activation -> Linear(hidden, C) -> dropout, GPT-2's c_fc and c_proj."""

    def __init__(self, config):
        super().__init__()
        c = config
        hidden = c.hidden or 4 * c.n_embd
        self.c_fc = Linear(c.n_embd, hidden, bias=c.bias)
        self.act = ACTIVATIONS[c.activation](c)
        self.c_proj = Linear(hidden, c.n_embd, bias=c.bias)
        self.dropout = Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(linear_then_gelu(self.c_fc, self.act, x)))


class Block(Module):
    """One pre-LN transformer layer (GPT-2): x + attn(ln_1(x)), then x + mlp(ln_2(x)).
    BERT's post-LN layer keeps Hugging Face's module names, so it lives in models/bert."""

    def __init__(self, config, layer_idx=0):
        super().__init__()
        self.ln_1 = NORMS[config.norm](config)
        self.attn = SelfAttention(config, layer_idx)
        self.ln_2 = NORMS[config.norm](config)
        self.mlp = MLP(config)

    def forward(self, x, ctx=None):
        x = x + self.attn(self.ln_1(x), ctx)
        return x + self.mlp(self.ln_2(x))
