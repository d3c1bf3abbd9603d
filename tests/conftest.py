import os
import random
import sys
from pathlib import Path

# Numba fixes its thread count when it is imported, from NUMBA_NUM_THREADS (default:
# the cores). The parallel drivers need two threads to run at all, so a 1-core machine
# (or NUMBA_NUM_THREADS=1) would test the serial code twice; Numba accepts more threads
# than cores. tests/kernel_strategies.py's kernel_path asserts the count took.
if int(os.environ.get("NUMBA_NUM_THREADS") or 0) < 2:
    os.environ["NUMBA_NUM_THREADS"] = str(max(2, os.cpu_count() or 1))

import pytest
from hypothesis import HealthCheck, settings

# quick: the default, keeps the whole suite under a few minutes on 2 cores.
# ci: what .ci/run uses (CI=true): derandomized, so a submission is judged on the same
#     examples every time, and twice quick's search within CI's time budget.
# thorough: `pytest --hypothesis-profile=thorough` for a deeper search.
settings.register_profile("quick", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI") == "true" else "quick"))

ROOT = Path(__file__).resolve().parent.parent

# MINITX_REQUIRE_PARITY=1 (.ci/run sets it): any skip fails the run. A parity module
# skips when torch or transformers is missing, and a green run that compared nothing
# with PyTorch is the failure CI exists to catch. The suite has no other skip on
# Linux with the README's extras installed (the allocator's is for non-glibc systems).
REQUIRE_ALL = os.environ.get("MINITX_REQUIRE_PARITY") == "1"
_skips = []


def _record_skip(report):
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skips.append(f"{report.nodeid}: {reason}")


pytest_collectreport = _record_skip
pytest_runtest_logreport = _record_skip


def pytest_terminal_summary(terminalreporter):
    if _skips:
        terminalreporter.section("MINITX_REQUIRE_PARITY=1: skips are failures")
        for line in _skips:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session):
    if _skips and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


UNSEEDED = 0x5EED_0F_DEAD   # torch's seed between tests: a draw under it was never seeded


@pytest.fixture(autouse=True)
def random_state():
    """A test's draws must not depend on the tests run before it. minitx's generator
    (weight init, dropout) starts each test at seed 0. NumPy's and Python's global
    generators must not be drawn from, nor torch's before the test seeds it (a
    Hugging Face model's init draws from it). tests/test_suite_rules.py greps too."""
    import numpy as np   # here, not above: minitx is imported before numpy (minitx/runtime.py)
    import minitx
    minitx.manual_seed(0)
    torch = sys.modules.get("torch")
    if torch:
        torch.manual_seed(UNSEEDED)
        torch_state = torch.get_rng_state()
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    yield
    assert np.array_equal(np.random.get_state()[1], np_state), \
        "the test drew from np.random's global generator: use np.random.default_rng(seed)"
    assert random.getstate() == py_state, \
        "the test drew from the random module's global generator: use random.Random(seed)"
    if torch:
        assert torch.initial_seed() != UNSEEDED or torch.equal(torch.get_rng_state(), torch_state), \
            "the test drew from torch's global generator without torch.manual_seed(seed) first"


@pytest.fixture(autouse=True)
def own_working_directory(tmp_path, monkeypatch):
    """Each test runs in its own empty folder: nothing in the folder pytest was started
    from (a runs/ left by `minitx train`, say) is read or written. Subprocesses find
    this checkout's minitx through PYTHONPATH, as the tests themselves do."""
    monkeypatch.chdir(tmp_path)
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT)] + ([path] if path else [])))


@pytest.fixture(scope="session")
def cli_runs(tmp_path_factory):
    """A tiny GPT run and a tiny BERT run, trained once by the CLI (tests/cli_harness.py)."""
    from tests.cli_harness import build_runs
    return build_runs(tmp_path_factory.mktemp("cli-runs"))
