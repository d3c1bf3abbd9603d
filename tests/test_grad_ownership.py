"""A leaf may keep a fresh gradient array without copying it; it must never keep
one that another input, the graph, or a retained graph can still see."""
import numpy as np

import minitx
from minitx.autograd import Function


class Twice(Function):
    """Returns one fresh array as the gradient of both of its inputs."""

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        g = np.array(grad, copy=True)
        return g, g


def test_array_shared_by_two_leaves_is_not_aliased():
    a = minitx.tensor([1.0, 2.0], requires_grad=True)
    b = minitx.tensor([3.0, 4.0], requires_grad=True)
    Twice.apply(a, b).sum().backward()
    a.grad += 100  # an in-place update (as clipping does) must not reach b.grad
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_array_shared_by_a_leaf_and_a_pending_node_is_not_aliased():
    a = minitx.tensor([1.0, 2.0], requires_grad=True)
    b = minitx.tensor([3.0, 4.0], requires_grad=True)
    y = Twice.apply(a, b * 2)  # the leaf a and the node b*2 get the same array
    (y + a).sum().backward()   # a then accumulates again, in place
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [2.0, 2.0])


def test_retained_graph_accumulates_correctly():
    w = minitx.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x = minitx.tensor([[1.0, 0.5]])
    loss = (x @ w).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(w.grad, 2 * np.array([[1.0, 1.0], [0.5, 0.5]]))


def test_add_hands_one_gradient_to_both_inputs_safely():
    a = minitx.tensor([1.0], requires_grad=True)
    b = minitx.tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 3
    np.testing.assert_array_equal(b.grad, [1.0])


def test_residual_stream_gradient_is_summed_in_place():
    # Each layer adds one term into the gradient of the stream; the sums are right.
    x = minitx.tensor(np.ones((3, 4)), requires_grad=True)
    h = x
    for k in range(1, 5):
        h = h + (h * float(k)).tanh()
    h.sum().backward()
    x64 = minitx.tensor(np.ones((3, 4)), requires_grad=True)
    h = x64
    for k in range(1, 5):
        h = h + (h * float(k)).tanh()
    h.sum().backward(retain_graph=True)  # the walk that reuses nothing
    np.testing.assert_allclose(x.grad, x64.grad, rtol=0, atol=0)
