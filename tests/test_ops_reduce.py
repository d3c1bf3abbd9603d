"""sum mean var max min over dims, with keepdim; ties; (values, indices) pairs."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.testing import gradcheck
from tests.strategies import layouts, shapes, tensors


@st.composite
def dims(draw, ndim, allow_tuple=True):
    """None, one dim, or a tuple of distinct dims; negative numbering half the time."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"] if allow_tuple else ["none", "int"]))
    if kind == "none":
        return None
    picked = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    picked = [d - ndim if draw(st.booleans()) else d for d in picked]
    return picked[0] if kind == "int" else tuple(picked)


def _axes(dim, ndim):
    return None if dim is None else dim if isinstance(dim, int) else tuple(dim)


@st.composite
def distinct(draw, shape=None):
    """A float64 tensor whose elements are at least 0.25 apart, in any layout: the
    arg max/min of every slice stays put when gradcheck nudges one element."""
    shape = draw(shapes()) if shape is None else shape
    n = int(np.prod(shape))
    values = np.array(draw(st.permutations(range(n))), dtype=np.float64).reshape(shape)
    return mt.Tensor(draw(layouts(0.25 * values - 1.0)), requires_grad=True)


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data(), keepdim=st.booleans())
def test_sum_mean(name, data, keepdim):
    x = data.draw(tensors())
    dim = data.draw(dims(x.ndim))
    ref = getattr(np, name)(x.data, axis=_axes(dim, x.ndim), keepdims=keepdim)
    out = getattr(x, name)(dim=dim, keepdim=keepdim)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.data, ref, rtol=1e-12, atol=1e-12)
    gradcheck(lambda t: getattr(mt, name)(t, dim, keepdim), x)


@given(data=st.data(), keepdim=st.booleans(), correction=st.sampled_from([0, 1]))
def test_var(data, keepdim, correction):
    x = data.draw(tensors(shapes(min_dims=1)))
    dim = data.draw(dims(x.ndim))
    axes = _axes(dim, x.ndim)
    n = x.data.size // np.mean(x.data, axis=axes, keepdims=True).size
    if n - correction <= 0:
        correction = 0
    ref = np.var(x.data, axis=axes, keepdims=keepdim, ddof=correction)
    out = x.var(dim=dim, keepdim=keepdim, correction=correction)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.data, ref, rtol=1e-10, atol=1e-12)
    gradcheck(lambda t: mt.var(t, dim, keepdim, correction=correction), x)


def test_var_defaults_to_bessel_and_takes_unbiased():
    x = mt.tensor(np.array([1.0, 2.0, 4.0]))
    assert x.var().item() == pytest.approx(np.var(x.data, ddof=1))
    assert x.var(unbiased=False).item() == pytest.approx(np.var(x.data))


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data())
def test_full_max_min(name, data):
    x = data.draw(distinct())
    out = getattr(x, name)()
    assert out.shape == () and out.item() == getattr(np, name)(x.data)
    gradcheck(getattr(mt, name), x)


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data(), keepdim=st.booleans())
def test_max_min_along_a_dim(name, data, keepdim):
    x = data.draw(distinct(data.draw(shapes(min_dims=1))))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    values, indices = getattr(x, name)(dim=dim, keepdim=keepdim)
    arg = getattr(np, "arg" + name)(x.data, axis=dim, keepdims=keepdim)
    ref = getattr(np, name)(x.data, axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(values.data, ref)
    np.testing.assert_array_equal(indices.data, arg)
    assert indices.dtype == mt.int64 and not indices.requires_grad
    gradcheck(lambda t: getattr(mt, name)(t, dim, keepdim).values, x)


def test_max_with_dim_is_a_named_pair():
    x = mt.tensor([[1.0, 5.0], [7.0, 2.0]])
    out = x.max(dim=1)
    values, indices = out
    assert out.values is values and out.indices is indices
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]


def test_full_max_ties_share_the_gradient():
    # As torch.max(x) and amax: tied maxima split the gradient evenly.
    x = mt.tensor(np.array([[3.0, 1.0, 3.0], [3.0, 0.0, 2.0]]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [[1 / 3, 0, 1 / 3], [1 / 3, 0, 0]])
    y = mt.tensor(np.array([0.0, -1.0, 0.0]), requires_grad=True)
    y.min().backward()
    np.testing.assert_allclose(y.grad, [0.0, 1.0, 0.0])


def test_max_along_a_dim_with_ties_sends_the_gradient_to_the_returned_index():
    x = mt.tensor(np.array([[2.0, 5.0, 5.0], [4.0, 4.0, 1.0]]), requires_grad=True)
    values, indices = x.max(dim=1)
    assert indices.tolist() == [1, 0]          # the first of the tied maxima
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])


def test_argmax_argmin():
    x = mt.tensor([[1.0, 9.0, 3.0], [8.0, 2.0, 8.0]])
    assert x.argmax().item() == 1 and x.argmin().item() == 0
    assert x.argmax(dim=1).tolist() == [1, 0] and x.argmin(dim=0).tolist() == [0, 1, 0]
    assert x.argmax(dim=1, keepdim=True).shape == (2, 1)


def test_reductions_of_a_0d_tensor():
    x = mt.tensor(np.array(2.0), requires_grad=True)
    for op in (mt.sum, mt.mean):
        assert op(x).item() == 2.0 and op(x, dim=0).item() == 2.0 and op(x, -1).item() == 2.0
    assert x.max().item() == 2.0
    values, indices = x.max(dim=0)
    assert values.item() == 2.0 and indices.item() == 0
    gradcheck(lambda t: t.sum(dim=0) * 3, x)


def test_sum_of_integers_and_booleans():
    assert mt.tensor([1, 2, 3]).sum().item() == 6
    assert mt.tensor([True, False, True]).sum().item() == 2


def test_mean_of_integers_raises():
    with pytest.raises(TypeError, match="int64"):
        mt.tensor([1, 2]).mean()


def test_sum_keepdim_grad_shape():
    x = mt.tensor(np.ones((2, 3, 4)), requires_grad=True)
    (x.sum(dim=(0, 2), keepdim=True) * mt.tensor(np.array([[[1.0], [2.0], [3.0]]]))).sum().backward()
    np.testing.assert_allclose(x.grad, np.broadcast_to(np.array([1.0, 2.0, 3.0])[:, None], (2, 3, 4)))
