"""Gradient averaging over the ranks: flat buckets, a fixed order, overlapped with backward.

The parameters are laid out, last registered first (the order backward finishes
them), in flat preallocated buffers of about `bucket_bytes` each. During the
backward of the step's last micro-batch, autograd.on_leaf_ready tells the
reducer as each parameter's gradient becomes final; its bucket's slice gets a
copy, and once a bucket is full its non-blocking allreduce (a sum) starts,
while the walk goes on to the layers below. Buckets start strictly in index
order (a bucket that fills early waits for the ones before it), so every rank
issues the same collectives in the same order, and each sum is deterministic.

finish() starts what is left (parameters no gradient reached count as zeros),
waits for every bucket, scales the sums by 1 / N, and points each p.grad at its
slice of the bucket: from there clipping and the NaN guard see the global mean
gradient, the same on every rank, and the optimizer steps identically everywhere.
"""
import contextlib
import time

import numpy as np

from ..autograd import on_leaf_ready

DEFAULT_BUCKET_BYTES = 1 << 20


class _Bucket:
    def __init__(self, params, dtype):
        self.params = params
        self.offsets = np.cumsum([0] + [p.data.size for p in params])
        self.flat = np.zeros(int(self.offsets[-1]), dtype)   # (sum of the parameters' sizes,)
        self.left = len(params)      # parameters whose gradient is not in yet
        self.request = None          # this step's allreduce, once started
        self.persistent = None       # the same allreduce set up once (MPI 4), started each step

    def view(self, i):
        p = self.params[i]
        return self.flat[self.offsets[i]:self.offsets[i + 1]].reshape(p.shape)


class GradReducer:
    """Averages the .grad of `params` over `world`'s ranks (see the module docstring)."""

    def __init__(self, world, params, bucket_bytes=DEFAULT_BUCKET_BYTES):
        self.world = world
        self.buckets, self._where = [], {}
        current, size, dtype = [], 0, None
        for p in reversed(list(params)):
            if current and (size + p.data.nbytes > bucket_bytes or p.dtype != dtype):
                self.buckets.append(_Bucket(current, dtype))
                current, size = [], 0
            current.append(p)
            size, dtype = size + p.data.nbytes, p.dtype
        if current:
            self.buckets.append(_Bucket(current, dtype))
        for b, bucket in enumerate(self.buckets):
            for i, p in enumerate(bucket.params):
                self._where[id(p)] = (b, i)
        if world.size > 1:
            self._set_up_persistent()
        self._next = 0                       # the next bucket to start
        self._in_flight = []                 # started requests not seen complete, oldest first
        self.seconds_waiting = 0.0           # in finish(): communication backward did not hide

    def _set_up_persistent(self):
        """A persistent allreduce per bucket (MPI 4's MPI_Allreduce_init): Open MPI builds a
        non-blocking collective's schedule on every Iallreduce call, about 190 us for each
        of the small GPT's 4 buckets; a persistent one builds it once and Start() takes
        about 20 us. With an MPI older than 4, Iallreduce each step."""
        from mpi4py import MPI
        try:
            for bucket in self.buckets:   # collective: every rank sets up the same, in order
                bucket.persistent = self.world.comm.Allreduce_init(MPI.IN_PLACE, bucket.flat, op=MPI.SUM)
        except (AttributeError, NotImplementedError):
            for bucket in self.buckets:
                bucket.persistent = None

    @property
    def nbytes(self):
        return sum(b.flat.nbytes for b in self.buckets)

    @contextlib.contextmanager
    def overlapped(self):
        """Run a backward inside: each full bucket starts its allreduce at once."""
        for bucket in self.buckets:
            bucket.left, bucket.request = len(bucket.params), None
        self._next, self._in_flight = 0, []
        with on_leaf_ready(self._ready):
            yield

    def _ready(self, p):
        where = self._where.get(id(p))
        if where is None:
            return
        b, i = where
        bucket = self.buckets[b]
        self._copy_in(bucket, i)
        bucket.left -= 1
        self._start_ready()

    def _copy_in(self, bucket, i):
        p = bucket.params[i]
        if p.grad is None:
            bucket.view(i)[...] = 0
        else:
            bucket.view(i)[...] = p.grad

    def _start_ready(self):
        from mpi4py import MPI
        while self._next < len(self.buckets) and self.buckets[self._next].left == 0:
            bucket = self.buckets[self._next]
            if bucket.persistent is None:
                bucket.request = self.world.comm.Iallreduce(MPI.IN_PLACE, bucket.flat, op=MPI.SUM)
            else:
                bucket.request = bucket.persistent
                bucket.request.Start()
            self._in_flight.append(bucket.request)
            self._next += 1
        # MPI moves a non-blocking collective on only inside MPI calls: one Test of the oldest
        # in flight runs the progress engine for all of them (Testall over the list on every
        # leaf cost 0.8 ms of a 20 ms step).
        while self._in_flight and self._in_flight[0].Test():
            self._in_flight.pop(0)

    def finish(self):
        """Complete the allreduce of every bucket and make each p.grad the global mean."""
        for bucket in self.buckets:
            if bucket.left:  # not reached by this backward (or no backward ran under overlapped)
                for i in range(len(bucket.params)):
                    self._copy_in(bucket, i)
                bucket.left = 0
        self._start_ready()
        t0 = time.perf_counter()
        scale = 1.0 / self.world.size
        for b, bucket in enumerate(self.buckets):
            self.world.wait(bucket.request, f"the gradient allreduce (bucket {b + 1} of {len(self.buckets)})")
            bucket.request = None
            bucket.flat *= bucket.flat.dtype.type(scale)
            for i, p in enumerate(bucket.params):
                p.grad = bucket.view(i)
        self.seconds_waiting += time.perf_counter() - t0
        for bucket in self.buckets:
            bucket.left = len(bucket.params)
        self._next, self._in_flight = 0, []
