"""t[...]: ints, slices, None, ellipsis, integer arrays (repeats add up), boolean masks."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitx as mt
from minitx.testing import gradcheck
from tests.strategies import shapes, tensors


def _check(x, index):
    """Forward equals NumPy's; backward passes gradcheck."""
    np.testing.assert_array_equal(x[index].data, x.data[index])
    gradcheck(lambda t: t[index], x)


@given(data=st.data())
def test_basic_indices(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    if x.data[index].size:
        _check(x, index)


@given(data=st.data())
def test_integer_array_indices_with_repeats(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    index = data.draw(hnp.integer_array_indices(x.shape, result_shape=shapes(max_dims=2)))
    _check(x, index)


@given(data=st.data())
def test_one_integer_array_on_one_dim_with_slices(data):
    x = data.draw(tensors(shapes(min_dims=2)))
    dim = data.draw(st.integers(0, x.ndim - 1))
    n = x.shape[dim]
    ids = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6)))
    index = (slice(None),) * dim + (ids,)
    _check(x, index)
    _check(x, (Ellipsis, ids) if dim == x.ndim - 1 else index)


@given(data=st.data())
def test_boolean_masks(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    mask = data.draw(hnp.arrays(np.bool_, x.shape))
    _check(x, mask)
    row_mask = data.draw(hnp.arrays(np.bool_, x.shape[:1]))
    _check(x, row_mask)
    np.testing.assert_array_equal(x[mt.Tensor(mask)].data, x.data[mask])


def test_repeated_indices_scatter_add():
    x = mt.tensor(np.arange(4.0), requires_grad=True)
    y = x[np.array([0, 2, 0, 0, 3])]
    y.backward(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(x.grad, [8.0, 0.0, 2.0, 5.0])


def test_repeated_pairs_in_two_index_arrays():
    x = mt.tensor(np.zeros((2, 3)), requires_grad=True)
    x[np.array([1, 1, 0]), np.array([2, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [[1, 0, 0], [0, 0, 2]])


def test_embedding_style_lookup_with_an_int_tensor():
    W = mt.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    ids = mt.tensor([[1, 3], [1, 1]])
    out = W[ids]
    assert out.shape == (2, 2, 3)
    out.sum().backward()
    np.testing.assert_array_equal(W.grad[:, 0], [0, 3, 0, 1])
    gradcheck(lambda w: w[ids], W)


def test_lists_ints_negative_steps_none_and_ellipsis():
    x = mt.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    for index in [1, -1, (0, 2), (slice(None, None, -1),), (Ellipsis, 1), (None, 0, Ellipsis, None),
                  (slice(None), [2, 0, 2]), ([0, 1], slice(None), [3, 3]), (1, slice(None, None, -2), 0)]:
        _check(x, index)


def test_integer_index_of_a_0d_result():
    x = mt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x[1]
    assert y.shape == () and y.item() == 2.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])


def test_out_of_range_index_names_the_shape():
    import pytest
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        mt.zeros(2, 3)[5]
