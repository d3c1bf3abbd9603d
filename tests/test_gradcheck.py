"""The checker is checked: gradcheck passes right backwards and catches wrong ones."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.testing import GradcheckError, gradcheck
from tests.strategies import tensors


class Cube(mt.Function):
    """out = a ** 3, with a correct backward."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a ** 3

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * 3 * a ** 2


class WrongCube(Cube):
    """The same forward with a backward off by a factor: 2 a^2 instead of 3 a^2."""

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * 2 * a ** 2


class ForgetsOneInput(mt.Function):
    """out = a * b whose backward returns nothing for b."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, None


class TransposedGrad(mt.Function):
    """out = a @ b whose backward for b forgets a transpose (right only when a is symmetric)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad @ b.T, a @ grad


def test_a_custom_function_with_a_correct_backward_passes():
    x = mt.tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True)
    assert gradcheck(Cube.apply, x) is True


@given(data=st.data())
def test_a_wrong_backward_fails(data):
    x = data.draw(tensors(elements=st.floats(0.5, 2.0)))
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(WrongCube.apply, x)


def test_a_missing_gradient_fails():
    a = mt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mt.tensor(np.array([3.0, 4.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(ForgetsOneInput.apply, a, b)
    gradcheck(ForgetsOneInput.apply, a, mt.tensor(b.data))   # b a constant: nothing to check


def test_a_subtly_wrong_backward_fails_on_general_inputs():
    rng = np.random.default_rng(1)
    sym = rng.standard_normal((3, 3))
    sym = sym + sym.T
    b = mt.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    gradcheck(TransposedGrad.apply, mt.tensor(sym, requires_grad=True), b)   # hides the bug
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3, 2\)\)"):
        gradcheck(TransposedGrad.apply, mt.tensor(rng.standard_normal((3, 3)), requires_grad=True), b)


def test_the_error_names_both_values():
    x = mt.tensor(np.array([1.0]), requires_grad=True)
    with pytest.raises(GradcheckError) as err:
        gradcheck(WrongCube.apply, x)
    # both are v * d out/dx for the same random cotangent v: 2 v against 3 v
    found = re.search(r"backward gives (\S+), finite differences give (\S+) ", str(err.value))
    analytic, numeric = float(found[1]), float(found[2])
    assert analytic / numeric == pytest.approx(2 / 3)


def test_float32_inputs_are_rejected():
    with pytest.raises(TypeError, match="float32.*float64"):
        gradcheck(mt.exp, mt.tensor([1.0], requires_grad=True))


def test_no_input_requiring_grad_is_rejected():
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(mt.exp, mt.tensor(np.array([1.0])))


def test_an_output_cut_from_the_inputs_fails():
    x = mt.tensor(np.array([1.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match="does not depend"):
        gradcheck(lambda t: t.detach() * 2, x)


def test_non_tensor_arguments_pass_through():
    x = mt.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert gradcheck(mt.sum, x, 1)


def test_gradcheck_leaves_the_inputs_unchanged():
    data = np.array([0.1, 0.2, 0.3])
    x = mt.tensor(data.copy(), requires_grad=True)
    gradcheck(lambda t: (t * t).sum(), x)
    np.testing.assert_array_equal(x.data, data)


def test_the_worked_example_in_the_autograd_docs_runs(capsys):
    from pathlib import Path
    page = (Path(__file__).parent.parent / "docs" / "autograd.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) >= 2   # the walk without the memory tricks, then gradcheck
    for code in blocks:
        exec(compile(code, "docs/autograd.md", "exec"), {})
    assert "backward gives" in capsys.readouterr().out   # the wrong Softplus was caught


def test_gradcheck_leaves_grad_as_it_found_it():
    # A backward after gradcheck must add onto the caller's gradient, not the checker's.
    x = mt.tensor(np.linspace(-3, 3, 7), requires_grad=True)
    assert gradcheck(lambda a: (a * a).sum(), x)
    assert x.grad is None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * np.linspace(-3, 3, 7))
    before = x.grad.copy()
    assert gradcheck(lambda a: a.exp(), x)
    np.testing.assert_array_equal(x.grad, before)


def test_gradcheck_restores_grad_when_it_fails():
    x = mt.tensor(np.linspace(-1, 1, 5), requires_grad=True)
    with pytest.raises(GradcheckError):
        gradcheck(WrongCube.apply, x)
    assert x.grad is None
