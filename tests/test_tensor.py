"""Tensor attributes, dtype rules, and the autograd walk (accumulation, freeing, no_grad)."""
import sys

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitx as mt
from minitx.testing import gradcheck


# ---- attributes and dtype rules -----------------------------------------------

def test_attributes():
    t = mt.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3) and t.ndim == 2 and t.dim() == 2 and t.numel() == 6
    assert t.size() == (2, 3) and t.size(1) == 3 and len(t) == 2
    assert t.dtype == mt.float32 and t.is_floating_point()
    assert t.grad is None and not t.requires_grad and t.is_leaf
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), [[1, 2, 3], [4, 5, 6]])
    assert t.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_item():
    assert mt.tensor(2.5).item() == 2.5
    assert mt.tensor([[7]]).item() == 7
    with pytest.raises(ValueError, match=r"\(2,\)"):
        mt.tensor([1.0, 2.0]).item()


def test_python_floats_become_float32():
    assert mt.tensor(1.5).dtype == mt.float32
    assert mt.tensor([1.0, 2.0]).dtype == mt.float32
    assert mt.Tensor([[0.5]]).dtype == mt.float32
    assert mt.arange(0.0, 1.0, 0.25).dtype == mt.float32


def test_python_ints_and_bools():
    assert mt.tensor([1, 2]).dtype == mt.int64
    assert mt.tensor([True, False]).dtype == mt.bool_
    assert mt.arange(4).dtype == mt.int64


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_numpy_arrays_keep_their_dtype(dtype):
    a = np.zeros(3, dtype=dtype)
    assert mt.tensor(a).dtype == dtype
    assert mt.Tensor(a).dtype == dtype


def test_explicit_dtype_wins():
    assert mt.tensor([1, 2], dtype=mt.float64).dtype == mt.float64
    assert mt.tensor(np.ones(2, np.float64), dtype=mt.float32).dtype == mt.float32


def test_tensor_copies_and_from_numpy_shares():
    a = np.ones(3, dtype=np.float32)
    t, s = mt.tensor(a), mt.from_numpy(a)
    a[0] = 5
    assert t.data[0] == 1 and s.data[0] == 5


def test_creation_shapes_and_dtypes():
    assert mt.zeros(2, 3).shape == (2, 3) and mt.zeros((2, 3)).dtype == mt.float32
    assert mt.ones(4, dtype=mt.float64).dtype == mt.float64
    assert mt.full((2, 2), 7.0).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert mt.zeros_like(mt.ones(2, dtype=mt.float64)).dtype == mt.float64
    r = mt.randint(0, 5, (10,))
    assert r.dtype == mt.int64 and r.data.min() >= 0 and r.data.max() < 5


def test_manual_seed_makes_draws_repeat():
    mt.manual_seed(3)
    a = mt.randn(4).numpy().copy()
    mt.manual_seed(3)
    np.testing.assert_array_equal(a, mt.randn(4).numpy())


def test_float64_end_to_end():
    x = mt.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = mt.tensor(np.ones((3, 2)), requires_grad=True)
    y = ((x @ w).tanh() * 2.0 + 1).exp().log().sigmoid().relu().sum(dim=1).mean()
    assert x.dtype == y.dtype == mt.float64
    y.backward()
    assert x.grad.dtype == w.grad.dtype == np.float64


def test_float32_stays_float32_with_python_scalars():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (2.5 * x + 1) / 3.0 - 0.5
    y = (y ** 2 + 2 ** x).sum()
    assert y.dtype == mt.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_integers_meeting_floats_take_the_float_dtype():
    ids = mt.Tensor(np.arange(3, dtype=np.int32))
    x = mt.ones(3, requires_grad=True)
    assert (ids * 0.5).dtype == mt.float32 and (0.5 * ids).dtype == mt.float32
    assert (x / (ids > 0).sum()).dtype == mt.float32     # a loss normalised by a count
    assert (x * ids).dtype == mt.float32 and (ids + x).dtype == mt.float32
    assert (ids + 1).dtype.kind == "i" and (x + np.ones(3)).dtype == mt.float64
    (x * ids).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 2])


def test_gradients_arrive_in_the_dtype_of_their_input():
    # a float32 node feeding a float64 op still gets a float32 gradient, as in PyTorch
    x = mt.ones(3, requires_grad=True)
    Spy.seen.clear()
    (Spy.apply(x) * mt.tensor(np.ones(3))).sum().backward()
    assert Spy.seen == [np.float32] and x.grad.dtype == np.float32


def test_numpy_scalars_and_arrays_reach_the_reflected_operators():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    for y in (np.float32(2) * x, np.ones(2, np.float32) + x, np.ones(2) - x, np.ones(2) / x,
              np.ones(2) ** x, np.ones((3, 2)) @ x, np.ones(2) < x):
        assert isinstance(y, mt.Tensor)
    (np.float32(3) * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_numpy_functions_see_the_data():
    x = mt.tensor([1.0, 2.0])
    assert np.asarray(x) is x.data
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float64), [1.0, 2.0])
    with pytest.raises(TypeError):
        np.exp(x)   # a ufunc would leave the graph silently; use x.exp()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_integer_tensors_cannot_require_grad(dtype):
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        mt.Tensor(np.zeros(2, dtype), requires_grad=True)
    t = mt.Tensor(np.zeros(2, dtype))
    with pytest.raises(TypeError):
        t.requires_grad = True


def test_requires_grad_in_place():
    x = mt.zeros(2)
    assert x.requires_grad_() is x and x.requires_grad
    assert not x.requires_grad_(False).requires_grad
    with pytest.raises(TypeError, match="int64"):
        mt.tensor([1, 2]).requires_grad_()


def test_integer_results_of_float_ops_carry_no_graph():
    x = mt.tensor([1.5, -2.0], requires_grad=True)
    assert not x.long().requires_grad
    assert not x.argmax().requires_grad
    assert not (x > 0).requires_grad


class Spy(mt.Function):
    """Identity that records the dtype of the gradient reaching it."""
    seen = []

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):
        Spy.seen.append(grad.dtype)
        return grad


FLOAT32_OPS = {
    "arithmetic": lambda x, y: (x + y - 1) * y / (y + 2) - x ** 2 + 2 ** x + (-x),
    "unary": lambda x, y: x.exp() + (y * y + 1).log() + (y * y + 1).sqrt() + x.tanh()
    + x.sigmoid() + x.relu() + x.abs(),
    "matmul": lambda x, y: x @ y.T,
    "reduce": lambda x, y: x.sum(1, keepdim=True) + x.mean(0) + x.var(1, keepdim=True)
    + x.max() + x.max(dim=0).values + x.min(),
    "shape": lambda x, y: mt.cat([x.reshape(3, 2).T, mt.stack([y[0], y[1]])], 0).permute(1, 0)
    .unsqueeze(0).expand(2, 3, 4).flatten().split(5)[1],
    "select": lambda x, y: mt.where(x > 0, x, y).masked_fill(y > 0.5, 0.0)[[0, 1, 1], 1:],
}


@pytest.mark.parametrize("name", FLOAT32_OPS)
def test_float32_stays_float32_forward_and_backward(name):
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = mt.tensor(rng.random((2, 3)).astype(np.float32), requires_grad=True)
    out = FLOAT32_OPS[name](x, y)
    assert out.dtype == mt.float32
    Spy.seen.clear()
    Spy.apply(out).sum().backward()
    assert Spy.seen == [np.float32]
    assert x.grad.dtype == np.float32 and (y.grad is None or y.grad.dtype == np.float32)


def test_casts_carry_gradients_in_the_original_dtype():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * mt.tensor(np.array([3.0, 4.0]))
    assert y.dtype == mt.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_repr_names_dtype_and_grad():
    assert "requires_grad=True" in repr(mt.tensor([1.0], requires_grad=True))
    assert "float64" in repr(mt.tensor(np.ones(1)))


# ---- the backward walk --------------------------------------------------------

def test_grad_accumulates_across_backward_calls():
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3)
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [3, 3, 3])


def test_shared_subexpression_gets_all_its_paths():
    # y feeds both z and out; a walk that ran y's node before z's would lose dz/dy.
    x = mt.tensor(np.array([0.5, 1.0, 1.5]), requires_grad=True)
    y = x * 2
    z = y.exp()
    (y + z).sum().backward()
    np.testing.assert_allclose(x.grad, 2 + 2 * np.exp(2 * x.data))


def test_diamond_graph():
    x = mt.tensor(np.array([0.3, -0.7]), requires_grad=True)
    a = x.tanh()
    b, c = a * 3, a.exp()
    d = b * c + b
    d.sum().backward()
    t = np.tanh(x.data)
    expected = (3 * np.exp(t) + 3 * t * np.exp(t) + 3) * (1 - t ** 2)
    np.testing.assert_allclose(x.grad, expected)


GRAPH_OPS = [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
    lambda a, b: a.tanh() * b, lambda a, b: (a * 0.3).exp() + b.sigmoid(),
    lambda a, b: a * b.sum(),   # a reduction feeding back into elementwise math
]


@st.composite
def programs(draw):
    """A random DAG: each step combines two recent values (counted back from the
    newest), so values get reused: shared subexpressions, diamonds, op(v, f(v))."""
    back = st.integers(0, 3)
    steps = draw(st.lists(st.tuples(st.integers(0, len(GRAPH_OPS) - 1), back, back),
                          min_size=1, max_size=12))
    outputs = draw(st.lists(back, min_size=1, max_size=3))
    return steps, outputs


def run_program(program, x, y):
    steps, outputs = program
    pool = [x, y]
    for op, i, j in steps:
        pool.append(GRAPH_OPS[op](pool[-1 - i % len(pool)], pool[-1 - j % len(pool)]))
    out = pool[-1 - outputs[0] % len(pool)]
    for n, k in enumerate(outputs[1:]):
        out = out + pool[-1 - k % len(pool)] * (n + 2)
    return out


@given(program=programs())
def test_random_graphs_pass_gradcheck(program):
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.uniform(-1, 1, 3), requires_grad=True)
    y = mt.tensor(rng.uniform(-1, 1, 3), requires_grad=True)
    # Repeated doubling and exp can reach 1e55, where a sum of outputs loses the
    # 1e-6 step of central differences; such a graph checks float64, not backward.
    with mt.no_grad():
        assume(np.all(np.abs(run_program(program, x, y).data) < 1e6))
    gradcheck(lambda a, b: run_program(program, a, b), x, y)


def test_same_tensor_twice_in_one_op():
    x = mt.tensor(np.array([1.0, -2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_only_leaves_get_grad():
    x = mt.tensor([1.0], requires_grad=True)
    y = x * 2
    (y * 3).sum().backward()
    assert y.grad is None and not y.is_leaf
    np.testing.assert_allclose(x.grad, [6.0])


def test_inputs_without_requires_grad_get_no_grad():
    x = mt.tensor([1.0], requires_grad=True)
    c = mt.tensor([2.0])
    (x * c).sum().backward()
    assert c.grad is None and not c.requires_grad


def test_backward_on_a_leaf():
    x = mt.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad == 1.0


def test_backward_with_explicit_grad():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [3.0, 30.0])
    (x * 3).backward(mt.tensor([1.0, 1.0]))
    np.testing.assert_allclose(x.grad, [6.0, 33.0])


def test_non_scalar_backward_without_grad_raises():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar.*\(2,\)"):
        (x * 2).backward()


def test_backward_grad_of_the_wrong_shape_raises():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mt.tensor([1.0]).sum().backward()


def test_second_backward_on_a_freed_graph_raises():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        y.backward()


def test_backward_into_a_freed_shared_subgraph_raises():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 2).sum().backward()


def test_retain_graph_allows_a_second_backward():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_freeing_releases_saved_arrays():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    ctx = y._ctx
    assert len(ctx.saved_tensors) == 1
    y.sum().backward()
    assert ctx._freed and not hasattr(ctx, "saved_tensors") and ctx._edges == ()


def test_graph_does_not_keep_unsaved_activations_alive():
    import weakref
    x = mt.tensor(np.ones(4), requires_grad=True)
    h = x + 1          # Add saves nothing, so only our name keeps h alive
    out = (h * 2).sum()
    data = weakref.ref(h)
    del h
    assert data() is None
    out.backward()
    np.testing.assert_allclose(x.grad, 2 * np.ones(4))


def test_deep_chain_does_not_recurse():
    n = 100_000
    assert n > sys.getrecursionlimit()
    x = mt.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0
    y.backward(retain_graph=True)
    assert x.grad == 1.0
    del y   # dropping a deep graph that was never freed must not recurse either


def test_requires_grad_cannot_be_turned_off_on_a_non_leaf():
    y = mt.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad = False


def test_setitem_refuses_tensors_that_require_grad():
    t = mt.zeros(3)
    t[1] = 5.0
    t[mt.tensor([True, False, True])] = mt.tensor(2.0)
    assert t.tolist() == [2.0, 5.0, 2.0]
    with pytest.raises(RuntimeError, match="in-place"):
        mt.zeros(3, requires_grad=True)[0] = 1.0


# ---- detach and no_grad -------------------------------------------------------

def test_detach_shares_data_and_cuts_the_graph():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.data is y.data
    z = (d * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, y.data)   # d is a constant to z


def test_no_grad_builds_no_graph():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with mt.no_grad():
        assert not mt.is_grad_enabled()
        y = x * 2
        with mt.enable_grad():
            z = x * 2
    assert mt.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad


def test_no_grad_as_decorator_restores_on_error():
    @mt.no_grad()
    def f(x):
        assert not (x * 2).requires_grad
        raise KeyError
    with pytest.raises(KeyError):
        f(mt.tensor([1.0], requires_grad=True))
    assert mt.is_grad_enabled()


def test_no_grad_decorator_survives_recursion():
    @mt.no_grad()
    def depth(n):
        assert not mt.is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)
    assert depth(3) == 3
    assert mt.is_grad_enabled()


def test_zero_grad_by_zero_():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    mt.Tensor(x.grad).zero_()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])
