"""where, masked_fill, and comparisons (boolean results, no gradient)."""
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitx as mt
from minitx.testing import gradcheck
from tests.strategies import broadcast_shapes, tensors


@given(data=st.data())
def test_where(data):
    sc, sx, sy = data.draw(broadcast_shapes(n=3))
    cond = data.draw(hnp.arrays(np.bool_, sc))
    x, y = data.draw(tensors(sx)), data.draw(tensors(sy))
    np.testing.assert_array_equal(mt.where(mt.Tensor(cond), x, y).data, np.where(cond, x.data, y.data))
    gradcheck(lambda a, b: mt.where(cond, a, b), x, y)


@given(data=st.data(), scalar=st.floats(-2, 2))
def test_where_with_a_scalar_branch(data, scalar):
    x = data.draw(tensors())
    cond = data.draw(hnp.arrays(np.bool_, x.shape))
    np.testing.assert_array_equal(mt.where(cond, x, scalar).data, np.where(cond, x.data, scalar))
    np.testing.assert_array_equal(mt.where(cond, scalar, x).data, np.where(cond, scalar, x.data))
    assert mt.where(cond, x, scalar).dtype == x.dtype
    gradcheck(lambda a: mt.where(cond, a, scalar), x)
    gradcheck(lambda a: mt.where(cond, scalar, a), x)


@given(data=st.data(), value=st.sampled_from([0.0, -1e9, 2.5, -np.inf]))
def test_masked_fill(data, value):
    x = data.draw(tensors())
    # a mask that broadcasts to x: trailing dims of x, some of them 1
    keep = data.draw(st.integers(0, x.ndim))
    mask_shape = tuple(1 if data.draw(st.booleans()) else n for n in x.shape[x.ndim - keep:])
    mask = data.draw(hnp.arrays(np.bool_, mask_shape))
    out = x.masked_fill(mt.Tensor(mask), value)
    np.testing.assert_array_equal(out.data, np.where(mask, value, x.data))
    assert out.dtype == x.dtype
    gradcheck(lambda a: a.masked_fill(mask, 3.0), x)


def test_masked_fill_causal_mask():
    T = 3
    scores = mt.tensor(np.ones((T, T)), requires_grad=True)
    causal = mt.tensor(np.triu(np.ones((T, T), dtype=bool), k=1))
    out = scores.masked_fill(causal, float("-inf"))
    assert np.isneginf(out.data[0, 1]) and out.data[1, 0] == 1.0
    out.masked_fill(causal, 0.0).sum().backward()
    np.testing.assert_array_equal(scores.grad, ~causal.data)


def test_where_and_masked_fill_need_a_boolean_condition():
    x = mt.ones(2)
    with pytest.raises(TypeError, match="boolean.*int64"):
        mt.where(mt.tensor([1, 0]), x, x)
    with pytest.raises(TypeError, match="boolean"):
        x.masked_fill(mt.tensor([1, 0]), 0.0)


COMPARISONS = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
    "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}


@pytest.mark.parametrize("name", COMPARISONS)
@given(data=st.data())
def test_comparisons(name, data):
    sa, sb = data.draw(broadcast_shapes())
    elements = st.sampled_from([-1.0, 0.0, 1.0])   # few values, so equality happens
    a = data.draw(tensors(sa, elements=elements))
    b = data.draw(tensors(sb, elements=elements))
    op = COMPARISONS[name]
    expected = op(a.data, b.data)
    for out in (op(a, b), getattr(mt, name)(a, b), op(a, 0.0)):
        assert out.dtype == mt.bool_ and not out.requires_grad and out.is_leaf
    np.testing.assert_array_equal(op(a, b).data, expected)
    np.testing.assert_array_equal(getattr(mt, name)(a, b).data, expected)


def test_comparisons_with_scalars_on_either_side_and_invert():
    x = mt.tensor([1.0, 2.0, 3.0])
    assert (x > 2).tolist() == [False, False, True]
    assert (2 < x).tolist() == [False, False, True]
    assert (2.0 == x).tolist() == [False, True, False]
    assert (~(x >= 2)).tolist() == [True, False, False]


def test_a_mask_from_a_comparison_carries_gradient_only_through_the_values():
    x = mt.tensor(np.array([-1.0, 2.0, -3.0]), requires_grad=True)
    y = mt.where(x > 0, x * 2, x * 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.5, 2.0, 0.5])

