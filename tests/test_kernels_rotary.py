"""rotary_embedding: Numba kernel == NumPy twin, transformers' LLaMA rotation (forward and
gradient), gradients by finite differences, the backward as the inverse rotation,
relative positions, errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx.kernels import rotary as rot
from minitx.nn import functional as F
from minitx.testing import gradcheck
from tests.kernel_strategies import DTYPES, arrays

BACKENDS = ["numba", "numpy"]


@st.composite
def problems(draw, dtype=np.float64):
    """x (B, NH, T, HS) with HS even, position_ids (T,) or (B, T), a base, upstream grad dy;
    dtype may be a strategy."""
    dtype = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    B, NH, T = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 6))
    HS = 2 * draw(st.integers(1, 5))
    x = draw(arrays((B, NH, T, HS), dtype))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    shape = draw(st.sampled_from([(T,), (B, T)]))
    pos = np.random.default_rng(seed).integers(0, draw(st.sampled_from([T, 64, 2048])), size=shape)
    base = draw(st.sampled_from([10000.0, 500.0, 10.0]))
    dy = draw(arrays((B, NH, T, HS), dtype))
    return x, pos, base, dy


def llama(x, pos, base):
    """transformers' LLaMA rotation on torch float64: cos, sin as LlamaRotaryEmbedding makes
    them (inv_freq = 1 / base^(arange(0, HS, 2) / HS), cat(freqs, freqs)), then its own
    apply_rotary_pos_emb."""
    torch = pytest.importorskip("torch")
    modeling_llama = pytest.importorskip("transformers.models.llama.modeling_llama")
    B, NH, T, HS = x.shape
    inv_freq = 1.0 / base ** (torch.arange(0, HS, 2, dtype=torch.float64) / HS)
    pos = torch.from_numpy(np.broadcast_to(pos, (B, T)).copy()).double()      # (B, T)
    freqs = pos[..., None] * inv_freq                                          # (B, T, HS/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    q, _ = modeling_llama.apply_rotary_pos_emb(x, x, emb.cos(), emb.sin())    # cos (B, 1, T, HS) inside
    return q


@given(problems(dtype=DTYPES), st.booleans())
def test_numba_matches_numpy_twin(p, strided):
    """On a contiguous x and on a head view strided out of a (B, T, 3, NH, HS) array, as
    SelfAttention hands it over."""
    x, pos, base, dy = p
    if strided:
        B, NH, T, HS = x.shape
        qkv = np.zeros((B, T, 3, NH, HS), x.dtype)
        qkv[:, :, 1] = x.transpose(0, 2, 1, 3)
        x = qkv[:, :, 1].transpose(0, 2, 1, 3)
    cos, sin = rot.rotary_cos_sin(pos, x.shape[-1], base, x.dtype)
    if pos.ndim == 2:
        cos, sin = cos[:, None], sin[:, None]
    for fn, a in ((rot.rotary_forward, x), (rot.rotary_backward, dy)):
        out = fn.numba(a, cos, sin)
        assert out.dtype == x.dtype and out.shape == x.shape
        np.testing.assert_array_equal(out, fn.numpy(a, cos, sin))   # the same products and sums


@pytest.mark.parametrize("backend", BACKENDS)
@given(p=problems())
def test_matches_llamas_apply_rotary_pos_emb_forward_and_gradient(backend, p):
    torch = pytest.importorskip("torch")
    x, pos, base, dy = p
    xt = torch.from_numpy(x).requires_grad_()
    ref = llama(xt, pos, base)
    ref.backward(torch.from_numpy(dy))
    xm = mt.Tensor(x, requires_grad=True)
    with mt.use_backend(backend):
        out = F.rotary_embedding(xm, pos, base)
        out.backward(dy)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_cos_sin_are_llamas_rotary_embedding():
    """rope_base is LLaMA's rope_theta: the same inv_freq and angles as LlamaRotaryEmbedding
    (which works in float32)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    NH, HS, base = 2, 12, 500.0
    cfg = transformers.LlamaConfig(hidden_size=NH * HS, num_attention_heads=NH, rope_theta=base)
    pos = np.array([[0, 1, 5, 30, 200]])
    cos, sin = LlamaRotaryEmbedding(cfg)(torch.zeros(1, dtype=torch.float32), torch.from_numpy(pos))
    mine = rot.rotary_cos_sin(pos, HS, base, np.float32)
    np.testing.assert_allclose(mine[0], cos.numpy(), atol=1e-4)
    np.testing.assert_allclose(mine[1], sin.numpy(), atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@given(p=problems())
def test_gradcheck(backend, p):
    x, pos, base, _ = p
    with mt.use_backend(backend):
        assert gradcheck(lambda t: F.rotary_embedding(t, pos, base), mt.Tensor(x, requires_grad=True))


@pytest.mark.parametrize("backend", BACKENDS)
@given(p=problems())
def test_backward_is_the_inverse_rotation(backend, p):
    """Rotating by p then by -p gives x back, and the gradient of rotate(x, p) is dy
    rotated by -p: the transpose of a rotation is its inverse."""
    x, pos, base, dy = p
    with mt.use_backend(backend):
        back = F.rotary_embedding(F.rotary_embedding(x, pos, base), -pos, base).data
        xm = mt.Tensor(x, requires_grad=True)
        F.rotary_embedding(xm, pos, base).backward(dy)
        undone = F.rotary_embedding(dy, -pos, base).data
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xm.grad, undone, rtol=1e-12, atol=1e-12)


@given(problems(), st.integers(-50, 50))
def test_scores_depend_only_on_the_distance(p, shift):
    """q_m . k_n after rotation is a function of m - n: shifting every position by the
    same amount leaves q k^T unchanged (the point of rotating both)."""
    x, pos, base, dy = p
    q, k = x, dy                                                   # any two (B, NH, T, HS)
    scores = [F.rotary_embedding(q, pos + s, base).data @ F.rotary_embedding(k, pos + s, base).data.swapaxes(-1, -2)
              for s in (0, shift)]
    np.testing.assert_allclose(scores[1], scores[0], rtol=1e-9, atol=1e-9)


def test_position_zero_is_the_identity_and_a_pair_turns_by_its_angle():
    x = np.arange(1.0, 9.0).reshape(1, 1, 1, 8)                    # HS = 8: pairs (i, i + 4)
    np.testing.assert_array_equal(F.rotary_embedding(x, [0]).data, x)
    y = F.rotary_embedding(x, [3], base=100.0).data[0, 0, 0]
    for i in range(4):
        a = 3 / 100.0 ** (2 * i / 8)
        x1, x2 = x[0, 0, 0, i], x[0, 0, 0, i + 4]
        np.testing.assert_allclose([y[i], y[i + 4]], [x1 * np.cos(a) - x2 * np.sin(a),
                                                       x2 * np.cos(a) + x1 * np.sin(a)], rtol=1e-14)


@given(problems(dtype=np.float32))
def test_float32_follows_float64(p):
    x, pos, base, _ = p
    out = F.rotary_embedding(x, pos, base)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, F.rotary_embedding(x.astype(np.float64), pos, base).data,
                               rtol=1e-5, atol=1e-5 * np.abs(x).max())


@pytest.mark.parametrize("shape, pos, kwargs, error, words", [
    ((1, 2, 3, 5), [0, 1, 2], {}, ValueError, "head size HS must be even (channels rotate in pairs), got 5"),
    ((2, 3, 4), [0, 1, 2], {}, ValueError, "want x (B, NH, T, HS), got shape (2, 3, 4)"),
    ((1, 2, 3, 4), [0, 1], {}, ValueError, "position_ids of shape (2,), want (T,) = (3,) or (B, T) = (1, 3)"),
    ((1, 2, 3, 4), [0, 1, 2], dict(base=0.0), ValueError, "base must be positive, got 0.0"),
])
def test_errors_name_the_bad_values(shape, pos, kwargs, error, words):
    with pytest.raises(error) as info:
        F.rotary_embedding(np.zeros(shape), pos, **kwargs)
    assert words in str(info.value)


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="int64"):
        F.rotary_embedding(np.zeros((1, 1, 2, 4), np.int64), [0, 1])
