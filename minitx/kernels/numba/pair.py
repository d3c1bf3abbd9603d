"""Two-core launches: a row kernel's BLOCKS blocks split between the calling thread and
one worker thread of minitx's own, which waits in compiled code.

Numba's parallel loops start on its workqueue pool, which costs 70 to 150 us a launch
here: more than layer norm or softmax take at the GPT shape on one core. This worker
never returns to Python, so it never waits for the GIL. A launch:

  caller                                  worker (spinning, or asleep in a futex)
  claims the slot (IDLE -> CLAIMED)
  copies the job in, posts it (POSTED)
  wakes the worker if it sleeps           takes the job (POSTED -> TAKEN)
  claims blocks from the front            claims blocks from the back
  ...until none is left                   ...until none is left, then DONE
  takes the job back if the worker        spins SPINS pauses for the next job,
  never came (POSTED -> IDLE), else       then sleeps
  waits for DONE; IDLE

The caller never waits for the worker to wake up: it runs every block itself if the
worker is late, so a launch costs at most a futex wake more than one core. Which thread
runs a block does not change what the block computes, and sums over blocks are added in
block order afterwards, so the results have the same bits on one core or two.

A job is an int64 array: the address of a block function compiled as a C callback
(block_kernel) for the job's dtype, the rows and columns, a float, an integer, and
array addresses. The block function views its arrays with rows, values, vector and array
(below).
"""
import atexit
import threading

import numpy as np
from numba import carray, cfunc, literal_unroll, types

from . import _atomic as atomic
from ._jit import BLOCKS, block_start, njit, threads_usable

# The control words, a cache line (16 int32) apart: the caller and the worker write
# them from two cores.
STATE, CLAIMS, SLEEPING = 0, 16, 32
RUN_BY = (48, 64)                  # blocks run by the caller and by the worker, for tests
_CONTROL_WORDS = 80

IDLE, CLAIMED, POSTED, TAKEN, DONE, STOP = range(6)

# The job's words.
ADDRESS, ROWS, COLUMNS, FLOAT, FLAG, ARRAYS = range(6)
JOB_WORDS = 24

# The worker spins this many pauses (about 100 us on Zen 5) after a job before it
# sleeps: long enough to catch the next kernel of a run of row kernels, short enough
# to leave the core to OpenBLAS's threads during a GEMM. A wake-up from the futex costs
# 30 to 150 us on a VM; the caller does not wait for it.
SPINS = 4000

# The claims word holds both ends: the caller's blocks in its low half, the worker's in
# its high half. Each claim is one atomic add, and the claims' total orders them.
_WORKER_CLAIM = 1 << 16


@njit(nogil=True)
def _run_blocks(control, job, who):
    """Claim blocks, the caller (who=0) from the front, the worker (1) from the back, and
    run each, until every block is claimed."""
    step = 1 if who == 0 else _WORKER_CLAIM
    while True:
        before = atomic.fetch_add(control, CLAIMS, step)
        front, back = before & 0xFFFF, before >> 16
        if front + back >= BLOCKS:
            return
        blk = front if who == 0 else BLOCKS - 1 - back
        atomic.call_block(job[ADDRESS], job, blk)
        control[RUN_BY[who]] += 1


@njit(nogil=True)
def _worker(control, slot, spins):
    """The worker's life: wait for a posted job, take it, run blocks; until STOP."""
    hot = False                                 # it ran a job just now: spin, then sleep
    while True:
        state = atomic.load(control, STATE)
        spun = 0
        while state != POSTED and state != STOP:
            if hot and spun < spins:
                atomic.pause()
                spun += 1
            else:
                # Dekker's handshake with launch: the caller stores POSTED then loads
                # SLEEPING; this stores SLEEPING then loads the state. One sees the other.
                atomic.store(control, SLEEPING, 1)
                state = atomic.load(control, STATE)
                if state != POSTED and state != STOP:
                    atomic.futex_wait(control, STATE, state)
                atomic.store(control, SLEEPING, 0)
                hot = False
            state = atomic.load(control, STATE)
        if state == STOP:
            return
        hot = atomic.compare_exchange(control, STATE, POSTED, TAKEN)
        if hot:
            _run_blocks(control, slot, 1)
            atomic.store(control, STATE, DONE)


@njit(nogil=True)
def _launch(control, slot, job):
    """Run the job's blocks on this thread and the worker; return when all are done."""
    if not atomic.compare_exchange(control, STATE, IDLE, CLAIMED):
        # Another thread's job has the worker: run this one alone, in block order.
        for blk in range(BLOCKS):
            atomic.call_block(job[ADDRESS], job, blk)
        return
    slot[:] = job
    atomic.store(control, CLAIMS, 0)
    atomic.store(control, STATE, POSTED)
    if atomic.load(control, SLEEPING) == 1:
        atomic.futex_wake(control, STATE)
    _run_blocks(control, slot, 0)
    if not atomic.compare_exchange(control, STATE, POSTED, IDLE):
        while atomic.load(control, STATE) != DONE:          # the worker's last block
            atomic.pause()
        atomic.store(control, STATE, IDLE)


@njit(nogil=True)
def _run_alone(job):
    for blk in range(BLOCKS):
        atomic.call_block(job[ADDRESS], job, blk)


_control = np.zeros(_CONTROL_WORDS, np.int32)
_slot = np.zeros(JOB_WORDS, np.int64)
_thread = None
_thread_lock = threading.Lock()


def _start_worker():
    global _thread
    with _thread_lock:
        if _thread is None:
            # Compiled (or loaded from the cache) here, not in the new thread: a thread
            # that compiles while this module's importer holds the import lock deadlocks.
            _worker.compile((types.int32[::1], types.int64[::1], types.int64))
            _thread = threading.Thread(target=_worker, args=(_control, _slot, SPINS),
                                       name="minitx-pair", daemon=True)
            _thread.start()


@atexit.register
def _stop_worker():
    """Let the worker return before the interpreter goes (it may be mid-job in another
    thread's launch: then it stays, a daemon)."""
    if _thread is not None and _thread.is_alive():
        if _control[STATE] == IDLE and _post_stop(_control):
            _thread.join(timeout=1.0)


@njit
def _post_stop(control):
    if atomic.compare_exchange(control, STATE, IDLE, STOP):
        atomic.futex_wake(control, STATE)
        return True
    return False


def usable():
    """Whether launches may use the worker: Linux on x86-64, two threads allowed
    (numba.set_num_threads, NUMBA_NUM_THREADS), and not a forked child."""
    return atomic.SUPPORTED and threads_usable()


# A kernel launches from MIN_ELEMENTS elements (times its cost: gelu's erf counts 2):
# below, the 2 us of a launch and the blocks' split outweigh what the worker takes
# (forward+backward on Zen 5: layer norm 24.8 us on one core and 22.9 on two at 32K
# elements, 55.6 and 38.3 at 98K; softmax 12.2 and 14.1 at 16K, 36.8 and 26.7 at 64K).
MIN_ELEMENTS = 1 << 16


def pays(n_elements, cost=1):
    """Whether a kernel touching n_elements should launch on both cores."""
    return n_elements * cost >= MIN_ELEMENTS and usable()


def launch(block, rows, columns, *arrays, value=0.0, flag=0, alone=False, dtype=None):
    """Run `block` (a block_kernel) over BLOCKS blocks of `rows` rows of `columns` on both
    cores, or on this one where the worker is not usable or `alone` is set. arrays:
    C-contiguous arrays the block reads and writes, each of the dtype the block reads it
    as (the public functions check dtypes before they get here); dtype: the job's
    number type (by default the first array's); value, flag: a float and an integer
    for the block."""
    worker = not alone and usable()
    if worker and _thread is None:
        _start_worker()
    address = block.address(arrays[0].dtype if dtype is None else dtype)
    _launch_job(_control, _slot, worker, address, rows, columns, value, int(flag), *arrays)


@njit(nogil=True)
def _launch_job(control, slot, worker, address, rows, columns, value, flag, *arrays):
    job = np.empty(JOB_WORDS, np.int64)
    job[ADDRESS] = address
    job[ROWS], job[COLUMNS] = rows, columns
    job[FLOAT], job[FLAG] = atomic.bits_of_float(value), flag
    k = ARRAYS
    for a in literal_unroll(arrays):
        if not a.flags.c_contiguous:        # a block reads it from its first address on
            raise ValueError("pair.launch: an array is not C-contiguous")
        job[k] = atomic.address_of(a)
        k += 1
    if worker:
        _launch(control, slot, job)
    else:
        _run_alone(job)


def blocks_run():
    """(blocks run by callers, blocks run by the worker) since the process started."""
    return int(_control[RUN_BY[0]]), int(_control[RUN_BY[1]])


# ---- block functions ----------------------------------------------------------------

class block_kernel:
    """A block function `f(job, blk, dtype)`, compiled as a C callback for each dtype
    (float32, float64) the first time a launch needs it, and cached on disk: importing
    minitx compiles nothing. `dtype` is a null pointer whose type is the job's number
    type: pass it to rows/values/vector for the job's arrays of that type."""

    def __init__(self, fn):
        self.fn = fn
        self._compiled = {}

    def address(self, dtype):
        dtype = np.dtype(dtype)
        if dtype not in self._compiled:
            number = types.float32 if dtype == np.float32 else types.float64
            signature = types.void(types.CPointer(types.int64), types.int64, types.CPointer(number))
            self._compiled[dtype] = cfunc(signature, cache=True, error_model="numpy")(self.fn)
        return self._compiled[dtype].address


@njit
def rows(job, k, dtype, blk):
    """Block blk's rows of the job's k-th array, (rows of the block, C), of dtype."""
    R, C = job[ROWS], job[COLUMNS]
    a, b = block_start(blk, R), block_start(blk + 1, R)
    return carray(atomic.pointer(job[ARRAYS + k], a * C, dtype), (b - a, C))


@njit
def values(job, k, dtype, blk):
    """Block blk's values of the job's k-th array, one per row: (rows of the block,)."""
    R = job[ROWS]
    a, b = block_start(blk, R), block_start(blk + 1, R)
    return carray(atomic.pointer(job[ARRAYS + k], a, dtype), (b - a,))


@njit
def vector(job, k, dtype, i=0):
    """Row i of the job's k-th array seen as rows of C: (C,) (a weight, or block i's
    partial sums in a (BLOCKS, C) array)."""
    C = job[COLUMNS]
    return carray(atomic.pointer(job[ARRAYS + k], i * C, dtype), (C,))


@njit
def array(job, k, dtype, shape, offset=0):
    """The job's k-th array as `shape` (a tuple), of dtype, from its offset-th number."""
    return carray(atomic.pointer(job[ARRAYS + k], offset, dtype), shape)


@njit
def job_float(job):
    """The job's float (launch's `value`)."""
    return atomic.float_from_bits(job[FLOAT])


@njit
def job_flag(job):
    """The job's integer (launch's `flag`)."""
    return job[FLAG]
