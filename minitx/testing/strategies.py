"""Hypothesis strategies for testing ops and models of your own: shapes, broadcast
pairs, arrays and Tensors in any memory layout, attention masks and token ids.

The same strategies minitx's own tests draw from. Sizes stay small on purpose:
gradcheck perturbs every element twice, so 3 dims of side 4 keep one check to a
few hundred forwards. Needs hypothesis (`pip install hypothesis`, or
`pip install minitx[testing]`).
"""
try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as err:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "minitx.testing.strategies needs hypothesis, which is not installed: "
        "pip install hypothesis (or pip install minitx[testing])") from err
import numpy as np

from ..tensor import Tensor

__all__ = ["bounded_floats", "floats_away_from", "shapes", "broadcast_shapes", "layouts",
           "arrays", "tensors", "attention_masks", "padding_masks", "token_ids"]

LAYOUTS = ("contiguous", "transposed", "strided", "reversed")


def bounded_floats(low=-3.0, high=3.0, width=64):
    """Finite floats in [low, high]: no inf or nan, nothing to overflow exp."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)


def floats_away_from(kinks=(0.0,), margin=0.1, low=-3.0, high=3.0, width=64):
    """Floats in [low, high] at least `margin` from every point of `kinks`, where a
    function is not differentiable (0 for relu and abs): finite differences of step eps
    then never straddle a kink."""
    kinks = tuple(float(k) for k in kinks)
    return bounded_floats(low, high, width).filter(
        lambda x: all(abs(x - k) >= margin for k in kinks))


@st.composite
def shapes(draw, min_dims=0, max_dims=3, min_side=1, max_side=4):
    """A tensor shape, e.g. (), (3,), (2, 1, 4)."""
    return draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                                 min_side=min_side, max_side=max_side))


@st.composite
def broadcast_shapes(draw, n=2, min_dims=0, max_dims=3, max_side=4):
    """`n` shapes that broadcast together: some leading dims dropped, some sides set to 1.

    The first shape is kept at the full common shape half the time, so both the
    "one side broadcast" and "both sides broadcast" cases come up.
    """
    common = draw(shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side))
    out = []
    for k in range(n):
        if k == 0 and draw(st.booleans()):
            out.append(common)
            continue
        keep = draw(st.integers(0, len(common)))
        shape = list(common[len(common) - keep:])
        for i in range(len(shape)):
            if draw(st.booleans()):
                shape[i] = 1
        out.append(tuple(shape))
    return tuple(out)


@st.composite
def layouts(draw, array, kinds=LAYOUTS):
    """`array` (same shape and values) in a drawn memory layout.

    contiguous: C order. transposed: the values live in a permuted buffer and are
    viewed back through the inverse permutation. strided: every other element of a
    buffer twice as long along each dim. reversed: a buffer read with negative steps.
    Each result owns its buffer, so gradcheck can perturb it in place.
    """
    kind = draw(st.sampled_from(kinds))
    if kind == "contiguous" or array.ndim == 0:
        return np.array(array, copy=True)
    if kind == "transposed":
        perm = draw(st.permutations(range(array.ndim)))
        buffer = np.array(array.transpose(perm), order="C", copy=True)
        return buffer.transpose(np.argsort(perm))
    if kind == "reversed":
        flip = tuple(slice(None, None, -1) for _ in array.shape)
        return np.array(array[flip], copy=True)[flip]
    buffer = np.zeros(tuple(2 * n for n in array.shape), dtype=array.dtype)
    view = buffer[tuple(slice(None, None, 2) for _ in array.shape)]
    view[...] = array
    return view


@st.composite
def arrays(draw, shape=None, dtype=np.float64, elements=None, kinks=None, margin=0.1,
           layout=True, unique=False):
    """A float array of `shape` (drawn by `shapes()` when None) and `dtype`.

    elements: a strategy for the values (default: finite, in [-3, 3]). kinks: points
    to keep at least `margin` away from (e.g. (0.0,) for relu). layout: any layout of
    `layouts()` when True, C order when False.
    """
    if shape is None:
        shape = draw(shapes())
    width = np.dtype(dtype).itemsize * 8
    if elements is None:
        elements = (bounded_floats(width=width) if kinks is None
                    else floats_away_from(kinks, margin, width=width))
    array = draw(hnp.arrays(dtype, shape, elements=elements, unique=unique))
    return draw(layouts(array)) if layout else np.array(array, copy=True)


@st.composite
def tensors(draw, shape=None, dtype=np.float64, elements=None, requires_grad=True, **kwargs):
    """A minitx Tensor over `arrays(shape, dtype, elements, **kwargs)`, requiring grad
    by default."""
    data = draw(arrays(shape, dtype=dtype, elements=elements, **kwargs))
    return Tensor(data, requires_grad=requires_grad)


@st.composite
def padding_masks(draw, B, T, allow_empty=False):
    """(B, T) int64 attention mask as BERT takes it: 1 for a token, 0 for padding after
    it. Each row keeps at least one token unless allow_empty."""
    lengths = draw(st.lists(st.integers(0 if allow_empty else 1, T), min_size=B, max_size=B))
    return (np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64)


@st.composite
def attention_masks(draw, B, Tq, Tk=None, kinds=("causal", "padding", "random", "masked_row")):
    """(B, 1, Tq, Tk) bool mask, True where a query may attend to a key, as
    scaled_dot_product_attention's attn_mask takes it.

    causal: query i sees keys up to i (aligned to the end when Tq < Tk). padding: each
    row of the batch sees its first L keys. random: any pattern with one key left per
    query. masked_row: random, with one query that sees no key at all (a fully masked
    row: what an op does with it is a choice to test, not an accident).
    """
    Tk = Tq if Tk is None else Tk
    kind = draw(st.sampled_from(kinds))
    if kind == "causal":
        mask = np.tril(np.ones((Tq, Tk), dtype=bool), k=Tk - Tq)
        return np.broadcast_to(mask, (B, 1, Tq, Tk)).copy()
    if kind == "padding":
        keys = draw(padding_masks(B, Tk)).astype(bool)          # (B, Tk)
        return np.broadcast_to(keys[:, None, None, :], (B, 1, Tq, Tk)).copy()
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((B, 1, Tq, Tk)) < 0.6
    mask |= rng.integers(0, Tk, (B, 1, Tq, 1)) == np.arange(Tk)   # one key per query
    if kind == "masked_row":
        mask[draw(st.integers(0, B - 1)), 0, draw(st.integers(0, Tq - 1)), :] = False
    return mask


@st.composite
def token_ids(draw, V, shape=None, ignore_index=None, ignore_fraction=None):
    """int64 ids in [0, V) of `shape` (drawn when None). With ignore_index, a drawn
    fraction (0, 0.3 or 1, or `ignore_fraction`) is set to it, as loss targets are."""
    if shape is None:
        shape = draw(shapes(min_dims=1, max_dims=2))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, shape).astype(np.int64)
    if ignore_index is not None:
        fraction = (draw(st.sampled_from([0.0, 0.3, 1.0])) if ignore_fraction is None
                    else ignore_fraction)
        ids[rng.random(shape) < fraction] = ignore_index
    return ids
