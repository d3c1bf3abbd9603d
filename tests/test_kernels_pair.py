"""pair.py, the two-core launch: every block runs once, on the caller or the worker; the
worker does take blocks; launches from several threads at once; a forked child runs
alone. The kernels' own tests (layer norm, softmax) check their results on both paths."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitx.kernels.numba import pair
from minitx.kernels.numba._jit import BLOCKS, block_start
from tests.kernel_strategies import assert_threads


@pair.block_kernel
def _count_block(job, blk, dtype):
    """Adds 1 to every element of block blk's rows of array 0 (R, C), a little slowly,
    and writes blk + the job's float to array 1 (R,) float64."""
    counts = pair.rows(job, 0, dtype, blk)
    half = counts.dtype.type(0.5)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            x = counts[i, j]
            for _ in range(20):                 # long enough that the worker takes blocks
                x = x * half + half
            counts[i, j] = x + 1
    pair.values(job, 1, np.float64, blk)[:] = blk + pair.job_float(job)


def _expected_blocks(R):
    out = np.empty(R)
    for blk in range(BLOCKS):
        out[block_start(blk, R):block_start(blk + 1, R)] = blk
    return out


def _run(R, C, dtype, value, alone=False):
    counts, blocks = np.ones((R, C), dtype), np.full(R, -1.0)
    pair.launch(_count_block, R, C, counts, blocks, value=value, alone=alone)
    return counts, blocks


@pytest.mark.parametrize("alone", [False, True])
@given(R=st.integers(0, 100), C=st.integers(1, 9), dtype=st.sampled_from([np.float32, np.float64]),
       value=st.sampled_from([0.0, 0.25, -1e300]))
def test_every_block_runs_once(alone, R, C, dtype, value):
    counts, blocks = _run(R, C, dtype, value, alone)
    # x = 1 is a fixed point of x / 2 + 1/2: a block run twice would leave 3, once 2
    np.testing.assert_array_equal(counts, 2)
    np.testing.assert_array_equal(blocks, _expected_blocks(R) + value)


def test_the_worker_takes_blocks_and_alone_leaves_it_out():
    assert_threads()
    assert pair.usable()
    before = pair.blocks_run()
    for _ in range(200):
        counts, _ = _run(512, 64, np.float32, 0.0)
        assert np.all(counts == 2)
    caller, worker = np.subtract(pair.blocks_run(), before)
    assert caller + worker == 200 * BLOCKS
    assert worker > 0, "the worker never ran a block"
    before = pair.blocks_run()
    _run(512, 64, np.float32, 0.0, alone=True)
    assert pair.blocks_run()[1] == before[1]


def test_launches_from_several_threads_at_once():
    """One thread holds the worker at a time; the others run their jobs alone."""
    failures = []

    def launch_many(seed):
        R = 50 + seed * 37
        for _ in range(100):
            counts, blocks = _run(R, 16, np.float64, float(seed))
            if not (np.all(counts == 2) and np.array_equal(blocks, _expected_blocks(R) + seed)):
                failures.append(seed)

    threads = [threading.Thread(target=launch_many, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_forked_child_runs_alone_with_the_same_bits():
    code = ("import os, numpy as np, minitx\n"
            "from minitx.kernels.numba import pair, layernorm\n"
            "x = np.random.default_rng(0).standard_normal((4096, 64)).astype(np.float32)\n"
            "w, dy = np.ones(64, np.float32), x[::-1].copy()\n"
            "y, m, r = layernorm.layer_norm_forward(x, w, w, 1e-5)\n"
            "parent = layernorm.layer_norm_backward(dy, x, w, m, r)\n"
            "assert pair.usable() and pair.blocks_run()[1] >= 0\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    child = layernorm.layer_norm_backward(dy, x, w, m, r)\n"
            "    same = all(np.array_equal(a, b) for a, b in zip(parent, child))\n"
            "    os._exit(0 if same and not pair.usable() else 3)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print(os.waitstatus_to_exitcode(status))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "NUMBA_NUM_THREADS": "2"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", out.stderr


def test_an_array_that_is_not_contiguous_is_refused():
    counts, blocks = np.ones((8, 4)), np.zeros(8)
    with pytest.raises(ValueError, match="C-contiguous"):
        pair.launch(_count_block, 8, 2, counts[:, ::2], blocks)
    np.testing.assert_array_equal(blocks, 0)
