import json
import os
import shutil
import signal

import numpy as np
import pytest

import minitx
from minitx.backend import use_backend
from minitx.training.checkpoint import load_checkpoint
from minitx.data import TokenDataset, builtin_text
from minitx.models.gpt import GPT, GPTConfig
from minitx.tokenizers import CharTokenizer
from minitx.training.trainer import STOP_SIGNALS, TrainConfig, Trainer, TrainingDiverged, lm_loss


@pytest.fixture(autouse=True)
def numpy_backend():
    # these tests check the training machinery, not the kernels (tested on their own): the
    # NumPy twins need no compiling and no thread pool, which keeps them fast on a busy machine
    with use_backend("numpy"):
        yield


TEXT = builtin_text()[:20_000]
TOK = CharTokenizer.train(TEXT)


def _trainer(out, seed=0, dropout=0.1, **train):
    minitx.manual_seed(seed)
    gpt = GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=dropout)
    model = GPT(gpt)
    data = TokenDataset(np.array(TOK.encode(TEXT)), 16, seed=seed)
    cfg = TrainConfig(**{"max_iters": 6, "batch_size": 4, "eval_interval": 2, "eval_iters": 2,
                         "log_interval": 1, "warmup_iters": 2, **train})
    return Trainer(model, data, cfg, str(out), {"model_type": "gpt", "model": gpt.to_dict()},
                   tokenizer=TOK, progress=False)


def _weights(trainer):
    return {k: v.copy() for k, v in trainer.model.state_dict().items()}


def test_resume_is_bit_identical(tmp_path):
    full = _trainer(tmp_path / "full")
    full.fit()
    first = _trainer(tmp_path / "split")
    assert first.fit(until=3)["step"] == 3
    shutil.copytree(tmp_path / "split" / "last", tmp_path / "at3")
    second = _trainer(tmp_path / "split", seed=99)  # other init, other data seed: the checkpoint decides
    second.resume()
    assert second.step == 3
    second.fit()
    expected, got = _weights(full), _weights(second)
    for name in expected:
        assert np.array_equal(expected[name], got[name]), name
    # dropout draws matter: the same resume without the RNG state ends elsewhere
    third = _trainer(tmp_path / "other", seed=99)
    third.resume(tmp_path / "at3")
    minitx.manual_seed(12345)
    third.fit()
    assert not np.array_equal(_weights(third)["transformer.wte.weight"], expected["transformer.wte.weight"])


def _files(folder):
    return {f: (folder / f).read_bytes() for f in sorted(os.listdir(folder))}


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    trainer = _trainer(tmp_path)

    def poisoned(model, batch):
        loss = lm_loss(model, batch)
        return loss * float("nan") if trainer.step == 3 else loss
    trainer.compute_loss = poisoned
    trainer.fit(until=2)
    before = {name: _files(tmp_path / name) for name in ("last", "best")}
    with pytest.raises(TrainingDiverged, match=r"diverged at step 4: the loss is nan.*last good checkpoint"):
        trainer.fit()
    for name in ("last", "best"):
        assert _files(tmp_path / name) == before[name]
    assert load_checkpoint(tmp_path / "last").trainer_state["step"] == 2


class FixedRows:
    """get_batch hands out consecutive rows of one fixed batch."""

    def __init__(self, x, y):
        self.x, self.y, self.i = x, y, 0

    def get_batch(self, batch_size, split):
        rows = slice(self.i, self.i + batch_size)
        self.i = (self.i + batch_size) % len(self.x)
        return self.x[rows], self.y[rows]


def test_grad_accumulation_equals_one_big_batch(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, TOK.vocab_size, (8, 16)), rng.integers(0, TOK.vocab_size, (8, 16))
    grads = []
    for batch_size, accum in ((8, 1), (4, 2), (2, 4)):
        trainer = _trainer(tmp_path, dropout=0.0, batch_size=batch_size, grad_accum=accum, grad_clip=0.0)
        trainer.model.double()
        trainer.data = FixedRows(x, y)
        loss, norm, lr = trainer.train_step()
        grads.append(([p.grad.copy() for p in trainer.model.parameters()], loss, norm))
    for g, loss, norm in grads[1:]:
        assert loss == pytest.approx(grads[0][1], rel=1e-12)
        assert norm == pytest.approx(grads[0][2], rel=1e-10)
        for a, b in zip(grads[0][0], g):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-13)


def test_metrics_file_and_checkpoints(tmp_path):
    summary = _trainer(tmp_path).fit()
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in lines if r["event"] == "eval"]
    train = [r for r in lines if r["event"] == "train"]
    assert [r["step"] for r in evals] == [0, 2, 4, 6]
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(r["loss"]) and r["lr"] > 0 and r["tokens_per_sec"] > 0 for r in train)
    assert summary["val_loss"] == evals[-1]["val_loss"] and summary["val_step"] == 6
    assert summary["best_val_loss"] == min(r["val_loss"] for r in evals[1:])
    best = load_checkpoint(tmp_path / "best")
    assert best.trainer_state["best_val_loss"] == summary["best_val_loss"]
    assert load_checkpoint(tmp_path / "last").trainer_state["step"] == 6
    assert evals[-1]["val_loss"] < evals[0]["val_loss"]


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_finishes_the_step_saves_and_resumes(tmp_path, signum):
    """Ctrl-C, and SIGTERM, SIGHUP, SIGUSR1 as a scheduler sends them before a kill."""
    trainer, pressed = _trainer(tmp_path), []

    def interrupting(model, batch):
        if trainer.step == 2 and model.training and not pressed:  # during step 3
            pressed.append(True)
            signal.raise_signal(signum)
        return lm_loss(model, batch)
    trainer.compute_loss = interrupting
    before = signal.getsignal(signum)  # Python's default, or SIG_IGN in a background job
    summary = trainer.fit()
    assert summary["interrupted"] and summary["step"] == 3 and summary["val_step"] == 2
    assert load_checkpoint(tmp_path / "last").trainer_state["step"] == 3
    assert signal.getsignal(signum) is before      # fit() puts back what it found


def test_weight_decay_only_on_matrices(tmp_path):
    groups = _trainer(tmp_path).optimizer.param_groups
    assert groups[0]["weight_decay"] == 0.1 and all(p.ndim == 2 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.ndim == 1 for p in groups[1]["params"])


def test_lr_schedule_warms_up_then_decays():
    cfg = TrainConfig(max_iters=100, lr=1e-3, min_lr=1e-4, warmup_iters=10)
    lrs = [cfg.lr_at(s) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-3 / 11) and lrs[10] == pytest.approx(1e-3)  # (step + 1) / (warmup + 1)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:11]))
    assert max(lrs) == pytest.approx(1e-3) and lrs[100] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert TrainConfig(max_iters=50).warmup == 5 and TrainConfig(max_iters=5000).warmup == 100


@pytest.mark.parametrize("bad, message", [
    (dict(max_iters=0), "max_iters must be a positive integer, got 0"),
    (dict(lr=-1.0), "lr must be >= 0, got -1.0"),
    (dict(max_iters=10, warmup_iters=10), r"warmup_iters must be in \[0, max_iters = 10\), got 10"),
])
def test_train_config_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad)
