"""What importing minitx changes in the process, all in one place.

minitx/__init__.py calls configure() once, before any kernel module is imported:

- malloc (glibc only): freed blocks up to 64 MiB stay in the heap and up to
  256 MiB of free heap stays mapped, so a training step reuses the pages of the
  one before instead of faulting them in again (minitx/allocator.py).
  Opt out: MINITX_MALLOC=default.
- Numba's on-disk cache, for minitx's kernels only: a per-user folder keyed by
  build (minitx/kernel_cache.py); a user's own Numba functions keep Numba's
  defaults. Choose the folder: MINITX_CACHE_DIR (else $XDG_CACHE_HOME/minitx,
  else ~/.cache/minitx).
- Numba's threading layer: 'workqueue', whose idle threads sleep instead of
  spinning against OpenBLAS's (docs/kernels/threads.md). If Numba's threads
  already started on another layer, a RuntimeWarning says so.
  Opt out: NUMBA_THREADING_LAYER=<layer> (that layer, silently).
- OpenBLAS's idle threads (numpy's matmuls) spin for 2^16 cycles, not its default
  2^28 (about 0.1 s), before they sleep: after each matmul they would otherwise hold
  the other cores that minitx's threaded kernels need. OpenBLAS reads this when it
  loads, so it applies only if minitx is imported before numpy.
  Opt out: OPENBLAS_THREAD_TIMEOUT=<n> (2^n cycles; 28 is OpenBLAS's default).
"""
import os
import sys
import warnings

OPENBLAS_THREAD_TIMEOUT = "16"
malloc_tuned = False    # whether glibc took the malloc settings
cache_dir = None        # the folder this build's kernels are cached in
openblas_timeout = None  # the OPENBLAS_THREAD_TIMEOUT numpy's OpenBLAS loaded with (None: unknown)


def configure(version):
    """Apply the four settings above; `version` (minitx's) keys the kernel cache."""
    global malloc_tuned, cache_dir, openblas_timeout
    if "numpy" not in sys.modules:  # first: anything below imports numpy, which loads OpenBLAS
        openblas_timeout = os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)
    from . import allocator, kernel_cache
    malloc_tuned = allocator.tune()
    cache_dir = kernel_cache.install(version)   # before the first @njit: Numba picks a folder then
    _use_workqueue()


def _use_workqueue():
    import numba
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    numba.config.THREADING_LAYER = "workqueue"
    try:
        started = numba.threading_layer()
    except ValueError:  # not started yet: the setting above applies
        return
    if started != "workqueue":
        # Numba's threads started before minitx was imported (numba.set_num_threads or a
        # parallel function), with its default layer; that cannot change any more.
        warnings.warn(f"minitx: Numba's threads were started before minitx was imported, with "
                      f"the '{started}' threading layer; its spinning threads can make minitx's "
                      f"kernels 2x slower beside OpenBLAS. Import minitx first, or set "
                      f"NUMBA_THREADING_LAYER=workqueue (docs/kernels/threads.md).",
                      RuntimeWarning, stacklevel=3)
