"""Who this process is in an MPI job, and the few collectives training needs.

`world()` is the job this process belongs to, found once: a one-process World
unless mpirun (or another MPI launcher) started it, in which case mpi4py's
COMM_WORLD. Under a launcher without mpi4py it is an error naming the fix, since
N copies of a single-process run would write into one --out.

Every wait on the other ranks has a deadline (MINITX_MPI_TIMEOUT seconds, 300
by default): a rank that hangs or died without taking the job down turns into
a CollectiveTimeout on the others instead of a job that never ends.
"""
import os
import time

import numpy as np

# Set by the launchers: Open MPI (mpirun), and MPICH / Intel MPI / Slurm's PMI.
_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")
_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
_LOCAL_SIZE_VARS = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")
DEFAULT_TIMEOUT = 300.0


class DistributedError(RuntimeError):
    """The MPI job cannot run as asked (no mpi4py under mpirun, a batch that does not split)."""


class CollectiveTimeout(DistributedError):
    """The other ranks did not join a collective operation before the deadline."""


def _env_int(names):
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return name, int(value)
    return None, None


def launched_size():
    """How many processes the launcher started (1 outside MPI)."""
    return _env_int(_SIZE_VARS)[1] or 1


def launched_rank():
    """This process's rank as the launcher's environment tells it (0 outside MPI)."""
    return _env_int(_RANK_VARS)[1] or 0


def exit_with_every_rank():
    """Under a launcher, make this process's exit wait for every rank's, for an error
    every rank meets before the job is set up (a command that does not run under mpirun):
    importing mpi4py starts MPI, and the MPI_Finalize it runs at exit returns only once
    every rank has called it. mpirun ends the whole job the moment one rank exits
    non-zero, so a quiet rank that exits first would kill rank 0 before it has printed
    why. Without mpi4py there is nothing to wait with (and that is then the error)."""
    if launched_size() > 1:
        try:
            from mpi4py import MPI  # noqa: F401
        except ImportError:
            pass


# How long wait() polls MPI without sleeping: the ranks of a step reach a collective
# up to a few ms apart, and a sleep there (0.5 ms or more in a VM) was added to every
# step's critical path (docs/distributed.md). Past it, wait() sleeps between polls,
# so a rank that waits long leaves the core to others.
SPIN_SECONDS = 0.005


def timeout_from_env():
    text = os.environ.get("MINITX_MPI_TIMEOUT")
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DistributedError(f"MINITX_MPI_TIMEOUT={text!r}: expected a number of seconds > 0")
    return value


def num_rows(batch):
    items = batch.values() if isinstance(batch, dict) else batch
    return len(next(iter(items)))


class World:
    """One process's view of the job: size, rank, and the collectives (all no-ops for one)."""

    def __init__(self, comm=None, timeout=DEFAULT_TIMEOUT):
        self.comm = comm
        self.size = 1 if comm is None else comm.Get_size()
        self.rank = 0 if comm is None else comm.Get_rank()
        self.timeout = float(timeout)
        self.threads = None   # threads per rank, once set_threads ran

    @property
    def is_main(self):
        """Rank 0: the one that prints and writes."""
        return self.rank == 0

    # ---- splitting a global batch ----------------------------------------------------
    def local_rows(self, batch_size, even=True):
        """This rank's rows [lo, hi) of a global batch of `batch_size` samples; with
        even=False, a batch that does not split evenly gives some ranks a row more."""
        if even and batch_size % self.size:
            raise DistributedError(f"--batch-size {batch_size} does not split evenly over the {self.size} "
                                   f"ranks of this MPI job; pass a multiple of {self.size}")
        return self.rank * batch_size // self.size, (self.rank + 1) * batch_size // self.size

    def shard(self, batch, even=True):
        """This rank's slice of a global batch, (x, y) or a dict of arrays, rows first;
        and the share of the batch's rows it holds. One process takes any batch whole."""
        if self.size == 1:
            return batch, 1.0
        n = num_rows(batch)
        lo, hi = self.local_rows(n, even)
        if isinstance(batch, dict):
            return {k: v[lo:hi] for k, v in batch.items()}, (hi - lo) / n
        return type(batch)(v[lo:hi] for v in batch), (hi - lo) / n

    # ---- collectives ------------------------------------------------------------------
    def wait(self, request, what):
        """Wait for a non-blocking MPI request, at most `timeout` seconds."""
        start = time.monotonic()
        spin_until, deadline = start + SPIN_SECONDS, start + self.timeout
        while not request.Test():
            now = time.monotonic()
            if now > spin_until:      # past the ranks' usual skew: sleep, let other processes run
                time.sleep(0.0002)
                if now > deadline:
                    raise CollectiveTimeout(
                        f"rank {self.rank} of {self.size}: {what}: the other ranks did not join within "
                        f"{self.timeout:g} s (MINITX_MPI_TIMEOUT); a rank is stuck or died")

    def allreduce_sum(self, array, what="allreduce"):
        """array <- the sum of every rank's array, in place; returns it."""
        if self.size > 1:
            from mpi4py import MPI
            self.wait(self.comm.Iallreduce(MPI.IN_PLACE, array, op=MPI.SUM), what)
        return array

    def mean(self, values, what="mean"):
        """The mean over ranks of a list of floats, element by element (float64)."""
        array = np.asarray(values, dtype=np.float64).copy()
        return self.allreduce_sum(array, what) / self.size

    def barrier(self, what="barrier"):
        if self.size > 1:
            self.wait(self.comm.Ibarrier(), what)

    def broadcast(self, obj, what="broadcast"):
        """Rank 0's `obj` on every rank (any picklable value)."""
        if self.size == 1:
            return obj
        self.barrier(what)  # everyone is here: the blocking broadcast below cannot hang
        return self.comm.bcast(obj, root=0)

    def abort(self, code=1):
        """End the whole job now: mpirun stops every rank."""
        if self.comm is not None:
            self.comm.Abort(code)
        os._exit(code)

    # ---- threads ------------------------------------------------------------------------
    def set_threads(self):
        """Threads per rank so that ranks on this machine x threads <= its cores; returns it."""
        cores = os.cpu_count() or 1
        # mpirun binds each rank to a core or more: those are the ones it may use
        bound = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
        local = _env_int(_LOCAL_SIZE_VARS)[1]
        if local is None and self.comm is not None:
            from mpi4py import MPI
            shared = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
            local = shared.Get_size()
            shared.Free()
        self.cores, self.local_size = cores, local or 1
        self.threads = max(1, min(bound, cores // self.local_size))
        import numba
        numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(self.threads)   # OpenBLAS under NumPy's matmul
        except ImportError:
            pass
        return self.threads

    def describe(self):
        return (f"MPI: {self.size} ranks ({self.local_size} on this machine) x {self.threads} "
                f"thread{'s' if self.threads != 1 else ''} each, {self.cores} cores here")


_world = None


def world():
    """The job this process belongs to (found on the first call, then kept)."""
    global _world
    if _world is None:
        _world = _find_world()
    return _world


def _find_world():
    name, size = _env_int(_SIZE_VARS)
    if size is None or size <= 1:
        return World()
    try:
        from mpi4py import MPI
    except ImportError:
        raise DistributedError(f"this process was started by an MPI launcher ({name}={size}) but mpi4py "
                               f"is not installed, so the {size} processes cannot work together; "
                               f"pip install 'minitx[mpi]'") from None
    timeout = timeout_from_env()
    w = World(MPI.COMM_WORLD, timeout)
    w.set_threads()
    return w
