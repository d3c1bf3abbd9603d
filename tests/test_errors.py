"""Bad input fails loudly, and the message names the values at fault."""
import re

import numpy as np
import pytest

import minitx as mt


def _names(*shapes):
    """A regex matching a message that mentions every shape, in order."""
    return ".*".join(re.escape(str(s)) for s in shapes)


@pytest.mark.parametrize("op", [mt.add, mt.sub, mt.mul, mt.div, mt.pow])
def test_elementwise_shape_mismatch(op):
    with pytest.raises(ValueError, match=op.__name__ + ".*" + _names((2, 3), (4,))):
        op(mt.ones(2, 3), mt.ones(4))


def test_operator_shape_mismatch():
    with pytest.raises(ValueError, match=_names((3,), (2,))):
        mt.ones(3) + mt.ones(2)
    with pytest.raises(ValueError, match=_names((3,), (2, 1, 2))):
        mt.ones(3) * np.ones((2, 1, 2))


@pytest.mark.parametrize("sa, sb", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 2, 3), (3, 3, 1)), ((5,), (4, 2))])
def test_matmul_shape_mismatch(sa, sb):
    with pytest.raises(ValueError, match="matmul.*" + _names(sa, sb)):
        mt.ones(sa) @ mt.ones(sb)


def test_matmul_of_a_0d_tensor():
    with pytest.raises(ValueError, match="matmul.*" + _names((), (3,))):
        mt.matmul(mt.tensor(1.0), mt.ones(3))


def test_cat_shape_mismatch():
    with pytest.raises(ValueError, match="cat.*" + _names((2, 3), (2, 4))):
        mt.cat([mt.ones(2, 3), mt.ones(2, 4)], dim=0)
    with pytest.raises(ValueError, match="cat.*" + _names((2, 3), (3,))):
        mt.cat([mt.ones(2, 3), mt.ones(3)])
    with pytest.raises(ValueError, match="cat"):
        mt.cat([])


def test_stack_shape_mismatch():
    with pytest.raises(ValueError, match="stack.*" + _names((2, 3), (3, 2))):
        mt.stack([mt.ones(2, 3), mt.ones(3, 2)])
    with pytest.raises(ValueError, match="stack"):
        mt.stack([])


def test_where_shape_mismatch():
    with pytest.raises(ValueError, match="where.*" + _names((2,), (3,), (3,))):
        mt.where(mt.tensor([True, False]), mt.ones(3), mt.ones(3))


def test_masked_fill_shape_mismatch():
    with pytest.raises(ValueError, match="masked_fill.*" + _names((2, 3), (3, 3))):
        mt.ones(2, 3).masked_fill(mt.tensor(np.ones((3, 3), bool)), 0.0)
    # a mask may broadcast to the tensor, not the other way round
    with pytest.raises(ValueError, match="masked_fill.*" + _names((2, 3), (3,))):
        mt.ones(3).masked_fill(mt.tensor(np.ones((2, 3), bool)), 0.0)


def test_reshape_shape_mismatch():
    with pytest.raises(ValueError, match="reshape.*" + _names((2, 3)) + ".*6.*" + _names((4, 2))):
        mt.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="view"):
        mt.ones(2, 3).view(5, -1)


def test_expand_mismatch():
    with pytest.raises(ValueError, match="expand.*" + _names((2, 3), (4, 3))):
        mt.ones(2, 3).expand(4, 3)
    with pytest.raises(ValueError, match="expand.*" + _names((2, 3), (3,))):
        mt.ones(2, 3).expand(3)
    with pytest.raises(ValueError, match="expand.*-1"):
        mt.ones(3).expand(-1, 3)


def test_split_sizes_that_do_not_add_up():
    with pytest.raises(ValueError, match=r"split.*\[2, 2\].*5"):
        mt.ones(5).split([2, 2])
    with pytest.raises(ValueError, match="split.*0"):
        mt.ones(5).split(0)


def test_chunk_needs_a_positive_count():
    with pytest.raises(ValueError, match="chunk.*0"):
        mt.ones(4).chunk(0)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_requires_grad_on_an_integer_tensor(dtype):
    with pytest.raises(TypeError, match="floating"):
        mt.tensor(np.zeros(2, dtype), requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        mt.zeros(2, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("call", [
    lambda x: x.sum(dim=3), lambda x: x.mean(dim=-4), lambda x: x.var(dim=(0, 5)),
    lambda x: x.max(dim=3), lambda x: x.transpose(0, 3), lambda x: x.permute(0, 1, 5),
    lambda x: x.unsqueeze(4), lambda x: x.squeeze(3), lambda x: x.split(1, dim=3),
    lambda x: mt.stack([x, x], dim=4), lambda x: mt.cat([x, x], dim=3), lambda x: x.flatten(0, 3),
], ids=["sum", "mean", "var", "max", "transpose", "permute", "unsqueeze", "squeeze", "split",
        "stack", "cat", "flatten"])
def test_dim_out_of_range(call):
    with pytest.raises(IndexError, match=r"dim -?\d+ is out of range \[-\d+, \d+\]"):
        call(mt.ones(2, 3, 4))


def test_repeated_dims():
    with pytest.raises(ValueError, match="repeats"):
        mt.ones(2, 3).sum(dim=(1, -1))
    with pytest.raises(ValueError, match=r"permute.*\(0, 0\)"):
        mt.ones(2, 3).permute(0, 0)


def test_max_with_a_tuple_of_dims():
    with pytest.raises(TypeError, match=r"max.*\(0, 1\)"):
        mt.ones(2, 3).max(dim=(0, 1))


def test_max_of_an_empty_tensor():
    with pytest.raises(ValueError, match=r"max.*\(0,\)"):
        mt.ones(0).max()


class TwoGrads(mt.Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, grad


class BadShape(mt.Function):
    @staticmethod
    def forward(ctx, a):
        return a.sum()

    @staticmethod
    def backward(ctx, grad):
        return np.ones(3)   # should be shaped like a


def test_a_function_returning_the_wrong_number_of_gradients():
    x = mt.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="TwoGrads.backward returned 2 gradients for 1 inputs"):
        TwoGrads.apply(x).sum().backward()


def test_a_function_returning_a_gradient_of_the_wrong_shape():
    x = mt.ones(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadShape.*\(3,\).*\(2, 2\)"):
        BadShape.apply(x).backward()


def test_bool_of_a_many_element_tensor():
    with pytest.raises(RuntimeError, match=r"ambiguous"):
        bool(mt.ones(2) > 0)


def test_len_of_a_0d_tensor():
    with pytest.raises(TypeError, match="0-d"):
        len(mt.tensor(1.0))


@pytest.mark.parametrize("data, dtype", [(["a"], "<U1"), (np.array([1 + 2j]), "complex128"),
                                         (np.array([None, 1], dtype=object), "object")])
def test_a_tensor_of_what_no_op_reads_is_refused(data, dtype):
    with pytest.raises(TypeError, match=f"dtype {dtype} .*bools, integers or floats"):
        mt.tensor(data)
    with pytest.raises(TypeError, match=f"dtype {dtype}"):
        mt.Tensor(data)


def test_generation_arguments_are_checked():
    from minitx.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=4))
    with pytest.raises(ValueError, match=r"temperature must be > 0 when sampling, got nan"):
        model.generate([[1, 2]], 3, temperature=float("nan"))
    with pytest.raises(ValueError, match=r"max_new_tokens must be an integer >= 0, got -5"):
        model.generate([[1, 2]], -5)
    with pytest.raises(ValueError, match=r"input_ids: empty \(shape \(1, 0\)\)"):
        model.generate([[]], 3)
    with pytest.raises(ValueError, match=r"the prompt is empty"):
        model.generate(np.zeros((2, 0), np.int64), 3)
    assert model.generate([[1, 2]], 0).tolist() == [[1, 2]]
