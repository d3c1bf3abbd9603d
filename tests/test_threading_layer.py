"""minitx runs Numba's kernels on the workqueue threading layer (docs/kernels/threads.md),
says so when Numba's threads were started with another one before it was imported, and
runs serial in a forked child."""
import os
import subprocess
import sys


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**environ, **env})


def test_minitx_starts_numba_on_workqueue():
    out = _python("import minitx, numba; numba.set_num_threads(1); print(numba.threading_layer())")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "workqueue"


def test_threads_started_before_import_get_a_warning():
    out = _python("import numba; numba.set_num_threads(1); layer = numba.threading_layer()\n"
                  "import warnings; warnings.simplefilter('error')\n"
                  "try:\n    import minitx\n    print(layer)\n"
                  "except RuntimeWarning as w:\n    print(layer, w)\n")
    assert out.returncode == 0, out.stderr
    layer, _, message = out.stdout.strip().partition(" ")
    # A Numba with only the workqueue layer started on it: nothing to warn about.
    # (Not a skip: MINITX_REQUIRE_PARITY=1 fails on any skip, tests/conftest.py.)
    if layer == "workqueue":
        assert message == ""
    else:
        assert f"'{layer}' threading layer" in message and "Import minitx first" in message


def test_a_layer_chosen_in_the_environment_is_respected_silently():
    out = _python("import numba; numba.set_num_threads(1)\n"
                  "import warnings; warnings.simplefilter('error')\n"
                  "import minitx; print(numba.threading_layer())", NUMBA_THREADING_LAYER="workqueue")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "workqueue"


def test_a_forked_child_runs_the_kernels_serial_and_survives():
    """Threads do not survive fork(); minitx's kernels run on one core in a forked child,
    with the same results."""
    code = ("import os, numpy as np, minitx, minitx.nn.functional as F\n"
            "from minitx.kernels.numba import pair\n"
            "rng = np.random.default_rng(0)\n"
            "x = minitx.tensor(rng.standard_normal((1024, 8192)).astype(np.float32))\n"
            "t = minitx.tensor(rng.integers(0, 8192, 1024))\n"
            "assert pair.pays(1024 * 8192)\n"
            "parent = F.cross_entropy(x, t, reduction='none').numpy()\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    child = F.cross_entropy(x, t, reduction='none').numpy()\n"
            "    ok = not pair.pays(1024 * 8192) and np.array_equal(child, parent)\n"
            "    os._exit(0 if ok else 3)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print(os.waitstatus_to_exitcode(status))")
    out = _python(code, NUMBA_NUM_THREADS="2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", out.stderr
