"""minitx starts Numba's threads on OpenMP with a short spin (minitx/runtime.py), falls
back to workqueue without libgomp, keeps a user's choice, says so when Numba's threads
were started with default settings before it was imported, and runs serial in a
forked child, where libgomp cannot go."""
import os
import subprocess
import sys

import pytest

_OURS = ("NUMBA_THREADING_LAYER", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS")


def _python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in _OURS}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**environ, "NUMBA_NUM_THREADS": "2", **env})


def _has_libgomp():
    out = _python("import numba; numba.config.THREADING_LAYER = 'omp'; numba.get_num_threads()")
    return out.returncode == 0


def test_minitx_starts_numba_on_openmp_and_leaves_the_environment_as_found():
    out = _python("import os, minitx, numba\n"
                  "print(numba.threading_layer(), os.environ.get('GOMP_SPINCOUNT'))")
    assert out.returncode == 0, out.stderr
    expected = "omp None" if _has_libgomp() else "workqueue None"
    assert out.stdout.strip() == expected


def test_the_short_spin_reaches_numbas_libgomp():
    """After a launch, libgomp's default spin burns milliseconds of CPU on the idle
    worker; minitx's 1,000 pauses burn well under one."""
    if not _has_libgomp():
        pytest.skip("no libgomp here: minitx runs on workqueue")
    code = ("import time, numpy as np, minitx, numba\n"
            "@numba.njit(parallel=True)\n"
            "def f(a):\n"
            "    for i in numba.prange(a.shape[0]):\n"
            "        a[i] += 1.0\n"
            "a = np.zeros(1 << 16); f(a)\n"
            "spins = []\n"
            "for _ in range(10):\n"
            "    f(a); c = time.process_time(); time.sleep(0.05); spins.append(time.process_time() - c)\n"
            "print(sorted(spins)[5])")
    ours = float(_python(code).stdout)
    default = float(_python(code, GOMP_SPINCOUNT="300000").stdout)
    assert ours < 1e-3 < default, (ours, default)


def test_threads_started_before_import_get_a_warning():
    out = _python("import numba; numba.config.THREADING_LAYER = 'omp'; numba.set_num_threads(1)\n"
                  "import warnings; warnings.simplefilter('error')\n"
                  "try:\n    import minitx\nexcept RuntimeWarning as w:\n    print(w)\n")
    if not _has_libgomp():
        pytest.skip("no libgomp here")
    assert out.returncode == 0, out.stderr
    assert "'omp' threading layer" in out.stdout and "Import minitx first" in out.stdout


@pytest.mark.parametrize("env", [{"NUMBA_THREADING_LAYER": "workqueue"}, {"GOMP_SPINCOUNT": "5000"}])
def test_a_users_own_setting_is_respected_silently(env):
    out = _python("import numba; numba.set_num_threads(1); layer = numba.threading_layer()\n"
                  "import warnings; warnings.simplefilter('error')\n"
                  "import os, minitx; print(layer, os.environ.get('GOMP_SPINCOUNT'))", **env)
    assert out.returncode == 0, out.stderr
    layer, spin = out.stdout.split()
    assert spin == env.get("GOMP_SPINCOUNT", "None")
    if "NUMBA_THREADING_LAYER" in env:
        assert layer == "workqueue"


def test_a_forked_child_runs_the_kernels_serial_and_survives():
    """Numba kills a forked child that starts an OpenMP parallel loop; minitx's kernels
    take their serial drivers there, with the same results."""
    code = ("import os, numpy as np, minitx, minitx.nn.functional as F\n"
            "from minitx.kernels.numba import _jit\n"
            "x = np.random.default_rng(0).standard_normal((64, 8192)).astype(np.float32)\n"
            "assert _jit.parallel_pays(x.size)\n"
            "parent = F.gelu(minitx.tensor(x)).numpy()\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    ok = not _jit.parallel_pays(x.size) and np.array_equal(F.gelu(minitx.tensor(x)).numpy(), parent)\n"
            "    os._exit(0 if ok else 3)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print(os.waitstatus_to_exitcode(status))")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", out.stderr


def test_a_libgomp_loaded_before_minitx_means_workqueue():
    """PyTorch imported first brings its libgomp, which Numba's OpenMP layer would share,
    with libgomp's default spin: minitx takes workqueue then, silently."""
    pytest.importorskip("torch")
    out = _python("import torch\nimport warnings; warnings.simplefilter('error')\n"
                  "import minitx, numba; print(numba.threading_layer())")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "workqueue"
