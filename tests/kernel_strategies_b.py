"""Hypothesis strategies for the attention and embedding kernel tests.

Shapes stay tiny (gradcheck perturbs every element of q, k and v twice), but
wide enough to reach the cases that matter: Tq < Tk and Tq > Tk, masks that
broadcast over batch, heads or queries, rows whose keys are all masked.
"""
import numpy as np
from hypothesis import strategies as st

float_dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def mask_shapes(draw, full):
    """A shape that broadcasts to `full` (B, NH, Tq, Tk): leading dims dropped, sides set to 1."""
    keep = draw(st.integers(1, 4))                  # the key dim (or 1) is always there
    shape = list(full[4 - keep:])
    for i in range(len(shape)):
        if draw(st.booleans()):
            shape[i] = 1
    return tuple(shape)


@st.composite
def attention_cases(draw, max_B=2, max_NH=2, max_T=5, max_HS=4, dtype=None):
    """Inputs of scaled_dot_product_attention as a dict: q, k, v (arrays), attn_mask
    (None, bool array or additive float array), is_causal, scale; seeded from a drawn int."""
    dtype = draw(float_dtypes) if dtype is None else dtype
    B, NH = draw(st.integers(1, max_B)), draw(st.integers(1, max_NH))
    Tq, Tk = draw(st.integers(1, max_T)), draw(st.integers(1, max_T))
    HS = draw(st.integers(1, max_HS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = rng.standard_normal((B, NH, Tq, HS)).astype(dtype)
    k = rng.standard_normal((B, NH, Tk, HS)).astype(dtype)
    v = rng.standard_normal((B, NH, Tk, HS)).astype(dtype)
    kind = draw(st.sampled_from(["none", "bool", "additive"]))
    mask = None
    if kind != "none":
        shape = draw(mask_shapes((B, NH, Tq, Tk)))
        allowed = rng.random(shape) < draw(st.sampled_from([0.3, 0.7, 1.0]))
        if kind == "bool":
            mask = allowed
        else:                                       # finite offsets, -inf where not allowed
            mask = np.where(allowed, rng.standard_normal(shape), -np.inf).astype(dtype)
    scale = draw(st.one_of(st.none(), st.floats(0.1, 2.0)))
    return dict(q=q, k=k, v=v, attn_mask=mask, is_causal=draw(st.booleans()), scale=scale)


@st.composite
def qkv_cases(draw, max_B=2, max_T=6, max_NH=3, max_HS=4, dtype=None):
    """Inputs of qkv_attention as a dict: qkv (B, T, 3C), n_head, attn_mask (None, key
    padding (B, 1, 1, T) with some batch row maybe all padding, a bool or an additive
    mask broadcastable to (B, NH, T, T)), is_causal, scale."""
    dtype = draw(float_dtypes) if dtype is None else dtype
    B, T = draw(st.integers(1, max_B)), draw(st.integers(1, max_T))
    NH, HS = draw(st.integers(1, max_NH)), draw(st.integers(1, max_HS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    qkv = rng.standard_normal((B, T, 3 * NH * HS)).astype(dtype)
    kind = draw(st.sampled_from(["none", "padding", "bool", "additive"]))
    mask = None
    if kind == "padding":                           # BERT's: True for real tokens
        lengths = rng.integers(0, T + 1, B)
        mask = (np.arange(T)[None, :] < lengths[:, None])[:, None, None, :]
    elif kind != "none":
        shape = draw(mask_shapes((B, NH, T, T)))
        allowed = rng.random(shape) < draw(st.sampled_from([0.3, 0.7, 1.0]))
        mask = allowed if kind == "bool" else np.where(
            allowed, rng.standard_normal(shape), -np.inf).astype(dtype)
    scale = draw(st.one_of(st.none(), st.floats(0.1, 2.0)))
    return dict(qkv=qkv, n_head=NH, attn_mask=mask, is_causal=draw(st.booleans()), scale=scale)


@st.composite
def embedding_cases(draw, max_V=7, max_C=5):
    """ids (any shape, repeats likely), weight (V, C), padding_idx (None or in [-V, V))."""
    dtype = draw(float_dtypes)
    V, C = draw(st.integers(1, max_V)), draw(st.integers(1, max_C))
    ids_shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ids = rng.integers(0, V, size=ids_shape)
    weight = rng.standard_normal((V, C)).astype(dtype)
    padding_idx = draw(st.one_of(st.none(), st.integers(-V, V - 1)))
    return ids, weight, padding_idx
