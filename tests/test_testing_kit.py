"""minitx.testing's kit: the public strategies, and check_function against seeded mutants
(each must fail, naming the check), and against correct ops (each must pass)."""
import importlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitx as mt
from minitx.backend import dispatch
from minitx.nn import functional as F
from minitx.ops._util import unbroadcast
from minitx.testing import check_function
from minitx.testing import strategies as S

N = 5  # examples per check_function call: each example runs fn a few hundred times


# ---- strategies ---------------------------------------------------------------------
@settings(max_examples=20)
@given(S.tensors(dtype=np.float32, kinks=(0.0,), margin=0.25))
def test_tensors_keep_dtype_and_stay_away_from_kinks(x):
    assert isinstance(x, mt.Tensor) and x.requires_grad and x.dtype == np.float32
    assert np.all(np.abs(x.data) >= 0.25) and np.all(np.abs(x.data) <= 3)


@settings(max_examples=20)
@given(S.broadcast_shapes(n=3))
def test_broadcast_shapes_broadcast(shapes):
    np.broadcast_shapes(*shapes)


def test_layouts_cover_transposed_strided_and_negative_steps():
    seen = set()

    @settings(max_examples=60, derandomize=True)
    @given(S.arrays((3, 4), layout=True))
    def draw(a):
        assert a.shape == (3, 4)
        if a.flags.c_contiguous:
            seen.add("contiguous")
        elif any(s < 0 for s in a.strides):
            seen.add("reversed")
        elif a.flags.f_contiguous:
            seen.add("transposed")
        else:
            seen.add("strided")

    draw()
    assert seen == {"contiguous", "transposed", "strided", "reversed"}


@settings(max_examples=30)
@given(S.attention_masks(B=2, Tq=3, Tk=5))
def test_attention_masks(mask):
    assert mask.shape == (2, 1, 3, 5) and mask.dtype == np.bool_
    empty_rows = ~mask.any(axis=-1)
    assert empty_rows.sum() <= 1      # only the masked_row kind leaves a query with no key


@settings(max_examples=10)
@given(S.attention_masks(1, 3, 5, kinds=("causal",)),
       S.attention_masks(2, 4, kinds=("masked_row",)), S.attention_masks(3, 4, kinds=("padding",)))
def test_attention_mask_kinds(causal, masked, padding):
    assert np.array_equal(causal[0, 0], np.tril(np.ones((3, 5), bool), k=2))
    assert (~masked.any(axis=-1)).sum() == 1
    assert np.all(padding[:, :, :, 0])                    # every row keeps its first key


@settings(max_examples=20)
@given(S.token_ids(V=7, shape=(4, 5), ignore_index=-100), S.padding_masks(3, 6))
def test_token_ids_and_padding_masks(ids, pad):
    assert ids.dtype == np.int64 and ids.shape == (4, 5)
    assert np.all((ids == -100) | ((ids >= 0) & (ids < 7)))
    assert pad.shape == (3, 6) and np.all(pad[:, 0] == 1)
    assert np.all(np.diff(pad, axis=1) <= 0)              # ones, then zeros


def test_hypothesis_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(sys.modules, "minitx.testing.strategies")
    with pytest.raises(ImportError, match="pip install hypothesis"):
        importlib.import_module("minitx.testing.strategies")
    with pytest.raises(ImportError, match="pip install hypothesis"):
        check_function(F.gelu, np.ones(3))


def test_importing_minitx_does_not_import_hypothesis():
    code = "import sys, minitx, minitx.testing; assert 'hypothesis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- correct ops pass -------------------------------------------------------------
class Softplus(mt.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.logaddexp(0, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * 0.5 * (1 + np.tanh(a / 2))


def test_correct_ops_pass():
    check_function(Softplus.apply, S.arrays(), reference=lambda a: np.logaddexp(0, a),
                   max_examples=N)
    check_function(lambda a, b: a * b, S.arrays((2, 3)), S.arrays((3,)), reference=np.multiply,
                   max_examples=N)
    check_function(F.gelu, S.tensors(), max_examples=N)              # a fused kernel: twin
    check_function(lambda x, t: F.cross_entropy(x, t), S.arrays((3, 5), layout=False),
                   S.token_ids(5, (3,), ignore_index=-100), max_examples=N)
    check_function(lambda x: x.relu(), S.arrays(kinks=(0.0,)), max_examples=N)


def test_torch_reference():
    torch = pytest.importorskip("torch")
    check_function(lambda x: F.softmax(x, -1), S.arrays((3, 4)),
                   reference=lambda x: torch.softmax(x, -1), max_examples=N)
    check_function(F.gelu, S.arrays((2, 3)), reference=torch.nn.functional.gelu, max_examples=N)
    with pytest.raises(AssertionError, match="check 'reference'"):
        check_function(lambda x: F.softmax(x, -1), S.arrays((3, 4)),
                       reference=lambda x: torch.softmax(x, 0), max_examples=N)


# ---- seeded mutants fail, naming the check ----------------------------------------
def fails(check, fn, *strategies, **kwargs):
    with pytest.raises(AssertionError) as info:
        check_function(fn, *strategies, max_examples=N, **kwargs)
    message = str(info.value)
    assert f"check '{check}' failed" in message, message
    assert "example:" in message and "argument 0" in message
    return message


class SoftplusOff(Softplus):  # backward off by a factor of 1.01
    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return 1.01 * grad * 0.5 * (1 + np.tanh(a / 2))


def test_mutant_backward_off_by_one_percent():
    message = fails("gradients", SoftplusOff.apply, S.arrays((2, 3)))
    assert "worst at element" in message and "backward vs finite differences" in message


class MulNoUnbroadcast(mt.Function):  # returns grad * b where b was broadcast
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a


class MulUnbroadcast(MulNoUnbroadcast):
    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return unbroadcast(grad * b, a.shape), unbroadcast(grad * a, b.shape)


def test_mutant_missing_unbroadcast():
    message = fails("gradients", MulNoUnbroadcast.apply, S.arrays((2, 3)), S.arrays((3,)))
    assert "backward returned a gradient of shape" in message
    check_function(MulUnbroadcast.apply, S.arrays((2, 3)), S.arrays((3,)), max_examples=N)


class MatmulTransposed(mt.Function):  # d a = grad @ b, where grad @ b^T is right
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad @ b, a.T @ grad


def test_mutant_transposed_gradient():
    fails("gradients", MatmulTransposed.apply, S.arrays((3, 3)), S.arrays((3, 3)))


class SoftplusFloat32Off(Softplus):  # the forward is wrong in float32 only
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        y = np.logaddexp(0, a)
        return (y * 1.001).astype(a.dtype) if a.dtype == np.float32 else y


def test_mutant_forward_wrong_in_float32_only():
    fails("float32", SoftplusFloat32Off.apply, S.arrays((2, 3)))


def _scaled_numba(x):
    return x * 2.0000001


_twice = dispatch(lambda x: x * 2.0, _scaled_numba)


class TwinOff(mt.Function):  # the Numba version differs from its twin by 5e-8
    @staticmethod
    def forward(ctx, x):
        return _twice(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0


def test_mutant_numba_version_differs_from_twin():
    fails("twin", TwinOff.apply, S.arrays((2, 3), elements=S.bounded_floats(1, 3)),
          checks=("twin",))


def test_mutant_nondeterministic():
    rng = np.random.default_rng(0)
    fails("determinism", lambda x: x * float(1 + 1e-12 * rng.random()), S.arrays((2,)),
          checks=("determinism",))


def test_mutant_against_a_numpy_reference():
    fails("reference", Softplus.apply, S.arrays((2, 2)), reference=lambda a: np.log1p(np.exp(a)) * 1.001)


def test_unknown_check_is_an_error():
    with pytest.raises(ValueError, match="unknown checks"):
        check_function(F.gelu, S.arrays(), checks=("speed",))


def test_mutant_graph_never_freed(monkeypatch):
    """An engine whose backward keeps the graph: a second backward silently adds the
    gradient again instead of raising."""
    from minitx import autograd
    monkeypatch.setattr(autograd.Context, "_release", lambda self: None)
    fails("retain_graph", Softplus.apply, S.arrays((2,)), checks=("retain_graph",))


def test_an_output_near_zero_by_cancellation_is_judged_by_the_terms_summed():
    """float32 sums 1e5 + 0.3 - 1e5 + 0.1 with an error of a few thousandths, far beyond
    the tolerance of a result of 0.4 but a rounding of the terms that cancelled."""
    x = np.array([[1e5, 0.3, -1e5, 0.1], [2.0, -1.0, 0.5, 0.25]])
    check_function(lambda a: a.sum(-1), st.just(x), max_examples=1, checks=("float32",))
    with pytest.raises(AssertionError, match="check 'float32' failed"):   # an error beyond rounding still fails
        check_function(lambda a: a.sum(-1) + (a.dtype == np.float32) * 1e-2, st.just(x), max_examples=1,
                       checks=("float32",))
