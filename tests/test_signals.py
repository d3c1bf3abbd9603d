"""The signals a scheduler or a terminal sends a training command end it with last/
saved and one line, and `--resume` continues from there: SIGINT (Ctrl-C), SIGTERM
(timeout, docker stop, Slurm), SIGHUP (a closed terminal), SIGUSR1 (Slurm's --signal)."""
import json
import signal
import subprocess
import sys
import time

import pytest

from tests.cli_harness import GPT_TINY, environment, minitx


def _started(cwd, *args):
    return subprocess.Popen([sys.executable, "-m", "minitx", *args], cwd=cwd, env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_steps(metrics, n, proc, timeout=120):
    """Until metrics.jsonl records a train step >= n (the run is in its loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists():
            steps = [json.loads(line).get("step", 0) for line in metrics.read_text().splitlines() if line.strip()]
            if any(s >= n for s in steps):
                return
        time.sleep(0.05)
    raise AssertionError(f"no step {n} in {metrics} after {timeout} s")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGINT],
                         ids=lambda s: s.name)
def test_a_stop_signal_saves_last_and_resume_continues(tmp_path, signum):
    proc = _started(tmp_path, "train", "gpt", "--max-iters", "100000", "--out", "run", *GPT_TINY)
    _wait_for_steps(tmp_path / "run" / "metrics.jsonl", 2, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"{signum.name}: finishing this step, then saving" in err
    assert "interrupted: saved step" in err and "Traceback" not in err
    state = json.loads((tmp_path / "run" / "last" / "trainer_state.json").read_text())
    step = state["step"]
    assert step >= 2
    done = minitx("train", "gpt", "--resume", "--max-iters", step + 1, "--out", "run", "--no-progress",
                  "--sample-tokens", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming run at step {step} of {step + 1}" in done.stderr
    assert json.loads((tmp_path / "run" / "last" / "trainer_state.json").read_text())["step"] == step + 1
