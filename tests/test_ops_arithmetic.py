"""+ - * / ** and neg: NumPy values, gradcheck under broadcasting and any layout, scalars."""
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.testing import gradcheck
from tests.strategies import bounded_floats, broadcast_shapes, float_dtypes, nonzero_floats, tensors

BINARY = {
    "add": (mt.add, operator.add, np.add),
    "sub": (mt.sub, operator.sub, np.subtract),
    "mul": (mt.mul, operator.mul, np.multiply),
    "div": (mt.div, operator.truediv, np.divide),
}


def _operands(data, name):
    sa, sb = data.draw(broadcast_shapes())
    # Dividing by something near 0 makes finite differences meaningless.
    b_elements = nonzero_floats(0.5, 3.0) if name == "div" else None
    return data.draw(tensors(sa)), data.draw(tensors(sb, elements=b_elements))


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary_matches_numpy(name, data):
    fn, op, ref = BINARY[name]
    a, b = _operands(data, name)
    expected = ref(a.data, b.data)
    np.testing.assert_allclose(fn(a, b).data, expected)
    np.testing.assert_allclose(op(a, b).data, expected)


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data())
def test_binary_gradcheck(name, data):
    fn = BINARY[name][0]
    a, b = _operands(data, name)
    gradcheck(fn, a, b)


@pytest.mark.parametrize("name", BINARY)
@given(data=st.data(), scalar=nonzero_floats(0.5, 3.0))
def test_binary_with_a_scalar_on_either_side(name, data, scalar):
    _, op, ref = BINARY[name]
    x = data.draw(tensors(elements=nonzero_floats(0.5, 3.0)))
    np.testing.assert_allclose(op(x, scalar).data, ref(x.data, scalar))
    np.testing.assert_allclose(op(scalar, x).data, ref(scalar, x.data))
    gradcheck(lambda t: op(t, scalar), x)
    gradcheck(lambda t: op(scalar, t), x)


@pytest.mark.parametrize("name", BINARY)
def test_scalar_keeps_the_tensor_dtype(name):
    op = BINARY[name][1]
    for dtype in (mt.float32, mt.float64):
        x = mt.ones(3, dtype=dtype)
        assert op(x, 2.0).dtype == dtype and op(2, x).dtype == dtype
        assert op(x, np.float64(2.0)).dtype == dtype


@given(dtype=float_dtypes)
def test_same_dtype_in_same_dtype_out(dtype):
    a, b = mt.ones(2, dtype=dtype), mt.ones(2, dtype=dtype)
    for name in BINARY:
        assert BINARY[name][0](a, b).dtype == dtype


@given(data=st.data())
def test_neg(data):
    x = data.draw(tensors())
    np.testing.assert_array_equal((-x).data, -x.data)
    gradcheck(mt.neg, x)


@given(data=st.data())
def test_pow_tensor_tensor(data):
    sa, sb = data.draw(broadcast_shapes())
    a = data.draw(tensors(sa, elements=st.floats(0.3, 3.0)))   # a > 0: a ** b is real
    b = data.draw(tensors(sb, elements=bounded_floats(-2.0, 2.0)))
    np.testing.assert_allclose((a ** b).data, np.power(a.data, b.data))
    gradcheck(mt.pow, a, b)


@given(data=st.data(), exponent=st.sampled_from([2, 3, -1, 0.5, 1.5, -2.5]))
def test_pow_by_a_scalar(data, exponent):
    positive = isinstance(exponent, float)   # fractional powers need a > 0
    elements = st.floats(0.3, 3.0) if positive else nonzero_floats(0.3, 3.0)
    x = data.draw(tensors(elements=elements))
    np.testing.assert_allclose((x ** exponent).data, x.data ** exponent)
    gradcheck(lambda t: t ** exponent, x)


@given(data=st.data(), base=st.floats(0.5, 3.0))
def test_scalar_to_a_tensor_power(data, base):
    x = data.draw(tensors(elements=bounded_floats(-2.0, 2.0)))
    np.testing.assert_allclose((base ** x).data, base ** x.data)
    gradcheck(lambda t: base ** t, x)


def test_pow_at_zero_base_follows_pytorch():
    # d(0 ** b)/db is 0 for b >= 0 (0 ** b is flat or undefined there), as in PyTorch
    a = mt.tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    b = mt.tensor(np.array([2.0, 0.0, 3.0]), requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad, [0.0, 0.0, 8 * np.log(2)])
    np.testing.assert_allclose(a.grad, [0.0, 0.0, 12.0])


def test_only_the_inputs_that_need_it_get_a_gradient():
    a = mt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mt.tensor(np.array([3.0, 4.0]))
    for op in (operator.add, operator.sub, operator.mul, operator.truediv, operator.pow):
        a.grad = None
        op(b, a).sum().backward()
        assert a.grad is not None and b.grad is None


def test_chained_broadcasting_grad():
    # (2, 1, 3) * (4, 1) + (3,): every input's grad is summed back to its own shape
    x = mt.tensor(np.arange(6.0).reshape(2, 1, 3), requires_grad=True)
    y = mt.tensor(np.arange(4.0).reshape(4, 1), requires_grad=True)
    z = mt.tensor(np.ones(3), requires_grad=True)
    (x * y + z).sum().backward()
    np.testing.assert_allclose(x.grad, np.full((2, 1, 3), 6.0))
    np.testing.assert_allclose(y.grad, np.full((4, 1), 15.0))
    np.testing.assert_allclose(z.grad, np.full(3, 8.0))
