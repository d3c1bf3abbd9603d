"""Mutation testing: does the suite catch each plausible bug in tests/mutants.py?

    python -m tests.mutate              every mutant
    python -m tests.mutate -k adamw     the mutants whose name contains 'adamw'
    python -m tests.mutate --list       the list, nothing run

MUTATE_VERBOSE=1 prints the output of each failing pytest run.

The checkout is copied to a temporary folder once; each mutant is applied to the copy
alone, then pytest runs the mutant's own test files with -x and, if they all pass, the
whole suite with -x. A failing test catches the mutant; a mutant no test catches
survived, and the exit status is 1. The copy gets its own kernel cache folder
(MINITX_CACHE_DIR): the cache is keyed by a hash of the kernel sources, so a mutated
kernel is compiled afresh, and the user's cache is left alone.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.mutants import MUTANTS

ROOT = Path(__file__).resolve().parent.parent
# Nothing the suite reads: the copy stays small and holds no stale bytecode.
IGNORE = shutil.ignore_patterns(".git", ".venv", ".ci-venv", "__pycache__", ".pytest_cache", ".hypothesis",
                                ".benchmarks", "*.egg-info", "runs", "build", "dist")
FIRST_FAILURE = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


def default_sigint():
    """A runner started in the background (`&`) ignores SIGINT, and its children would
    inherit that; the suite's Ctrl-C tests need Python's own handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pytest(copy, env, targets, timeout):
    """(passed, what failed or None, seconds) of `pytest -x` on targets in the copy."""
    start = time.time()
    try:
        out = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider",
                              *targets], cwd=copy, env=env, capture_output=True, text=True, timeout=timeout,
                             preexec_fn=default_sigint)
    except subprocess.TimeoutExpired:
        return False, f"timeout after {timeout} s", time.time() - start
    if out.returncode == 0:
        return True, None, time.time() - start
    if os.environ.get("MUTATE_VERBOSE"):
        print(out.stdout[-6000:], out.stderr[-3000:], sep="\n")
    found = FIRST_FAILURE.search(out.stdout)
    tail = (out.stdout + out.stderr).strip().splitlines()[-1:] or ["no output"]
    return False, found.group(1) if found else f"exit {out.returncode}: {tail[0]}", time.time() - start


def run_mutant(mutant, copy, env, timeout):
    """(caught, by what, seconds): the copy's file is restored before returning."""
    target = copy / mutant.file
    text, stat = target.read_text(encoding="utf-8"), target.stat()
    if text.count(mutant.original) != 1:
        return False, f"not applicable: the original occurs {text.count(mutant.original)} times", 0.0
    try:
        target.write_text(text.replace(mutant.original, mutant.replacement), encoding="utf-8")
        passed, by, seconds = pytest(copy, env, list(mutant.tests), timeout) if mutant.tests else (True, None, 0.0)
        if passed:
            passed, by, more = pytest(copy, env, [], timeout)
            seconds += more
        return not passed, by, seconds
    finally:
        # the same bytes and mtime: Numba's cache index of the file stays valid
        target.write_text(text, encoding="utf-8")
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.mutate", description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="name", default="", help="only the mutants whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per pytest run (default 1200)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.name in m.name]
    if args.list:
        for m in chosen:
            print(f"{m.name:50} {m.file}")
        return 0
    if not chosen:
        print(f"mutate: no mutant name contains {args.name!r}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="minitx-mutate-") as work:
        copy = Path(work) / "repo"
        shutil.copytree(ROOT, copy, ignore=IGNORE)
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1",
               "MINITX_CACHE_DIR": os.path.join(work, "kernel-cache")}
        # Unmutated, the mutants' own tests must pass, or every mutant would look caught.
        baseline = sorted({t for m in chosen for t in m.tests})
        passed, by, seconds = pytest(copy, env, baseline, args.timeout)
        print(f"baseline: {len(baseline)} test files {'pass' if passed else 'FAIL at ' + by} ({seconds:.0f} s)")
        if not passed:
            return 2
        survived, start = [], time.time()
        for m in chosen:
            caught, by, seconds = run_mutant(m, copy, env, args.timeout)
            print(f"{'caught  ' if caught else 'SURVIVED'} {m.name:50} {by or 'no test failed'} ({seconds:.0f} s)",
                  flush=True)
            if not caught:
                survived.append(m.name)
    print(f"mutate: {len(chosen)} mutants, {len(chosen) - len(survived)} caught, {len(survived)} survived "
          f"({time.time() - start:.0f} s)" + (": " + ", ".join(survived) if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
