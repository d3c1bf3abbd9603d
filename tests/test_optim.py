"""Optimizers, schedules and clipping against hand-worked values (no PyTorch needed).

Trajectories against torch.optim are in test_optim_parity.py.
"""
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitx as mt
from minitx import optim
from minitx.optim import lr_scheduler


def param(values, dtype=np.float64):
    return mt.tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---- one step by hand -------------------------------------------------------

def test_sgd_momentum_and_nesterov_by_hand():
    # constant grad 1, lr 0.1, momentum 0.9: buf = 1 then 1.9
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    for _ in range(2):
        p.grad = np.ones(1)
        opt.step()
    np.testing.assert_allclose(p.data, [1 - 0.1 - 0.19])
    # nesterov looks ahead: g + momentum * buf = 1 + 0.9
    q = param([1.0])
    opt = optim.SGD([q], lr=0.1, momentum=0.9, nesterov=True)
    q.grad = np.ones(1)
    opt.step()
    np.testing.assert_allclose(q.data, [1 - 0.19])


def test_sgd_dampening_and_weight_decay_by_hand():
    p = param([2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.5, dampening=0.5, weight_decay=0.25)
    p.grad = np.ones(1)
    opt.step()  # g = 1 + 0.25 * 2 = 1.5; the first buf is g itself, undamped
    assert p.data[0] == pytest.approx(2 - 0.15)
    p.grad = np.ones(1)
    opt.step()  # g = 1 + 0.25 * 1.85; buf = 0.5 * 1.5 + 0.5 * g
    g = 1 + 0.25 * 1.85
    assert p.data[0] == pytest.approx(1.85 - 0.1 * (0.75 + 0.5 * g))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(g=st.floats(-3, 3).filter(lambda x: abs(x) > 1e-3), lr=st.floats(1e-4, 0.1),
       wd=st.floats(0, 0.2), eps=st.floats(1e-8, 1e-2))
def test_adam_first_step_by_hand(dtype, g, lr, wd, eps):
    """Bias correction makes the first step lr * g / (|g| + eps) whatever the betas."""
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    x0 = 0.5
    for name, decoupled in (("Adam", False), ("AdamW", True)):
        p = param([x0], dtype)
        opt = getattr(optim, name)([p], lr=lr, betas=(0.8, 0.95), eps=eps, weight_decay=wd)
        p.grad = np.array([g], dtype)
        opt.step()
        # float32 rounds g before we see it; the L2 term lands in g, decoupled decay in p
        gg = float(np.float32(g)) if dtype == np.float32 else g
        gg = gg if decoupled else gg + wd * x0
        start = x0 * (1 - lr * wd) if decoupled else x0
        np.testing.assert_allclose(p.data, [start - lr * gg / (abs(gg) + eps)], rtol=rtol)
        assert p.data.dtype == dtype


def test_amsgrad_keeps_the_largest_second_moment():
    p = param([0.0])
    opt = optim.Adam([p], lr=0.1, betas=(0.0, 0.5), amsgrad=True)
    v = vmax = 0.0
    for g in [4.0, 1.0, 0.5]:
        p.grad = np.array([g])
        opt.step()
        v = 0.5 * v + 0.5 * g * g
        vmax = max(vmax, v)
    state = opt.state[p]
    np.testing.assert_allclose(state["exp_avg_sq"], [v])
    np.testing.assert_allclose(state["max_exp_avg_sq"], [vmax])
    assert vmax > v


# ---- groups, skipping, zero_grad -----------------------------------------------

def test_param_groups_fill_defaults_and_decay_separately():
    w, b = param([1.0, 1.0]), param([1.0])
    opt = optim.AdamW([{"params": [w]}, {"params": [b], "weight_decay": 0.0}], lr=0.1,
                      weight_decay=0.5)
    assert opt.param_groups[0]["weight_decay"] == 0.5
    assert opt.param_groups[1]["betas"] == (0.9, 0.999) and opt.param_groups[1]["lr"] == 0.1
    w.grad, b.grad = np.zeros(2), np.zeros(1)
    opt.step()  # zero grads: only decoupled decay moves anything
    np.testing.assert_allclose(w.data, [0.95, 0.95])
    np.testing.assert_allclose(b.data, [1.0])


def test_param_without_grad_is_skipped_and_keeps_its_step_count():
    a, b = param([1.0]), param([1.0])
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(1)
    opt.step()
    assert b.data[0] == 1.0 and b not in opt.state
    b.grad = np.ones(1)
    opt.step()
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1
    assert b.data[0] == pytest.approx(1 - 0.1, rel=1e-6)  # b's first step, bias-corrected


def test_zero_grad():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    p.grad = np.ones(2)
    kept = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is kept and not p.grad.any()
    opt.zero_grad()
    assert p.grad is None


def test_training_a_tiny_model_through_autograd():
    """A least-squares fit through Tensor ops: AdamW with a cosine schedule finds the optimum."""
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((32, 3)))
    y = mt.tensor(rng.standard_normal((32, 3)) @ np.array([[1.0], [-2.0], [0.5]]))
    w = mt.tensor(np.zeros((3, 1)), requires_grad=True)
    opt = optim.AdamW([w], lr=0.1, weight_decay=0.0)
    sched = lr_scheduler.WarmupCosineLR(opt, warmup_steps=10, max_steps=300)
    for _ in range(300):
        opt.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    best = np.linalg.lstsq(x.data, y.data, rcond=None)[0]
    np.testing.assert_allclose(w.data, best, atol=1e-3)


# ---- state_dict ---------------------------------------------------------------

def _run(opt, params, steps, seed):
    rng = np.random.default_rng(seed)
    for t in range(steps):
        for i, p in enumerate(params):
            p.grad = None if (i == 1 and t % 2) else rng.standard_normal(p.shape)
        opt.step()


OPTIMIZERS = [("AdamW", dict(lr=0.01, amsgrad=True)), ("Adam", dict(lr=0.01, weight_decay=0.1)),
              ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True))]


@pytest.mark.parametrize("name,kw", OPTIMIZERS)
def test_state_dict_round_trip_through_safetensors_and_json_continues_identically(name, kw, tmp_path):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    shapes = [(3, 4), (4,), (2, 2)]
    make = lambda ps: getattr(optim, name)(  # noqa: E731
        [{"params": ps[:2]}, {"params": ps[2:], "weight_decay": 0.0}], **kw)
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s) for s in shapes]

    straight = [mt.tensor(a.copy(), requires_grad=True) for a in start]
    opt = make(straight)
    _run(opt, straight, 10, seed=1)
    saved = opt.state_dict()
    weights = [p.data.copy() for p in straight]
    _run(opt, straight, 10, seed=2)

    # what a checkpoint does: arrays to safetensors, the rest to JSON
    arrays = {f"{i}.{k}": v for i, s in saved["state"].items() for k, v in s.items()
              if isinstance(v, np.ndarray)}
    rest = {"param_groups": saved["param_groups"],
            "state": {i: {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
                      for i, s in saved["state"].items()}}
    safetensors_numpy.save_file(arrays, tmp_path / "optim.safetensors")
    (tmp_path / "optim.json").write_text(json.dumps(rest))
    loaded = json.loads((tmp_path / "optim.json").read_text())
    for key, value in safetensors_numpy.load_file(tmp_path / "optim.safetensors").items():
        i, k = key.split(".", 1)
        loaded["state"].setdefault(i, {})[k] = value

    resumed = [mt.tensor(w, requires_grad=True) for w in weights]
    opt2 = make(resumed)
    opt2.load_state_dict(loaded)
    _run(opt2, resumed, 10, seed=2)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_is_a_snapshot():
    p = param([1.0, 2.0])
    opt = optim.Adam([p])
    p.grad = np.ones(2)
    opt.step()
    saved = opt.state_dict()
    opt.step()
    assert saved["state"][0]["step"] == 1
    assert not np.shares_memory(saved["state"][0]["exp_avg"], opt.state[p]["exp_avg"])


def _adam_state(shape=(2, 3)):
    p = mt.tensor(np.ones(shape), requires_grad=True)
    opt = optim.Adam([p])
    p.grad = np.ones(shape)
    opt.step()
    return opt.state_dict()


def test_load_state_dict_names_a_wrong_shape():
    saved = _adam_state((2, 3))
    opt = optim.Adam([mt.tensor(np.ones((3, 2)), requires_grad=True)])
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 0 has shape \(2, 3\).*\(3, 2\)"):
        opt.load_state_dict(saved)


def test_load_state_dict_names_missing_state_and_groups():
    saved = _adam_state()
    amsgrad = optim.Adam([mt.tensor(np.ones((2, 3)), requires_grad=True)], amsgrad=True)
    saved_ams = {**saved, "param_groups": [{**saved["param_groups"][0], "amsgrad": True}]}
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        amsgrad.load_state_dict(saved_ams)
    sgd = optim.SGD([mt.tensor(np.ones((2, 3)), requires_grad=True)], momentum=0.9)
    with pytest.raises(ValueError, match=r"lacks \['dampening', 'momentum', 'nesterov'\]"):
        sgd.load_state_dict(saved)
    two = optim.Adam([mt.tensor(np.ones((2, 3)), requires_grad=True),
                      mt.tensor(np.ones(1), requires_grad=True)])
    with pytest.raises(ValueError, match="group 0 has 1 parameters in the saved state, 2 here"):
        two.load_state_dict(saved)
    with pytest.raises(ValueError, match="2 param groups"):
        two.load_state_dict({**saved, "param_groups": saved["param_groups"] * 2})


def test_load_state_dict_restores_hyperparameters():
    p = param([1.0])
    opt = optim.Adam([p], lr=0.5)
    opt.load_state_dict(_adam_state((1,)))
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[0]["params"] == [p]


# ---- errors -------------------------------------------------------------------

@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), "lr=-0.1"),
    (lambda p: optim.SGD(p, momentum=-0.5), "momentum=-0.5"),
    (lambda p: optim.SGD(p, weight_decay=-1.0), "weight_decay=-1.0"),
    (lambda p: optim.SGD(p, momentum=0.0, nesterov=True), "nesterov.*momentum=0.0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
    (lambda p: optim.Adam(p, lr=-1e-3), "lr=-0.001"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\]=1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), r"AdamW: betas\[1\]=-0.1"),
    (lambda p: optim.AdamW(p, betas=(0.9,)), r"betas=\(0.9,\)"),
    (lambda p: optim.Adam(p, eps=-1e-8), "eps=-1e-08"),
    (lambda p: optim.AdamW(p, weight_decay=-0.01), "weight_decay=-0.01"),
    (lambda p: optim.AdamW([{"params": p, "lr": float("nan")}]), "lr=nan"),
])
def test_bad_hyperparameters_raise_naming_the_value(make, match):
    with pytest.raises(ValueError, match=match):
        make([param([1.0])])


def test_bad_params_raise():
    p = param([1.0])
    with pytest.raises(TypeError, match="not one Tensor"):
        optim.SGD(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="non-leaf"):
        optim.Adam([p * 2])
    with pytest.raises(TypeError, match="ndarray"):
        optim.Adam([np.ones(2)])


# ---- schedules ----------------------------------------------------------------

def test_warmup_cosine_closed_form():
    f = lambda s: lr_scheduler.warmup_cosine_lr(s, 1.0, 4, 14, min_lr=0.1)  # noqa: E731
    assert [f(s) for s in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert f(4) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.55)  # halfway: the mean of lr and min_lr
    assert f(4 + 10 / 3) == pytest.approx(0.1 + 0.9 * 0.75)  # cos(pi/3) = 1/2
    assert f(14) == pytest.approx(0.1) and f(1000) == 0.1


def test_warmup_linear_and_constant_closed_form():
    f = lambda s: lr_scheduler.warmup_linear_lr(s, 2.0, 1, 11, min_lr=0.0)  # noqa: E731
    assert [f(s) for s in (0, 1, 6, 11, 50)] == pytest.approx([1.0, 2.0, 1.0, 0.0, 0.0])
    g = lambda s: lr_scheduler.warmup_constant_lr(s, 3.0, 2)  # noqa: E731
    assert [g(s) for s in (0, 1, 2, 100)] == pytest.approx([1.0, 2.0, 3.0, 3.0])
    assert lr_scheduler.warmup_constant_lr(0, 3.0) == 3.0


@given(warmup=st.integers(0, 20), decay=st.integers(1, 50), lr=st.floats(1e-5, 1.0),
       frac=st.floats(0.0, 1.0))
def test_decays_are_monotone_between_lr_and_floor(warmup, decay, lr, frac):
    min_lr = lr * frac
    for f in (lr_scheduler.warmup_cosine_lr, lr_scheduler.warmup_linear_lr):
        lrs = [f(s, lr, warmup, warmup + decay, min_lr) for s in range(warmup + decay + 3)]
        assert all(a <= b * (1 + 1e-12) for a, b in zip(lrs[:warmup], lrs[1:warmup + 1]))
        assert all(a >= b * (1 - 1e-12) for a, b in zip(lrs[warmup:], lrs[warmup + 1:]))
        assert max(lrs) == pytest.approx(lr) and lrs[-1] == min_lr


def test_scheduler_sets_every_group_and_resumes_from_state_dict():
    def make():
        opt = optim.AdamW([{"params": [param([1.0])]}, {"params": [param([1.0])], "lr": 0.5}],
                          lr=1.0)
        return opt, lr_scheduler.WarmupCosineLR(opt, warmup_steps=2, max_steps=10, min_lr=0.1)

    opt, sched = make()
    assert sched.get_last_lr() == pytest.approx([1 / 3, 0.5 / 3])
    for _ in range(5):
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))
    opt2, sched2 = make()
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 5 and sched2.get_last_lr() == sched.get_last_lr()
    expected = [lr_scheduler.warmup_cosine_lr(5, base, 2, 10, 0.1) for base in (1.0, 0.5)]
    assert [g["lr"] for g in opt2.param_groups] == pytest.approx(expected)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_scheduler_errors():
    opt = optim.SGD([param([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="max_steps=5 must be > warmup_steps=5"):
        lr_scheduler.WarmupCosineLR(opt, 5, 5)
    with pytest.raises(ValueError, match="warmup_steps=-1"):
        lr_scheduler.WarmupConstantLR(opt, -1)
    linear = lr_scheduler.WarmupLinearLR(opt, 0, 10)
    with pytest.raises(ValueError, match="WarmupConstantLR.load_state_dict: keys"):
        lr_scheduler.WarmupConstantLR(opt).load_state_dict(linear.state_dict())


# ---- clipping -----------------------------------------------------------------

def test_clip_grad_norm_by_hand():
    a, b = param([0.0, 0.0]), param([0.0])
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = optim.clip_grad_norm_([a, b], max_norm=1.0)
    assert total == 5.0 and isinstance(total, float)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad, [3 * scale, 0.0])
    np.testing.assert_allclose(b.grad, [4 * scale])
    # below max_norm: grads untouched
    assert optim.clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0)
    np.testing.assert_allclose(b.grad, [4 * scale])


def test_clip_grad_norm_inf_one_tensor_and_no_grads():
    p = param([0.0, 0.0, 0.0])
    p.grad = np.array([1.0, -7.0, 2.0])
    assert optim.clip_grad_norm_(p, max_norm=3.5, norm_type="inf") == 7.0
    np.testing.assert_allclose(p.grad, np.array([1.0, -7.0, 2.0]) * 3.5 / (7 + 1e-6))
    q = param([1.0])
    assert optim.clip_grad_norm_([q], 1.0) == 0.0 and q.grad is None


def test_clip_grad_norm_nonfinite():
    p = param([0.0, 0.0])
    p.grad = np.array([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="norm of order 2.0 of the gradients is inf"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    p.grad = np.array([np.nan, 1.0])
    assert math.isnan(optim.clip_grad_norm_([p], 1.0))
    assert np.isnan(p.grad).all()  # NaN spreads to every grad, as in torch
