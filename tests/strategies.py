"""Hypothesis strategies for engine tests: shapes, broadcast pairs, arrays in any layout.

Everything stays small on purpose: gradcheck perturbs every element twice, so a
shape of at most 3 dims of side 4 keeps one check to a few hundred forwards.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitx as mt
from minitx.testing.strategies import broadcast_shapes, shapes  # noqa: F401  (the public kit's, shared)

float_dtypes = st.sampled_from([np.float32, np.float64])


def bounded_floats(low=-3.0, high=3.0, width=64):
    """Finite floats in [low, high]: no inf or nan, nothing to overflow exp."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=width)


def nonzero_floats(low=0.2, high=3.0, width=64):
    """Floats with low <= |x| <= high: kinks at 0 (relu, abs) stay out of reach of eps."""
    magnitude = st.floats(low, high, width=width)
    return st.tuples(magnitude, st.booleans()).map(lambda p: -p[0] if p[1] else p[0])


@st.composite
def layouts(draw, array):
    """`array` (same shape and values) in a drawn memory layout.

    contiguous: C order. transposed: the values live in a permuted buffer and
    are viewed back through the inverse permutation. strided: every other
    element of a buffer twice as long along each dim. Each result owns its
    buffer, so gradcheck can perturb it in place without touching anything else.
    """
    kind = draw(st.sampled_from(["contiguous", "transposed", "strided"]))
    if kind == "contiguous" or array.ndim == 0:
        return np.array(array, copy=True)
    if kind == "transposed":
        perm = draw(st.permutations(range(array.ndim)))
        buffer = np.array(array.transpose(perm), order="C", copy=True)
        return buffer.transpose(np.argsort(perm))
    buffer = np.zeros(tuple(2 * n for n in array.shape), dtype=array.dtype)
    view = buffer[tuple(slice(None, None, 2) for _ in array.shape)]
    view[...] = array
    return view


@st.composite
def arrays(draw, shape=None, dtype=np.float64, elements=None, layout=True, unique=False):
    """A float array of `shape` (drawn when None), in any layout unless layout=False."""
    if shape is None:
        shape = draw(shapes())
    if elements is None:
        elements = bounded_floats(width=np.dtype(dtype).itemsize * 8)
    array = draw(hnp.arrays(dtype, shape, elements=elements, unique=unique))
    return draw(layouts(array)) if layout else np.array(array, copy=True)


@st.composite
def tensors(draw, shape=None, dtype=np.float64, elements=None, requires_grad=True, **kwargs):
    """A minitx Tensor over `arrays(...)`, requiring grad by default."""
    data = draw(arrays(shape, dtype=dtype, elements=elements, **kwargs))
    return mt.Tensor(data, requires_grad=requires_grad)


@st.composite
def id_corpora(draw, max_vocab=5, max_sequences=4, max_len=12):
    """(V, sequences): a few short lists of token ids in [0, V), some possibly empty, at least one token."""
    V = draw(st.integers(1, max_vocab))
    seqs = draw(st.lists(st.lists(st.integers(0, V - 1), max_size=max_len), min_size=1, max_size=max_sequences)
                .filter(lambda s: any(len(x) for x in s)))
    return V, [np.array(s, dtype=np.int64) for s in seqs]
