import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# quick: the default, keeps the whole suite under a few minutes on 2 cores.
# thorough: `pytest --hypothesis-profile=thorough` for a deeper search.
# Under CI the quick search is derandomized: a submission is judged on the same
# examples every time, while developers' runs keep drawing new ones.
settings.register_profile("quick", max_examples=15, deadline=None,
                          derandomize=os.environ.get("CI") == "true",
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

ROOT = Path(__file__).resolve().parent.parent


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
