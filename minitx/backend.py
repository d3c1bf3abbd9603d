"""The one switch between the NumPy twins and the Numba kernels.

`set_backend('numpy')` (or MINITX_BACKEND=numpy) makes every fused op run its
plain NumPy version; 'numba' (the default) runs the compiled one. Kernel files
register both versions with `dispatch`, which reads the switch at call time.
"""
import contextlib
import os

BACKENDS = ("numba", "numpy")


def _check(name, source="backend"):
    if name not in BACKENDS:
        raise ValueError(f"unknown {source} {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


# MINITX_BACKEND is checked on first use, not at import: a bad value is then an
# error a command can report in one line, not a traceback from `import minitx`.
_current = os.environ.get("MINITX_BACKEND", "numba").strip().lower() or "numba"


def set_backend(name):
    """Select 'numba' (fast) or 'numpy' (reference) for every fused kernel."""
    global _current
    _current = _check(name)


def get_backend():
    return _check(_current, "MINITX_BACKEND")  # set_backend checked its own names


@contextlib.contextmanager
def use_backend(name):
    """Run a block under another backend, then restore the previous one."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def dispatch(numpy_impl, numba_impl):
    """One callable that runs `numba_impl` or `numpy_impl` by the current backend."""
    def run(*args, **kwargs):
        if _current == "numba":
            return numba_impl(*args, **kwargs)
        if _current == "numpy":
            return numpy_impl(*args, **kwargs)
        return get_backend()  # raises: MINITX_BACKEND holds an unknown name

    run.__name__ = numpy_impl.__name__.removesuffix("_numpy")
    run.__doc__ = numpy_impl.__doc__
    run.numpy = numpy_impl
    run.numba = numba_impl
    return run
