"""How every kernel is compiled: `njit` with an on-disk cache that always works.

Numba caches compiled kernels beside the source (__pycache__). When minitx is
installed read-only (a system site-packages, a container layer) Numba would
fail to write there, so we point NUMBA_CACHE_DIR at a user cache, or a temp
folder, before Numba is imported.
"""
import os
import tempfile


def _writable(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path)
        probe.close()
        return True
    except OSError:
        return False


def _choose_cache_dir():
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    if _writable(os.path.join(here, "__pycache__")):
        return  # Numba's default place works
    for candidate in (os.path.join(os.path.expanduser("~"), ".cache", "minitx", "numba"),
                      os.path.join(tempfile.gettempdir(), f"minitx-numba-{os.getuid()}")):
        if _writable(candidate):
            os.environ["NUMBA_CACHE_DIR"] = candidate
            return


_choose_cache_dir()

import numba  # noqa: E402  (after the cache dir is settled)

if os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


def njit(*args, **kwargs):
    """numba.njit with cache=True; pass parallel=True only where a benchmark shows it pays.

    error_model='numpy': a float division by zero gives inf/nan as in NumPy
    instead of a Python ZeroDivisionError check on every division, which would
    also stop LLVM from vectorizing the loop around it.
    """
    kwargs.setdefault("cache", True)
    kwargs.setdefault("error_model", "numpy")
    return numba.njit(*args, **kwargs)
