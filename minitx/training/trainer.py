"""Trainer: the training loop, with evaluation, checkpoints, metrics and exact resume.

One optimizer step accumulates gradients over `grad_accum` micro-batches, each
loss scaled by 1 / grad_accum so the step equals one on a batch grad_accum
times larger. The learning rate follows a linear warmup and a cosine decay, a
pure function of the step, so resuming needs only the step count. Everything
else a resumed run needs (weights, AdamW moments, the RNG behind dropout, the
data sampler's RNG) is in the checkpoint: N steps, stop, resume, N more steps
give the weights of 2N steps bit for bit.

Under MPI (minitx/distributed) every rank draws the same global batch and
trains on its slice of the rows; dropout masks are drawn per global sample
(minitx.random.per_sample) and the gradients averaged over the ranks before
clipping, so N processes take the steps one process would, up to float32
summation order. Rank 0 alone prints and writes metrics and checkpoints.
"""
import contextlib
import dataclasses
import inspect
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from tqdm import tqdm

from .. import random as mrandom
from ..autograd import no_grad
from ..config import check_fields, from_dict
from ..distributed import GradReducer, ShardedAdamW, world as current_world
from ..optim import AdamW, clip_grad_norm_
from ..optim.lr_scheduler import warmup_cosine_lr
from .checkpoint import (
    TRAINER,
    CheckpointError,
    load_checkpoint,
    require,
    save_checkpoint,
)
from .metrics_log import cut_after
from .throughput import StepRate
from .early_stopping import EarlyStopping

METRICS = "metrics.jsonl"
# Ctrl-C's, and those a scheduler sends before it kills a job: each stops a run with last/ saved
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")
                     if hasattr(signal, name))


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient norm) became NaN or inf; nothing was saved after it."""


@dataclass
class TrainConfig:
    max_iters: int = 2000
    batch_size: int = 16
    grad_accum: int = 1               # micro-batches per optimizer step
    lr: float = 1e-3
    min_lr: float = 1e-4              # the floor of the cosine decay, reached at max_iters
    warmup_iters: Optional[int] = None  # None: max_iters // 10, at most 100
    weight_decay: float = 0.1         # on 2-D weights only (GPT-2 practice)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0            # max gradient norm; 0 turns clipping off
    eval_interval: int = 250
    eval_iters: int = 20              # validation batches per evaluation
    log_interval: int = 10            # steps between lines of metrics.jsonl
    # a run resumed with another max_iters decays from this step and rate, so the rate goes
    # on from where it was instead of jumping to the new schedule's value (see extended_to)
    decay_from_step: Optional[int] = None
    decay_from_lr: Optional[float] = None
    early_stopping_patience: int = 0   # evaluations without improvement that end the run (0: off)
    early_stopping_min_delta: float = 0.0  # the least drop of the validation loss that counts

    def __post_init__(self):
        check_fields(self)
        for name in ("max_iters", "batch_size", "grad_accum", "eval_interval", "eval_iters", "log_interval"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig: {name} must be a positive integer, got {getattr(self, name)}")
        for name in ("lr", "min_lr", "weight_decay", "grad_clip", "early_stopping_min_delta"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrainConfig: {name} must be >= 0, got {getattr(self, name)}")
        if self.early_stopping_patience < 0:
            raise ValueError(f"TrainConfig: early_stopping_patience must be >= 0, got {self.early_stopping_patience}")
        if (self.decay_from_step is None) != (self.decay_from_lr is None):
            raise ValueError("TrainConfig: decay_from_step and decay_from_lr go together")
        if self.warmup_iters is not None and not 0 <= self.warmup_iters < self.max_iters:
            raise ValueError(f"TrainConfig: warmup_iters must be in [0, max_iters = {self.max_iters}), "
                             f"got {self.warmup_iters}")

    @classmethod
    def from_dict(cls, data, where):
        return from_dict(cls, data, where)

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def warmup(self):
        return min(100, self.max_iters // 10) if self.warmup_iters is None else self.warmup_iters

    def lr_at(self, step):
        floor = min(self.min_lr, self.lr)
        if self.decay_from_step is not None and step >= self.decay_from_step:
            start, lr = self.decay_from_step, self.decay_from_lr
            return warmup_cosine_lr(step - start, lr, 0, max(self.max_iters - start, 1), min(floor, lr))
        return warmup_cosine_lr(step, self.lr, self.warmup, self.max_iters, floor)

    def extended_to(self, max_iters, step):
        """This schedule with its end moved to max_iters (> step) at `step` (a resumed run):
        from `step` on, half a cosine from the rate at `step` to min_lr at max_iters; in a
        warmup that ends before max_iters, the same warmup, then the cosine to the new end."""
        values = dict(self.to_dict(), max_iters=max_iters, warmup_iters=self.warmup)
        if not step < self.warmup < max_iters:
            values.update(warmup_iters=min(self.warmup, step), decay_from_step=int(step),
                          decay_from_lr=float(self.lr_at(step)))
        return TrainConfig(**values)


def param_groups(model, weight_decay):
    """Decay 2-D weights (matmuls, embeddings); not biases or LayerNorm gains, as GPT-2."""
    params = list(model.parameters())
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def lm_loss(model, batch):
    """The loss of one batch: (x, y) for a language model, a dict of keyword arguments otherwise."""
    if isinstance(batch, dict):
        return model(**batch).loss
    x, y = batch
    return model(x, targets=y).loss


def _num_tokens(batch):
    first = next(iter(batch.values())) if isinstance(batch, dict) else batch[0]
    return int(np.asarray(first).size)


class Trainer:
    """Trains `model` on `data` (get_batch, eval_batches, state_dict, load_state_dict),
    writing metrics.jsonl and the checkpoints best/ and last/ under `out_dir`.

    checkpoint_config: the JSON the checkpoints carry so the model can be rebuilt,
    e.g. {"model_type": "gpt", "model": GPTConfig(...).to_dict()}.
    metrics: optional `metrics(model, val_batches) -> {name: value}`, reported at each
    evaluation beside the validation loss (printed, and written to metrics.jsonl); one
    that takes a `val_loss` keyword is given the validation loss too.
    compute_loss(model, batch): the mean loss of a batch; under MPI, if it takes a `whole`
    keyword, it also gets the global batch (see training.metrics.pretraining_loss).
    world: the MPI job (minitx.distributed.world() by default); shard_optimizer: ZeRO-1.
    report: optional `report(checkpoint_config, step)`, called on rank 0 after each
    evaluation and when fit ends (minitx.report.RunReport writes report.html).
    """

    def __init__(self, model, data, config, out_dir, checkpoint_config, tokenizer=None,
                 compute_loss=lm_loss, progress=True, metrics=None, world=None, shard_optimizer=False,
                 report=None):
        self.model, self.data, self.config = model, data, config
        self.report = report
        self.out_dir, self.tokenizer, self.compute_loss = out_dir, tokenizer, compute_loss
        self.metrics, self.last_metrics = metrics, {}
        self.checkpoint_config = {**checkpoint_config, "train": dataclasses.asdict(config)}
        self.world = world or current_world()
        self.world.local_rows(config.batch_size)   # a batch that does not split is an error now
        self.progress = progress and self.world.is_main
        self.reducer = GradReducer(self.world, model.parameters()) if self.world.size > 1 else None
        # --shard-optimizer: each rank keeps the AdamW moments of its own parameters (ZeRO-1)
        optimizer = ShardedAdamW if shard_optimizer and self.world.size > 1 else AdamW
        self.optimizer = optimizer(*([self.world] if optimizer is ShardedAdamW else []),
                                   param_groups(model, config.weight_decay), lr=config.lr,
                                   betas=(config.beta1, config.beta2), weight_decay=config.weight_decay)
        self.step = 0                # optimizer steps taken
        self.best_val_loss = None
        self.tokens_seen = 0
        # a stop signal sets _stop_signalled on the rank it reaches; the ranks act on
        # _stop_requested, which every rank sets at the same step (see _global_losses)
        self._stop_signalled = self._stop_requested = False
        self.early_stopping = EarlyStopping(config.early_stopping_patience, config.early_stopping_min_delta)

    # ---- state --------------------------------------------------------------
    def trainer_state(self):
        return {"step": self.step, "best_val_loss": self.best_val_loss, "tokens_seen": self.tokens_seen,
                "rng": mrandom.get_rng_state(), "data": self.data.state_dict(),
                "early_stopping": self.early_stopping.state_dict()}

    def save(self, name):
        optimizer = self.optimizer
        if isinstance(optimizer, ShardedAdamW):   # the moments gathered on rank 0: every rank takes part
            optimizer = _Saved(optimizer.state_dict())
        path = None
        if self.world.is_main:   # rank 0 alone writes
            path = save_checkpoint(os.path.join(self.out_dir, name), self.model, self.checkpoint_config,
                                   optimizer=optimizer, tokenizer=self.tokenizer,
                                   trainer_state=self.trainer_state())
        # no rank goes on before the checkpoint is whole: a failure after this leaves it on disk
        self.world.barrier(f"waiting for rank 0 to save {name}/")
        return path

    def resume(self, path=None):
        """Continue from a checkpoint (default: out_dir/last): weights, optimizer, RNGs, step.
        Every part is checked before any is applied; a bad one is a CheckpointError naming it."""
        ckpt = load_checkpoint(path or os.path.join(self.out_dir, "last"))
        file = os.path.join(ckpt.path, TRAINER)
        state = ckpt.trainer_state
        if not isinstance(state, dict):
            raise CheckpointError(f"{file}: missing from the checkpoint, or not a JSON object")
        step = require(state, "step", int, file)
        best = require(state, "best_val_loss", (float, int, type(None)), file)
        tokens = require(state, "tokens_seen", int, file)
        rng, data = require(state, "rng", dict, file), require(state, "data", dict, file)
        if step < 0 or tokens < 0:
            raise CheckpointError(f"{file}: step {step} and tokens_seen {tokens} must be >= 0")
        stopping = EarlyStopping(self.config.early_stopping_patience, self.config.early_stopping_min_delta)
        if "early_stopping" in state:   # a checkpoint without the count (an older minitx) counts from here
            _apply(stopping.load_state_dict, state["early_stopping"], file, "'early_stopping'")
        ckpt.load_weights_into(self.model)
        _apply(self.optimizer.load_state_dict, ckpt.optimizer, os.path.join(ckpt.path, "optimizer.safetensors"),
               "the optimizer state")
        rng_before = mrandom.get_rng_state()
        _apply(mrandom.set_rng_state, rng, file, "'rng'")
        try:
            _apply(self.data.load_state_dict, data, file, "'data'")
        except CheckpointError:
            mrandom.set_rng_state(rng_before)
            raise
        self.step, self.best_val_loss, self.tokens_seen, self.early_stopping = step, best, tokens, stopping
        self._adopt_best()
        return ckpt

    def _adopt_best(self):
        """A crash between the saves of best/ and last/ leaves best/ a step ahead: its
        validation loss is then the run's best, and it stays the best/ on record."""
        best = os.path.join(self.out_dir, "best")
        try:
            state = load_checkpoint(best).trainer_state or {}
        except CheckpointError:
            return
        val = state.get("best_val_loss")
        if isinstance(val, (int, float)) and (self.best_val_loss is None or val < self.best_val_loss):
            self.best_val_loss = float(val)

    # ---- the loop -------------------------------------------------------------
    def train_step(self):
        """One optimizer step over grad_accum micro-batches; returns (mean loss, grad norm, lr)."""
        cfg, step = self.config, self.step + 1
        lr = cfg.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad()
        losses, first = [], self.world.local_rows(cfg.batch_size)[0]
        for micro in range(cfg.grad_accum):
            batch = self.data.get_batch(cfg.batch_size, "train")   # the global batch, on every rank
            # dropout per global sample: the same masks at any rank count
            with mrandom.per_sample(mrandom.default_generator().integers(2 ** 63), first):
                loss = self._loss(batch)[0]
            value = loss.item()
            if self.world.size == 1 and not math.isfinite(value):
                raise TrainingDiverged(self._diverged(f"the loss is {value}", step, micro))
            last = self.reducer is not None and micro == cfg.grad_accum - 1
            with self.reducer.overlapped() if last else contextlib.nullcontext():
                (loss * (1.0 / cfg.grad_accum) if cfg.grad_accum > 1 else loss).backward()
            losses.append(value)
            self.tokens_seen += _num_tokens(batch)
        if self.reducer is not None:
            losses = self._global_losses(losses, step)
            self.reducer.finish()
        else:
            self._stop_requested = self._stop_signalled
        total = float(sum(losses))
        # max_norm inf measures the norm without clipping
        norm = clip_grad_norm_(list(self.model.parameters()), cfg.grad_clip or math.inf)
        if not math.isfinite(norm):
            raise TrainingDiverged(self._diverged(f"the gradient norm is {norm}", step, None))
        self.optimizer.step()
        self.step = step
        return total / cfg.grad_accum, norm, lr

    def _loss(self, batch, even=True):
        """The loss of this rank's rows of a global batch, and their share of its rows
        (None for the loss when it has no rows). A compute_loss that takes `whole` is
        given the global batch too, to weight a mean over a varying count (MLM)."""
        rows, share = self.world.shard(batch, even)
        if not share:
            return None, 0.0
        if self.world.size > 1 and "whole" in inspect.signature(self.compute_loss).parameters:
            return self.compute_loss(self.model, rows, whole=batch), share
        return self.compute_loss(self.model, rows), share

    def _global_losses(self, losses, step):
        """The mean over ranks of each micro-batch's loss (the global batch's loss), and
        whether a stop signal reached any rank: every rank learns it here, at the same
        step, so all of them stop after this step (a rank that read its own flag would
        leave the loop while the others start the next step's allreduce)."""
        reduced = self.world.mean(losses + [float(self._stop_signalled)], "the loss allreduce")
        self._stop_requested = bool(reduced[-1] > 0)
        for micro, value in enumerate(reduced[:-1]):
            if not math.isfinite(value):
                raise TrainingDiverged(self._diverged(f"the loss is {value}", step, micro))
        return [float(v) for v in reduced[:-1]]

    def _diverged(self, what, step, micro):
        where = f"step {step}" + (f" (micro-batch {micro + 1} of {self.config.grad_accum})"
                                  if micro is not None and self.config.grad_accum > 1 else "")
        last = os.path.join(self.out_dir, "last")
        kept = f"the last good checkpoint, {last}, is untouched" if os.path.exists(last) else "no checkpoint was saved"
        return f"training diverged at {where}: {what}; stopping ({kept}). Try a lower --lr"

    @no_grad()
    def evaluate(self):
        """Mean loss over the fixed validation batches, in eval mode (no dropout), and the
        `metrics` hook's values on the same batches."""
        self.model.eval()
        try:
            batches = self.data.eval_batches(self.config.batch_size, self.config.eval_iters)
            # each rank the loss of its rows (the last batch may not split evenly), weighted by their share
            losses = []
            for b in batches:
                loss, share = self._loss(b, even=False)
                losses.append(loss.item() * share if share else 0.0)
            losses = self.world.mean(losses, "the validation loss allreduce") * self.world.size
            result = {"val_loss": float(np.mean(losses))}
            if self.metrics is not None:
                # task metrics need every prediction: rank 0 computes them, the others wait
                given = {"val_loss": result["val_loss"]} \
                    if "val_loss" in inspect.signature(self.metrics).parameters else {}
                extra = self.metrics(self.model, batches, **given) if self.world.is_main else None
                result.update(self.world.broadcast(extra, "the evaluation metrics"))
        finally:
            self.model.train()
        return result

    def fit(self, until=None):
        """Train to max_iters (or stop after step `until`); returns a summary dict.

        A NaN or inf loss raises TrainingDiverged without saving. Ctrl-C, or another of
        STOP_SIGNALS, finishes the step in flight, saves last/, and returns with
        "interrupted": True. Early stopping (TrainConfig.early_stopping_patience) ends the
        run after an evaluation and its saves, and returns with "stopped_early": True.
        """
        cfg = self.config
        stop_at = cfg.max_iters if until is None else min(until, cfg.max_iters)
        fresh, stopped_before = self.step == 0, self.early_stopping.should_stop
        if self.world.is_main:
            os.makedirs(self.out_dir, exist_ok=True)
            path = os.path.join(self.out_dir, METRICS)
            if not fresh:   # a run killed after its last save had logged steps that come again now
                cut_after(path, self.step)
            metrics = open(path, "w" if fresh else "a", encoding="utf-8")
        else:
            metrics = contextlib.nullcontext()
        start, rate, val, val_step = time.perf_counter(), StepRate(), None, None
        bar = tqdm(total=cfg.max_iters, initial=self.step, file=sys.stderr, unit="step",
                   disable=not self.progress, dynamic_ncols=True, mininterval=0.5)
        recent, window_tokens, window_time = [], 0, 0.0
        self.model.train()  # a model may come in eval mode (from_pretrained returns one)
        with metrics, bar, self._signals_deferred():
            log = _Log(metrics, bar, start)
            if fresh:
                val, val_step = self._evaluate(log), 0
                self.early_stopping.update(val, 0)
            while self.step < stop_at and not self._stop_requested and not self.early_stopping.should_stop:
                t0, tokens0 = time.perf_counter(), self.tokens_seen
                loss, norm, lr = self.train_step()
                dt = time.perf_counter() - t0
                rate.add(self.tokens_seen - tokens0, dt)
                recent.append(loss)
                window_tokens += self.tokens_seen - tokens0
                window_time += dt
                bar.update(1)
                bar.set_postfix_str(f"loss {loss:.4f}, lr {lr:.2e}, {window_tokens / window_time:,.0f} tok/s",
                                    refresh=False)
                if self.step % cfg.log_interval == 0:
                    log.write(event="train", step=self.step, loss=loss, lr=lr, grad_norm=norm,
                              tokens_per_sec=window_tokens / window_time)
                    window_tokens, window_time = 0, 0.0
                if self.step % cfg.eval_interval == 0 or self.step == cfg.max_iters:
                    val, val_step = self._evaluate(log, float(np.mean(recent))), self.step
                    recent = []
                    self.early_stopping.update(val, self.step)
                    self._save_after_eval(val)
            if self._stop_requested or (self.step % cfg.eval_interval and self.step != cfg.max_iters):
                self.save("last")  # stopped between evaluations: keep the progress
            if self._stop_requested:
                _say(bar, self.world, f"interrupted: saved step {self.step} to "
                     f"{os.path.join(self.out_dir, 'last')}; continue with --resume")
            elif self.early_stopping.should_stop:
                if not stopped_before:
                    log.write(**self.early_stopping.record(self.step))
                _say(bar, self.world, ("already stopped: " if stopped_before else "")
                     + self.early_stopping.reason(self.step))
        self._report()
        seconds = time.perf_counter() - start
        return {"step": self.step, "val_loss": val, "val_step": val_step, "best_val_loss": self.best_val_loss,
                "interrupted": self._stop_requested, "stopped_early": self.early_stopping.should_stop,
                "seconds": seconds,
                "tokens_per_sec": rate.tokens_per_sec}   # of the steps: see training/throughput.py

    def _evaluate(self, log, train_loss=None):
        result = self.last_metrics = self.evaluate()
        log.write(event="eval", step=self.step, train_loss=train_loss, **result)
        train = f"train loss {train_loss:.4f}, " if train_loss is not None else ""
        shown = ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in result.items())
        _say(log.bar, self.world, f"step {self.step}: {train}{shown}")
        self._report()
        return result["val_loss"]

    def _report(self):
        if self.report is not None and self.world.is_main:
            self.report(self.checkpoint_config, self.step)

    def _save_after_eval(self, val):
        if self.best_val_loss is None or val < self.best_val_loss:
            self.best_val_loss = val
            self.save("best")
        self.save("last")

    @contextlib.contextmanager
    def _signals_deferred(self):
        """The first stop signal asks the loop to stop after the current step (a checkpoint
        cut mid-step would mix old and new weights), then save last/; a second one stops at
        once. The signals are Ctrl-C's and those a scheduler sends before it kills a job
        (SIGTERM: timeout, docker stop, Slurm; SIGHUP: a closed terminal; SIGUSR1: Slurm's
        --signal), so a run that is stopped can be resumed."""
        self._stop_signalled = self._stop_requested = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self._stop_signalled:
                raise KeyboardInterrupt
            self._stop_signalled = True
            if self.world.is_main:
                tqdm.write(f"{signal.Signals(signum).name}: finishing this step, then saving (a second "
                           f"signal quits without saving)", file=sys.stderr)
        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, was in previous.items():
                signal.signal(sig, was)


def _apply(load, state, file, what):
    """load(state), a malformed state being a CheckpointError that names the file."""
    try:
        load(state)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise CheckpointError(f"{file}: {what} does not fit this run ({type(e).__name__}: {e})") from None


class _Saved:
    """An optimizer state already taken, for save_checkpoint."""

    def __init__(self, state):
        self._state = state

    def state_dict(self):
        return self._state


def _say(bar, world, line):
    if world.is_main:
        bar.write(line, file=sys.stderr)


class _Log:
    """Appends one JSON object per line to metrics.jsonl, flushed at once (rank 0's only)."""

    def __init__(self, file, bar, start):
        self.file, self.bar, self.start = file, bar, start

    def write(self, **record):
        if not hasattr(self.file, "write"):
            return
        record["elapsed"] = round(time.perf_counter() - self.start, 3)
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
