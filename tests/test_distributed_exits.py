"""How an MPI job ends: a stop signal under `mpirun -n 2 minitx train ...` to any one
rank or to mpirun, and an error every rank meets before the job is set up.

Every rank must stop after the same step (a rank that leaves the loop alone
meets the others' next allreduce with a barrier: MPI_ERR_TRUNCATE), rank 0
saves last/ and says so in one line, and `--resume` goes on to the weights of
the run that was never stopped. mpirun itself forwards SIGUSR1 to every rank;
on SIGINT, SIGTERM or SIGHUP it ends the job (SIGTERM to the ranks, SIGKILL a
fraction of a second later), which leaves the last checkpoint whole.
"""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli_harness import GPT_TINY
from tests.test_distributed import JOB, MPIRUN, RUN, assert_same_run, mpi_environment, mpirun, needs_mpi, single  # noqa: F401

# what any failure of the ranks to agree looks like on stderr
DISAGREED = ("MPI_ERR", "error on rank", "Traceback", "MPI_ABORT", "CollectiveTimeout")


def _step(run, name="last"):
    return json.loads((Path(run) / name / "trainer_state.json").read_text())["step"]


def _one_voice(stderr, step):
    """rank 0's line, once, and none of the lines of ranks that disagreed."""
    assert stderr.count("interrupted: saved step") == 1, stderr
    assert f"interrupted: saved step {step} to run/last; continue with --resume" in stderr, stderr
    assert not any(word in stderr for word in DISAGREED), stderr


@needs_mpi
@pytest.mark.parametrize("signum, rank", [(signal.SIGINT, 1), (signal.SIGTERM, 0), (signal.SIGUSR1, 1)], ids=lambda v: getattr(v, "name", f"rank{v}"))
def test_a_signal_to_one_rank_after_its_last_collective_stops_every_rank_together(single, tmp_path, signum,
                                                                                 rank):
    """The worst moment: the signal lands as step 3 ends, after the allreduce that carries
    the stop flag, so the ranks learn of it in step 4's and all stop after step 4. Then
    --resume finishes the 6 steps with the weights of the run that was never stopped."""
    env = mpi_environment(FAULT=signum.name, FAULT_RANK=str(rank), FAULT_STEP="3")
    args = ["train", "gpt", *RUN, "--max-iters", "6", "--out", "run"]
    done = mpirun(2, *args, cwd=tmp_path, script=JOB, env=env)
    assert done.returncode == 130, done.stderr
    _one_voice(done.stderr, 4)
    assert _step(tmp_path / "run") == 4
    done = mpirun(2, *args, "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "resuming run at step 4 of 6" in done.stderr
    assert_same_run(single, tmp_path / "run")


# ---- signals from outside, at whatever moment they land ---------------------------------------

def _started(cwd):
    command = [MPIRUN, "-n", "2", sys.executable, "-m", "minitx", "train", "gpt", *GPT_TINY, "--batch-size", "4",
               "--max-iters", "100000", "--out", "run"]
    return subprocess.Popen(command, cwd=cwd, env=mpi_environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_step(run, n, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        metrics = Path(run) / "metrics.jsonl"
        if metrics.exists() and any(json.loads(line).get("step", 0) >= n
                                    for line in metrics.read_text().splitlines() if line.endswith("}")):
            return
        time.sleep(0.05)
    raise AssertionError(f"no step {n} in {run} after {timeout} s")


def _rank_pid(mpirun_pid, rank):
    """The process of `rank`: a child of mpirun whose environment names its rank."""
    for child in Path(f"/proc/{mpirun_pid}/task/{mpirun_pid}/children").read_text().split():
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            return int(child)
    raise AssertionError(f"no rank {rank} among mpirun's children")


def _resumes(tmp_path, step):
    """--resume from `step` runs one step more and finishes."""
    done = mpirun(2, "train", "gpt", *GPT_TINY, "--batch-size", "4", "--max-iters", step + 1, "--out", "run",
                  "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"resuming run at step {step} of {step + 1}" in done.stderr
    assert _step(tmp_path / "run") == step + 1


@needs_mpi
@pytest.mark.parametrize("target", ["rank 1", "mpirun"])
def test_a_stop_signal_from_outside_saves_and_resume_continues(tmp_path, target):
    """SIGTERM to one rank's process, and SIGUSR1 to mpirun (which forwards it to every rank)."""
    proc = _started(tmp_path)
    try:
        _wait_for_step(tmp_path / "run", 3, proc)
        if target == "mpirun":
            proc.send_signal(signal.SIGUSR1)
        else:
            import os
            os.kill(_rank_pid(proc.pid, int(target[-1])), signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    step = _step(tmp_path / "run")
    _one_voice(err, step)
    _resumes(tmp_path, step)


@needs_mpi
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_mpirun_ending_the_job_leaves_a_checkpoint_resume_continues(tmp_path, signum):
    """Ctrl-C (SIGINT) or SIGTERM to mpirun: Open MPI ends the job at once, and the last
    checkpoint (saved at every evaluation, atomically) is what --resume continues."""
    proc = _started(tmp_path)
    try:
        _wait_for_step(tmp_path / "run", 3, proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode != 0, err
    _resumes(tmp_path, _step(tmp_path / "run"))


# ---- an error every rank meets -----------------------------------------------------------------

@needs_mpi
def test_an_error_before_the_job_is_set_up_is_said_even_by_a_slow_rank_0(tmp_path):
    """mpirun ends the job the moment one rank exits non-zero: the quiet rank must not
    exit before rank 0 (here 2 s slower) has printed the error."""
    done = mpirun(2, "sample", "--ckpt", "nowhere", cwd=tmp_path, script=JOB, env=mpi_environment(SLOW_NOTE="2"))
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("minitx")]
    assert errors == ["minitx: error: `minitx sample` runs in one process; of the commands only the training "
                      "ones (train, finetune) run under mpirun"], done.stderr
