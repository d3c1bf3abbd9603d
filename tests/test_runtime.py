"""What importing minitx changes in the process (minitx/runtime.py): OpenBLAS's spin."""
import os
import subprocess
import sys

from tests.cli_harness import environment


def _run(code, **env):
    done = subprocess.run([sys.executable, "-c", code], env=environment(**env), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_minitx_first_shortens_openblas_spin():
    code = "import os, minitx; print(os.environ['OPENBLAS_THREAD_TIMEOUT'], minitx.runtime.openblas_timeout)"
    assert _run(code, OPENBLAS_THREAD_TIMEOUT=None) == "16 16"


def test_a_users_openblas_timeout_is_kept():
    code = "import os, minitx; print(os.environ['OPENBLAS_THREAD_TIMEOUT'], minitx.runtime.openblas_timeout)"
    assert _run(code, OPENBLAS_THREAD_TIMEOUT="28") == "28 28"


def test_numpy_imported_first_is_left_alone():
    """OpenBLAS read its settings when numpy loaded: setting them later would say what is not so."""
    code = ("import os, numpy, minitx; "
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), minitx.runtime.openblas_timeout)")
    assert _run(code, OPENBLAS_THREAD_TIMEOUT=None) == "None None"
