"""The tokens/s a training run reports is the rate of its training steps after the
first: neither the first step (it compiles or loads the kernels), nor the evaluations
and checkpoint saves, which do not shrink with more MPI ranks, are counted in."""
import time

import pytest

from minitx.training.throughput import StepRate
from tests.test_train import _trainer, numpy_backend  # noqa: F401  (the fixture, for the NumPy backend)


def test_the_figure_counts_the_steps_after_the_first_only(tmp_path):
    trainer = _trainer(tmp_path / "run", max_iters=5, eval_interval=2)
    step, evaluate, seconds = trainer.train_step, trainer.evaluate, []

    def timed_step():   # the first step as slow as a cold compile, the others a steady 0.05 s
        t0 = time.perf_counter()
        time.sleep(1.0 if not seconds else 0.05)
        result = step()
        seconds.append(time.perf_counter() - t0)
        return result

    def slow_evaluate():
        time.sleep(0.5)
        return evaluate()

    trainer.train_step, trainer.evaluate = timed_step, slow_evaluate
    summary = trainer.fit()
    tokens = 4 * 16   # batch_size x block_size
    expected = tokens * 4 / sum(seconds[1:])
    assert summary["tokens_per_sec"] == pytest.approx(expected, rel=0.05)
    assert summary["seconds"] > 1.0 + 3 * 0.5   # the wall time keeps everything


def test_a_run_of_one_step_reports_that_step():
    rate = StepRate()
    assert rate.tokens_per_sec == 0.0
    rate.add(100, 0.5)
    assert rate.tokens_per_sec == 200.0
    rate.add(30, 0.1)
    rate.add(30, 0.2)
    assert rate.tokens_per_sec == pytest.approx(200.0)
