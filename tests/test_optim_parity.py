"""Optimizers, schedules and clipping against torch.optim on the same gradients.

Every trajectory runs 50 steps on a quadratic, each parameter pulled towards
its own target through its own well-conditioned matrix, plus a fixed noise
sequence, so the gradient depends on where the optimizer has taken the
parameter. One parameter has no grad on every third step (it must be skipped,
its Adam step count must not advance). float64 trajectories agree to ~1e-15;
we assert 1e-10, far tighter than the 1e-6 that float32 training would need.

beta2 is drawn from [0.5, 0.9999]: near 0, v stops averaging, a step is
lr * m / (|g| + eps), up to 1e8 * lr where g passes near 0, and the path turns
chaotic; the last-bit differences between us and torch (its lerp for m, its
fused multiply-adds) then grow to O(1) within 50 steps, which says nothing
about either side.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="parity tests need PyTorch (pip install .[parity])")

import minitx as mt  # noqa: E402
from minitx import optim  # noqa: E402
from minitx.optim import lr_scheduler  # noqa: E402

SHAPES = [(3, 4), (4,), (2,)]
STEPS = 50


def _problem(seed=0):
    """Initial values, targets and SPD matrices (eigenvalues in [0.5, 2]) of the quadratic."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    targets = [rng.standard_normal(s) for s in SHAPES]
    mats = []
    for s in SHAPES:
        n = int(np.prod(s))
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        mats.append(q @ np.diag(rng.uniform(0.5, 2.0, n)) @ q.T)
    noise = rng.standard_normal((STEPS, sum(int(np.prod(s)) for s in SHAPES))) * 0.1
    return init, targets, mats, noise


def _grads(t, values, problem):
    """Gradients at step t for parameter values (NumPy arrays); None for the skipped one."""
    _, targets, mats, noise = problem
    grads, offset = [], 0
    for i, (x, c, a) in enumerate(zip(values, targets, mats)):
        n = x.size
        g = (a @ (x - c).reshape(-1) + noise[t, offset:offset + n]).reshape(x.shape)
        offset += n
        grads.append(None if i == 2 and t % 3 == 0 else g.astype(x.dtype))
    return grads


def run_minitx(make, dtype=np.float64, groups=None, problem=None):
    problem = problem or _problem()
    params = [mt.tensor(x.astype(dtype), requires_grad=True) for x in problem[0]]
    opt = make(groups(params) if groups else params)
    path = []
    for t in range(STEPS):
        for p, g in zip(params, _grads(t, [p.data for p in params], problem)):
            p.grad = g
        opt.step()
        path.append([p.data.copy() for p in params])
    return path


def run_torch(make, dtype=np.float64, groups=None, problem=None):
    problem = problem or _problem()
    params = [torch.tensor(x.astype(dtype), requires_grad=True) for x in problem[0]]
    opt = make(groups(params) if groups else params)
    path = []
    for t in range(STEPS):
        for p, g in zip(params, _grads(t, [p.detach().numpy() for p in params], problem)):
            p.grad = None if g is None else torch.from_numpy(g)
        opt.step()
        path.append([p.detach().numpy().copy() for p in params])
    return path


def assert_paths_close(ours, theirs, atol, rtol=0.0):
    for t, (a, b) in enumerate(zip(ours, theirs)):
        for i, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(x, y, atol=atol, rtol=rtol,
                                       err_msg=f"step {t + 1}, parameter {i}")


@given(lr=st.floats(1e-4, 0.1), momentum=st.floats(0.0, 0.99), dampening=st.floats(0.0, 0.99),
       weight_decay=st.floats(0.0, 0.2), nesterov=st.booleans())
def test_sgd_matches_torch(lr, momentum, dampening, weight_decay, nesterov):
    if nesterov:  # torch and we both demand momentum > 0 and no dampening
        momentum, dampening = max(momentum, 0.1), 0.0
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
              nesterov=nesterov)
    assert_paths_close(run_minitx(lambda p: optim.SGD(p, **kw)),
                       run_torch(lambda p: torch.optim.SGD(p, **kw)), atol=1e-10)


adam_options = dict(lr=st.floats(1e-4, 0.1), beta1=st.floats(0.0, 0.99),
                    beta2=st.floats(0.5, 0.9999), eps=st.floats(1e-10, 1e-2),
                    weight_decay=st.floats(0.0, 0.2), amsgrad=st.booleans())


@given(**adam_options)
def test_adam_matches_torch(lr, beta1, beta2, eps, weight_decay, amsgrad):
    kw = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
    assert_paths_close(run_minitx(lambda p: optim.Adam(p, **kw)),
                       run_torch(lambda p: torch.optim.Adam(p, **kw)), atol=1e-10)


@given(**adam_options)
def test_adamw_matches_torch(lr, beta1, beta2, eps, weight_decay, amsgrad):
    kw = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
    assert_paths_close(run_minitx(lambda p: optim.AdamW(p, **kw)),
                       run_torch(lambda p: torch.optim.AdamW(p, **kw)), atol=1e-10)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_float32_matches_torch(name, backend):
    """float32 runs in float32 on both sides; 50 steps of rounding stay within ~1e-6."""
    kw = dict(lr=1e-2, weight_decay=0.1, amsgrad=True)
    with mt.use_backend(backend):
        ours = run_minitx(lambda p: getattr(optim, name)(p, **kw), dtype=np.float32)
    theirs = run_torch(lambda p: getattr(torch.optim, name)(p, **kw), dtype=np.float32)
    assert ours[-1][0].dtype == np.float32
    assert_paths_close(ours, theirs, atol=1e-5, rtol=1e-5)


def _groups(params):
    """GPT-2 style: decay the matrix, not the bias; a third group with its own lr."""
    w, b, c = params
    return [{"params": [w], "weight_decay": 0.1},
            {"params": [b], "weight_decay": 0.0},
            {"params": [c], "lr": 0.05}]


@pytest.mark.parametrize("name,kw", [("AdamW", dict(lr=1e-2)), ("Adam", dict(lr=1e-2, amsgrad=True)),
                                     ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True))])
def test_param_groups_match_torch(name, kw):
    assert_paths_close(run_minitx(lambda g: getattr(optim, name)(g, **kw), groups=_groups),
                       run_torch(lambda g: getattr(torch.optim, name)(g, **kw), groups=_groups),
                       atol=1e-10)


# ---- schedules ------------------------------------------------------------

def _lrs(scheduler, optimizer, n):
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return np.array(out)


def _pair(lr=0.1):
    """A minitx and a torch optimizer with two groups of different lr."""
    ours = optim.SGD([{"params": [mt.zeros(1, requires_grad=True)]},
                      {"params": [mt.zeros(1, requires_grad=True)], "lr": lr / 4}], lr=lr)
    theirs = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                              {"params": [torch.zeros(1, requires_grad=True)], "lr": lr / 4}], lr=lr)
    return ours, theirs


def _torch_warmup(opt, warmup):
    return torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / (warmup + 1), end_factor=1.0,
                                             total_iters=warmup)


@given(warmup=st.integers(1, 10), decay=st.integers(1, 30), min_lr=st.floats(0.0, 0.01))
def test_warmup_cosine_matches_torch_sequential(warmup, decay, min_lr):
    ours, theirs = _pair()
    sched = lr_scheduler.WarmupCosineLR(ours, warmup, warmup + decay, min_lr)
    ref = torch.optim.lr_scheduler.SequentialLR(theirs, [
        _torch_warmup(theirs, warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=decay, eta_min=min_lr)],
        milestones=[warmup])
    # beyond max_steps torch's cosine climbs back up; ours stays at min_lr
    np.testing.assert_allclose(_lrs(sched, ours, warmup + decay + 1),
                               _lrs(ref, theirs, warmup + decay + 1), rtol=1e-12, atol=1e-15)


@given(warmup=st.integers(1, 10), decay=st.integers(1, 30), min_lr=st.floats(0.0, 0.01))
def test_warmup_linear_matches_torch_sequential(warmup, decay, min_lr):
    ours, theirs = _pair()
    sched = lr_scheduler.WarmupLinearLR(ours, warmup, warmup + decay, min_lr)
    # torch's LinearLR scales every group by one factor: compare the first group only
    ref = torch.optim.lr_scheduler.SequentialLR(theirs, [
        _torch_warmup(theirs, warmup),
        torch.optim.lr_scheduler.LinearLR(theirs, start_factor=1.0, end_factor=min_lr / 0.1,
                                          total_iters=decay)],
        milestones=[warmup])
    n = warmup + decay + 5
    np.testing.assert_allclose(_lrs(sched, ours, n)[:, 0], _lrs(ref, theirs, n)[:, 0],
                               rtol=1e-12, atol=1e-15)


@given(warmup=st.integers(1, 10))
def test_warmup_constant_matches_torch_linear(warmup):
    ours, theirs = _pair()
    sched = lr_scheduler.WarmupConstantLR(ours, warmup)
    ref = _torch_warmup(theirs, warmup)
    np.testing.assert_allclose(_lrs(sched, ours, warmup + 5), _lrs(ref, theirs, warmup + 5),
                               rtol=1e-12)


def test_cosine_without_warmup_matches_cosine_annealing():
    ours, theirs = _pair()
    sched = lr_scheduler.WarmupCosineLR(ours, 0, 20, min_lr=0.003)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=20, eta_min=0.003)
    np.testing.assert_allclose(_lrs(sched, ours, 21), _lrs(ref, theirs, 21), rtol=1e-12)


# ---- clipping -------------------------------------------------------------

@given(norm_type=st.sampled_from([1.0, 2.0, 3.0, float("inf")]),
       max_norm=st.floats(0.01, 20.0), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_clip_grad_norm_matches_torch(norm_type, max_norm, seed, dtype):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (2, 2, 2)]]
    ours = [mt.zeros(g.shape, dtype=dtype, requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=getattr(torch, np.dtype(dtype).name), requires_grad=True)
              for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
    ours.append(mt.zeros(3, requires_grad=True))  # no grad: skipped
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert isinstance(total, float)
    np.testing.assert_allclose(total, ref.item(), rtol=rtol)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=rtol, atol=1e-7)
    assert ours[-1].grad is None
