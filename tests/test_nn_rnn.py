"""nn.RNN, nn.LSTM, nn.GRU against torch.nn's: outputs, final states and every gradient in
float64 with torch's weights loaded by name; init, dropout, unbatched input, errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx import nn

torch = pytest.importorskip("torch", reason="parity tests compare with PyTorch")

BACKENDS = ["numba", "numpy"]
TOL = dict(rtol=1e-10, atol=1e-10)
# (minitx class, torch class, constructor keywords): every recurrence and both RNN activations.
KINDS = {"rnn_tanh": (nn.RNN, torch.nn.RNN, {}), "rnn_relu": (nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTM, torch.nn.LSTM, {}), "gru": (nn.GRU, torch.nn.GRU, {})}
I, H, L, T, B = 3, 5, 2, 6, 4


def _pair(kind, I=I, H=H, L=L, **kw):
    """A torch layer (float64, seeded) and a minitx layer holding its weights, loaded by name."""
    ours, theirs, extra = KINDS[kind]
    torch.manual_seed(0)
    ref = theirs(I, H, num_layers=L, dtype=torch.float64, **extra, **kw)
    mine = ours(I, H, num_layers=L, dtype=np.float64, **extra, **kw)
    mine.load_state_dict({k: v.detach().numpy().copy() for k, v in ref.state_dict().items()})
    return mine, ref


def _states(kind, rng, batched=True):
    n = 2 if kind == "lstm" else 1
    return [rng.standard_normal((L, B, H) if batched else (L, H)) for _ in range(n)]


def _hx(states, wrap):
    if not states:
        return None
    hx = [wrap(s) for s in states]
    return tuple(hx) if len(hx) == 2 else hx[0]


def _flat(result):
    """(output, h_n) or (output, (h_n, c_n)) -> [output, h_n(, c_n)]."""
    out, last = result
    return [out, *(last if isinstance(last, tuple) else (last,))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("initial_state", [True, False])
def test_matches_torch_with_every_gradient(backend, kind, batch_first, bias, initial_state):
    mine, ref = _pair(kind, bias=bias, batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I))
    states = _states(kind, rng) if initial_state else []
    xs, hs = mt.Tensor(x, requires_grad=True), [mt.Tensor(s, requires_grad=True) for s in states]
    xt, ht = torch.tensor(x, requires_grad=True), [torch.tensor(s, requires_grad=True) for s in states]
    with mt.use_backend(backend):
        got = _flat(mine(xs, _hx(hs, lambda s: s)))
    want = _flat(ref(xt, _hx(ht, lambda s: s)))
    # Every result enters the loss with a cotangent of its own: h_n and c_n are not only
    # read through the output.
    cots = [rng.standard_normal(w.shape) for w in want]
    loss = sum((g * mt.Tensor(c)).sum() for g, c in zip(got, cots))
    with mt.use_backend(backend):
        loss.backward()
    sum((w * torch.tensor(c)).sum() for w, c in zip(want, cots)).backward()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.data, w.detach().numpy(), **TOL)
    theirs = dict(ref.named_parameters())
    assert sorted(n for n, _ in mine.named_parameters()) == sorted(theirs)
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[name].grad.numpy(), **TOL, err_msg=name)
    for a, b in zip([xs, *hs], [xt, *ht]):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **TOL)


@pytest.mark.parametrize("kind", KINDS)
@given(T=st.integers(1, 9), B=st.integers(1, 4), I=st.integers(1, 6), H=st.integers(1, 7),
       L=st.integers(1, 3), seed=st.integers(0, 2 ** 32 - 1))
def test_drawn_shapes_match_torch(kind, T, B, I, H, L, seed):
    mine, ref = _pair(kind, I=I, H=H, L=L)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I))
    xs, xt = mt.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = _flat(mine(xs)), _flat(ref(xt))
    cots = [rng.standard_normal(w.shape) for w in want]
    sum((g * mt.Tensor(c)).sum() for g, c in zip(got, cots)).backward()
    sum((w * torch.tensor(c)).sum() for w, c in zip(want, cots)).backward()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.data, w.detach().numpy(), **TOL)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **TOL)
    theirs = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[name].grad.numpy(), **TOL, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_float32_matches_torch(backend, kind):
    """float32 end to end: the layer's default dtype, against torch's float32 (both round
    at every step, in different orders)."""
    ours, theirs, extra = KINDS[kind]
    torch.manual_seed(0)
    ref = theirs(I, H, num_layers=L, batch_first=True, **extra)
    mine = ours(I, H, num_layers=L, batch_first=True, **extra)
    mine.load_state_dict({k: v.detach().numpy().copy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(6).standard_normal((B, T, I)).astype(np.float32)
    xs, xt = mt.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with mt.use_backend(backend):
        got = _flat(mine(xs))
        sum(g.sum() for g in got).backward()
    want = _flat(ref(xt))
    sum(w.sum() for w in want).backward()
    tol = dict(rtol=1e-4, atol=1e-5)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g.data, w.detach().numpy(), **tol)
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **tol)
    theirs = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[name].grad.numpy(), **tol, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_unbatched_input_matches_torch(kind):
    mine, ref = _pair(kind)
    rng = np.random.default_rng(2)
    x, states = rng.standard_normal((T, I)), _states(kind, rng, batched=False)
    got = _flat(mine(mt.Tensor(x), _hx(states, mt.Tensor)))
    want = _flat(ref(torch.tensor(x), _hx(states, torch.tensor)))
    assert [g.shape for g in got] == [tuple(w.shape) for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.data, w.detach().numpy(), **TOL)


@pytest.mark.parametrize("kind", KINDS)
def test_init_is_torchs_uniform_from_the_seeded_generator(kind):
    ours, _, extra = KINDS[kind]
    mt.manual_seed(3)
    a = ours(I, 64, num_layers=2, **extra)
    mt.manual_seed(3)
    b = ours(I, 64, num_layers=2, **extra)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.data, q.data)      # the same seed, the same weights
        bound = 1 / math.sqrt(64)
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.9 * bound, name
    gates = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[kind]
    assert a.weight_ih_l0.shape == (gates * 64, I) and a.weight_ih_l1.shape == (gates * 64, 64)


def test_dropout_between_layers_only_while_training():
    mt.manual_seed(4)
    m = nn.LSTM(I, H, num_layers=3, dropout=0.5, dtype=np.float64)
    x = mt.Tensor(np.random.default_rng(5).standard_normal((T, B, I)))
    m.eval()
    out_eval = m(x)[0].data
    np.testing.assert_array_equal(m(x)[0].data, out_eval)
    m.train()
    out_train = m(x)[0].data
    assert not np.allclose(out_train, out_eval)
    # The last layer's output is not dropped: no zero in it (tanh * sigmoid of
    # random inputs is never exactly 0), while layers below see half their inputs zeroed.
    assert np.count_nonzero(out_train) == out_train.size
    single = nn.LSTM(I, H, num_layers=1, dropout=0.5, dtype=np.float64)   # no layer below to drop
    train_out = single(x)[0].data
    single.eval()
    np.testing.assert_array_equal(train_out, single(x)[0].data)


@pytest.mark.parametrize("kind", KINDS)
def test_errors_name_the_shapes(kind):
    ours, _, extra = KINDS[kind]
    m = ours(I, H, num_layers=L, **extra)
    name = ours.__name__
    with pytest.raises(ValueError, match=rf"{name}: input of shape \(6, 4, 7\), want \(T, B, 3\)"):
        m(mt.Tensor(np.zeros((T, B, 7), np.float32)))
    with pytest.raises(ValueError, match=rf"{name}: input of shape \(6,\)"):
        m(mt.Tensor(np.zeros(T, np.float32)))
    with pytest.raises(TypeError, match=rf"{name}: input of shape \(6, 4, 3\) has dtype float64; "
                                        r"the layer's is float32"):
        m(mt.Tensor(np.zeros((T, B, I))))
    x = mt.Tensor(np.zeros((T, B, I), np.float32))
    bad = np.zeros((L, B + 1, H), np.float32)
    hx = (bad, np.zeros((L, B, H), np.float32)) if kind == "lstm" else bad
    with pytest.raises(ValueError, match=rf"{name}: h_0 of shape \(2, 5, 5\), want "
                                         r"\(num_layers, B, H\) = \(2, 4, 5\)"):
        m(x, hx)
    good = np.zeros((L, B, H), np.float32)
    hx = (good, good.astype(np.float64)) if kind == "lstm" else good.astype(np.float64)
    with pytest.raises(TypeError, match=rf"{name}: (h|c)_0 of shape \(2, 4, 5\) has dtype float64"):
        m(x, hx)
    with pytest.raises(ValueError, match=rf"{name}: hidden_size must be a positive integer, got 0"):
        ours(I, 0, **extra)


def test_rnn_refuses_an_unknown_nonlinearity_and_lstm_a_lone_state():
    with pytest.raises(ValueError, match="RNN: unknown nonlinearity 'sigmoid'"):
        nn.RNN(I, H, nonlinearity="sigmoid")
    m = nn.LSTM(I, H)
    with pytest.raises(ValueError, match=r"LSTM: hx has 1 tensor\(s\); want the tuple \(h_0, c_0\)"):
        m(mt.Tensor(np.zeros((T, B, I), np.float32)), mt.Tensor(np.zeros((1, B, H), np.float32)))
