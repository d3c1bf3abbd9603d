"""reshape view transpose permute unsqueeze squeeze flatten expand cat stack split chunk."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.testing import gradcheck
from tests.strategies import shapes, tensors


def _factor_shapes(n):
    """Every shape with up to 3 dims whose sizes multiply to n."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    out = [(n,)]
    out += [(d, n // d) for d in divisors]
    out += [(d, e, n // (d * e)) for d in divisors for e in divisors if (n // d) % e == 0]
    return out


@given(data=st.data())
def test_reshape_and_view(data):
    x = data.draw(tensors())
    new = data.draw(st.sampled_from(_factor_shapes(x.data.size)))
    if data.draw(st.booleans()):   # one side left for reshape to infer
        i = data.draw(st.integers(0, len(new) - 1))
        ask = new[:i] + (-1,) + new[i + 1:]
    else:
        ask = new
    np.testing.assert_array_equal(x.reshape(ask).data, x.data.reshape(new))
    np.testing.assert_array_equal(x.view(*ask).data, x.data.reshape(new))
    gradcheck(lambda t: t.reshape(ask), x)


@given(data=st.data())
def test_permute(data):
    x = data.draw(tensors())
    dims = data.draw(st.permutations(range(x.ndim)))
    dims = [d - x.ndim if data.draw(st.booleans()) else d for d in dims]
    np.testing.assert_array_equal(x.permute(*dims).data, np.transpose(x.data, dims))
    np.testing.assert_array_equal(x.permute(dims).data, np.transpose(x.data, dims))
    gradcheck(lambda t: t.permute(dims), x)


@given(data=st.data())
def test_transpose_and_T(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    i, j = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.integers(-x.ndim, x.ndim - 1))
    np.testing.assert_array_equal(x.transpose(i, j).data, np.swapaxes(x.data, i, j))
    np.testing.assert_array_equal(x.T.data, x.data.T)
    gradcheck(lambda t: t.transpose(i, j), x)


@given(data=st.data())
def test_unsqueeze_squeeze(data):
    x = data.draw(tensors())
    dim = data.draw(st.integers(-x.ndim - 1, x.ndim))
    u = x.unsqueeze(dim)
    np.testing.assert_array_equal(u.data, np.expand_dims(x.data, dim))
    np.testing.assert_array_equal(u.squeeze(dim).data, x.data)
    np.testing.assert_array_equal(x.squeeze().data, np.squeeze(x.data))
    gradcheck(lambda t: t.unsqueeze(dim).squeeze(), x)


def test_squeeze_keeps_dims_that_are_not_1():
    x = mt.zeros(2, 1, 3)
    assert x.squeeze(0).shape == (2, 1, 3) and x.squeeze(1).shape == (2, 3)
    assert x.squeeze((0, 1)).shape == (2, 3)


@given(data=st.data())
def test_flatten(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    s = data.draw(st.integers(0, x.ndim - 1))
    e = data.draw(st.integers(s, x.ndim - 1))
    expected = x.data.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])
    np.testing.assert_array_equal(x.flatten(s, e).data, expected)
    np.testing.assert_array_equal(x.flatten().data, x.data.reshape(-1))
    gradcheck(lambda t: t.flatten(s, e), x)


@given(data=st.data())
def test_expand(data):
    x = data.draw(tensors(shapes(max_side=3)))
    lead = data.draw(st.lists(st.integers(1, 3), max_size=2))
    target = tuple(lead) + tuple(data.draw(st.integers(1, 3)) if n == 1 else n for n in x.shape)
    # -1 keeps a dim's size, so it may stand only where the size stays
    asked = tuple(lead) + tuple(-1 if n == m and data.draw(st.booleans()) else n
                                for n, m in zip(target[len(lead):], x.shape))
    np.testing.assert_array_equal(x.expand(*asked).data, np.broadcast_to(x.data, target))
    gradcheck(lambda t: t.expand(asked), x)


@given(data=st.data())
def test_cat(data):
    base = data.draw(shapes(min_dims=1))
    dim = data.draw(st.integers(-len(base), len(base) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    parts = []
    for n in sizes:
        shape = list(base)
        shape[dim] = n
        parts.append(data.draw(tensors(tuple(shape))))
    out = mt.cat(parts, dim=dim)
    np.testing.assert_array_equal(out.data, np.concatenate([p.data for p in parts], axis=dim))
    if out.data.size:
        gradcheck(lambda *ts: mt.cat(ts, dim), *parts)


@given(data=st.data())
def test_stack(data):
    shape = data.draw(shapes())
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [data.draw(tensors(shape)) for _ in range(data.draw(st.integers(1, 3)))]
    np.testing.assert_array_equal(mt.stack(parts, dim).data, np.stack([p.data for p in parts], dim))
    gradcheck(lambda *ts: mt.stack(ts, dim), *parts)


@given(data=st.data())
def test_split_by_size(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    size = data.draw(st.integers(1, 4))
    pieces = x.split(size, dim=dim)
    n = x.shape[dim]
    assert [p.shape[dim] for p in pieces] == [min(size, n - i) for i in range(0, n, size)]
    np.testing.assert_array_equal(mt.cat(pieces, dim).data, x.data)
    weights = [float(k + 1) for k in range(len(pieces))]   # a different weight per piece
    gradcheck(lambda t: mt.cat([p * w for p, w in zip(t.split(size, dim), weights)], dim), x)


@given(data=st.data())
def test_split_by_sections(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    dim = data.draw(st.integers(0, x.ndim - 1))
    cuts = sorted(data.draw(st.lists(st.integers(0, x.shape[dim]), max_size=2)))
    bounds = [0] + cuts + [x.shape[dim]]
    sections = [b - a for a, b in zip(bounds, bounds[1:])]
    pieces = mt.split(x, sections, dim)
    assert [p.shape[dim] for p in pieces] == sections
    expected = np.split(x.data, np.cumsum(sections)[:-1], axis=dim)
    for p, e in zip(pieces, expected):
        np.testing.assert_array_equal(p.data, e)
    gradcheck(lambda t: mt.stack([p.sum() * (k + 1) for k, p in enumerate(mt.split(t, sections, dim))]), x)


@pytest.mark.parametrize("n, chunks, sizes", [(6, 3, [2, 2, 2]), (5, 2, [3, 2]), (5, 3, [2, 2, 1]),
                                             (6, 4, [2, 2, 2]), (2, 5, [1, 1])])
def test_chunk_matches_pytorch_sizes(n, chunks, sizes):
    x = mt.tensor(np.arange(float(n)).reshape(1, n), requires_grad=True)
    pieces = x.chunk(chunks, dim=1)
    assert [p.shape[1] for p in pieces] == sizes
    gradcheck(lambda t: mt.cat([p * (k + 1) for k, p in enumerate(t.chunk(chunks, 1))], 1), x)


def test_clone_and_contiguous():
    x = mt.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    t = x.T
    c = t.contiguous()
    assert c.data.flags.c_contiguous and np.array_equal(c.data, t.data)
    assert x.contiguous() is x
    y = x.clone()
    assert y.data is not x.data and y.data.base is None
    gradcheck(lambda a: a.T.contiguous() * 2, x)
    gradcheck(lambda a: a.clone(), x)


def test_views_of_noncontiguous_grads_reach_leaves_intact():
    # permute -> reshape -> getitem: each backward gets a view and returns a view
    x = mt.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = x.permute(2, 0, 1).reshape(4, 6)[1:3].sum(dim=0)
    y.backward(np.arange(6.0))
    expected = np.zeros((4, 6))
    expected[1:3] = np.arange(6.0)
    np.testing.assert_array_equal(x.grad, expected.reshape(4, 2, 3).transpose(1, 2, 0))
