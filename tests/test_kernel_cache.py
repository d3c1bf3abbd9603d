"""Compiled kernels are cached in a per-user folder, keyed by build; never in the package."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import minitx
from minitx import kernel_cache

PACKAGE = Path(minitx.__file__).parent
# One small kernel, compiled (or loaded from the cache) in a fresh process.
RUN_A_KERNEL = ("import numpy as np, minitx, minitx.nn.functional as F\n"
                "F.layer_norm(minitx.tensor(np.ones((2, 8), np.float32)), (8,))\n"
                "print(minitx.runtime.cache_dir)\n")


def _env():
    return {k: v for k, v in os.environ.items() if k not in ("MINITX_CACHE_DIR", "XDG_CACHE_HOME")}


def _python(code, tmp_path, **env):
    environ = {**_env(), **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ,
                          cwd=tmp_path)


def _numba_files(folder):
    return {p: p.stat().st_mtime_ns for p in Path(folder).rglob("*") if p.suffix in (".nbi", ".nbc")}


def test_kernels_cache_under_xdg_cache_home_and_never_in_the_package(tmp_path):
    before = _numba_files(PACKAGE)
    done = _python(RUN_A_KERNEL, tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert folder.parent == tmp_path / "xdg" / "minitx"
    assert folder.name.startswith(kernel_cache.PREFIX)
    assert any(p.suffix == ".nbi" for p in folder.rglob("*"))
    assert _numba_files(PACKAGE) == before   # nothing new or rewritten inside the package


def test_minitx_cache_dir_overrides_and_home_is_the_default(tmp_path):
    done = _python(RUN_A_KERNEL, tmp_path, MINITX_CACHE_DIR=str(tmp_path / "mine"),
                   XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == tmp_path / "mine"
    done = _python("from minitx.kernel_cache import cache_root; print(cache_root())", tmp_path,
                   HOME=str(tmp_path / "home"))
    assert Path(done.stdout.strip()) == tmp_path / "home" / ".cache" / "minitx"


def test_an_unwritable_root_falls_back_to_a_temporary_folder_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = _python(RUN_A_KERNEL, tmp_path, MINITX_CACHE_DIR=str(blocker / "cache"))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minitx: warning: cannot write the kernel cache")
    assert str(blocker / "cache") in lines[0] and "MINITX_CACHE_DIR" in lines[0]
    assert not Path(done.stdout.strip()).is_relative_to(tmp_path)


def test_the_key_changes_with_any_kernel_source_and_with_the_versions(tmp_path):
    package = tmp_path / "minitx"
    shutil.copytree(PACKAGE / "kernels", package / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACKAGE / "optim", package / "optim", ignore=shutil.ignore_patterns("__pycache__"))
    first = kernel_cache.source_hash(package)
    helper = package / "kernels" / "numba" / "_math.py"   # a helper inlined into kernels defined elsewhere
    helper.write_text(helper.read_text() + "\n# an edit\n")
    assert kernel_cache.source_hash(package) != first
    (package / "kernels" / "__pycache__").mkdir()
    (package / "kernels" / "__pycache__" / "x.py").write_text("not a source")
    helper.write_text(helper.read_text().replace("\n# an edit\n", ""))
    assert kernel_cache.source_hash(package) == first   # back to the same sources, same key
    key = kernel_cache.cache_key("0.1.0", "0.68.1")
    assert key != kernel_cache.cache_key("0.1.1", "0.68.1")
    assert key != kernel_cache.cache_key("0.1.0", "0.69.0")


def test_cache_info_and_clear_leave_what_is_not_ours(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    (root / f"{kernel_cache.PREFIX}old" / "kernels").mkdir(parents=True)
    (root / f"{kernel_cache.PREFIX}old" / "kernels" / "a.nbi").write_bytes(b"x" * 10)
    (root / "notes.txt").write_text("the user's own")
    monkeypatch.setenv("MINITX_CACHE_DIR", str(root))
    info = kernel_cache.cache_info()
    assert info == {"root": str(root), "folders": [f"{kernel_cache.PREFIX}old"], "files": 1, "bytes": 10}
    done = subprocess.run([sys.executable, "-m", "minitx", "cache", "info"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert str(root) in done.stdout and "files" in done.stdout
    done = subprocess.run([sys.executable, "-m", "minitx", "cache", "clear"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]


def test_the_temporary_fallback_is_private_to_the_user(tmp_path):
    """A fallback folder someone else could have made (group- or world-writable, or a link)
    is never used: Numba's cache index is a pickle. A fresh private folder is used instead."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    planted = tmp / f"minitx-cache-{os.getuid()}"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    done = _python(RUN_A_KERNEL, tmp_path, MINITX_CACHE_DIR=str(blocker / "cache"), TMPDIR=str(tmp))
    assert done.returncode == 0, done.stderr
    used = Path(done.stdout.strip()).parent
    assert used != planted and used.parent == tmp and not list(planted.iterdir())
    assert used.stat().st_mode & 0o077 == 0        # mkdtemp's 0700
    planted.rmdir()
    done = _python(RUN_A_KERNEL, tmp_path, MINITX_CACHE_DIR=str(blocker / "cache"), TMPDIR=str(tmp))
    assert Path(done.stdout.strip()).parent == planted   # made by us, 0700: used, and reused next time
    assert planted.stat().st_mode & 0o777 == 0o700


def test_a_missing_home_is_not_created(tmp_path):
    done = _python("import minitx", tmp_path, HOME=str(tmp_path / "nonexistent"), TMPDIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "nonexistent").exists()
    assert "cannot write the kernel cache" in done.stderr


def test_help_and_version_create_no_folder(tmp_path):
    """The cache folder is made when a first kernel is compiled, not when minitx is imported."""
    home = tmp_path / "home"
    home.mkdir()
    for args in (["--help"], ["--version"], ["train", "gpt", "--help"], ["predict", "--help"],
                 ["cache", "info"]):
        done = subprocess.run([sys.executable, "-m", "minitx", *args], capture_output=True,
                              text=True, cwd=tmp_path, env={**_env(), "HOME": str(home)})
        assert done.returncode == 0, (args, done.stderr)
        assert not list(home.iterdir()), (args, list(home.rglob("*")))
    done = _python(RUN_A_KERNEL, tmp_path, HOME=str(home))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).parent == home / ".cache" / "minitx"
    assert any(p.suffix == ".nbi" for p in Path(done.stdout.strip()).rglob("*"))
