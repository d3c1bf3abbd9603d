"""The suite is hermetic: no test reads or writes the folder pytest was
started from, and subprocesses run this checkout's minitx, not an installed one."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_each_test_starts_in_its_own_empty_folder(tmp_path):
    assert Path.cwd() == tmp_path and not any(tmp_path.iterdir())


def test_a_subprocess_imports_this_checkout():
    done = subprocess.run([sys.executable, "-c", "import minitx; print(minitx.__file__)"],
                          capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()).resolve() == (ROOT / "minitx" / "__init__.py").resolve()
