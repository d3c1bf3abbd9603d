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
- Numba's threading layer: OpenMP (GNU libgomp), whose launches cost a third of
  workqueue's, with idle threads that spin for GOMP_SPINCOUNT = 1,000 pauses
  before they sleep, not libgomp's default 300,000, which holds a core for
  milliseconds against OpenBLAS's threads;
  'workqueue' where libgomp is missing, or already loaded (PyTorch imported
  before minitx: Numba would share that libgomp, which read its spin count when
  it loaded). The spin count is set while Numba's threads start, at import, and
  then removed from the environment, so a libgomp loaded later (PyTorch's) keeps
  its own default.
  libgomp cannot be forked: a forked child runs every kernel on one thread
  (minitx/kernels/numba/_jit.py). If Numba's threads already started before
  minitx was imported, a RuntimeWarning says so.
  Opt out: NUMBA_THREADING_LAYER=<layer> (that layer, silently); a user's own
  GOMP_SPINCOUNT or OMP_WAIT_POLICY is kept.
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
GOMP_SPINCOUNT = 1000          # pauses; libgomp's default is 300,000
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
    _start_numba_threads()


def _start_numba_threads():
    import numba
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    try:
        started = numba.threading_layer()
    except ValueError:  # not started yet: start them now, with the spin count set
        ours = not (os.environ.get("GOMP_SPINCOUNT") or os.environ.get("OMP_WAIT_POLICY"))
        if ours:
            os.environ["GOMP_SPINCOUNT"] = str(GOMP_SPINCOUNT)
        try:
            if _libgomp_loaded():       # read its environment already: it would spin at length
                raise ValueError("libgomp already loaded")
            numba.config.THREADING_LAYER = "omp"
            numba.get_num_threads()     # loads the layer: libgomp reads its environment now
        except ValueError:              # no libgomp on this machine, or not ours to set
            numba.config.THREADING_LAYER = "workqueue"
            numba.get_num_threads()
        finally:
            if ours:
                del os.environ["GOMP_SPINCOUNT"]
        return
    # Numba's threads started before minitx was imported (numba.set_num_threads or a
    # parallel function). workqueue is merely slower to launch; OpenMP with libgomp's
    # default spin (or tbb's) holds the cores against OpenBLAS.
    if started == "workqueue" or os.environ.get("GOMP_SPINCOUNT") or os.environ.get("OMP_WAIT_POLICY"):
        return
    warnings.warn(f"minitx: Numba's threads were started before minitx was imported, on the "
                  f"'{started}' threading layer with its default settings, whose idle threads "
                  f"spin against OpenBLAS's and can make minitx's kernels 2x slower. Import "
                  f"minitx first, or set NUMBA_THREADING_LAYER (docs/kernels/threads.md).",
                  RuntimeWarning, stacklevel=3)


def _libgomp_loaded():
    """Whether a libgomp is in the process already (PyTorch's, imported before minitx):
    Numba's OpenMP layer would share it, with the spin it read when it loaded."""
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:
        return False
