"""The suite's own rules: no skip under CI, no global random state, and a
mutant list (tests/mutants.py) that still applies to the code it mutates."""
import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mutants import MUTANTS

ROOT = Path(__file__).resolve().parent.parent


# ---- MINITX_REQUIRE_PARITY=1 turns any skip into a failed run ---------------------------
def _pytest(folder, **env):
    # tests/conftest.py as a plugin: the rule under test lives there.
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest",
                           "-p", "no:cacheprovider", str(folder)], cwd=folder, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


@pytest.mark.parametrize("body", [
    "import pytest\npytest.importorskip('torch_that_is_not_installed')\n\ndef test_a():\n    pass\n",
    "import pytest\n\ndef test_a():\n    pytest.skip('no reason')\n",
], ids=["missing-module", "skip-in-test"])
def test_a_skip_fails_the_run_when_parity_is_required(tmp_path, body):
    (tmp_path / "test_tiny.py").write_text(body)
    (tmp_path / "test_other.py").write_text("def test_c():\n    pass\n")
    relaxed = _pytest(tmp_path, MINITX_REQUIRE_PARITY="0")
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    strict = _pytest(tmp_path, MINITX_REQUIRE_PARITY="1")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "skips are failures" in strict.stdout


def test_ci_requires_parity_and_the_ci_profile():
    run = (ROOT / ".ci" / "run").read_text()
    assert "export MINITX_REQUIRE_PARITY=1" in run
    assert 'export CI="${CI:-true}"' in run


# ---- no draw from a global generator ---------------------------------------------------
# np.random's constructors take a seed, and reading the state draws nothing; everything
# else on np.random (or on the random module) draws from global state.
NP_SEEDED = {"default_rng", "Generator", "SeedSequence", "PCG64", "Philox", "BitGenerator", "get_state"}
PY_SEEDED = {"Random", "getstate"}
NP_CALL = re.compile(r"\bnp\.random\.(\w+)\(|\bnumpy\.random\.(\w+)\(")
PY_CALL = re.compile(r"(?<![\w.])random\.(\w+)\(")
TORCH_DRAWS = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
               "bernoulli", "multinomial", "normal"}


def _sources():
    files = sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "minitx" / "testing").rglob("*.py"))
    return [(f, f.read_text(encoding="utf-8")) for f in files]


def test_no_test_draws_from_a_global_generator():
    found = []
    for path, text in _sources():
        for m in NP_CALL.finditer(text):
            if (m.group(1) or m.group(2)) not in NP_SEEDED:
                found.append(f"{path.name}: {m.group(0)}")
        if re.search(r"^import random$", text, re.M):
            found += [f"{path.name}: {m.group(0)}" for m in PY_CALL.finditer(text) if m.group(1) not in PY_SEEDED]
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
            seeded = any(c.func.attr == "manual_seed" for c in calls)
            for c in calls:
                draws = c.func.attr in TORCH_DRAWS and ast.unparse(c.func).startswith("torch")
                if draws and not seeded and not any(k.arg == "generator" for k in c.keywords):
                    found.append(f"{path.name}:{c.lineno}: {ast.unparse(c.func)} without torch.manual_seed")
    assert not found, "draws from a global generator:\n" + "\n".join(found)


def test_the_hygiene_check_sees_a_global_draw(tmp_path):
    text = "import numpy as np\nx = np.random." + "rand(3)\n"   # split: this file is grepped too
    assert [m.group(1) for m in NP_CALL.finditer(text)] == ["rand"]


# ---- the mutant list still applies ---------------------------------------------------
@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_changes_exactly_one_place(mutant):
    """A refactor that moves or rewrites a mutated line would make the mutant a no-op
    (always 'survived', or never applied); this fails first."""
    text = (ROOT / mutant.file).read_text(encoding="utf-8")
    assert text.count(mutant.original) == 1, f"{mutant.name}: {mutant.original!r} occurs " \
        f"{text.count(mutant.original)} times in {mutant.file}"
    assert mutant.replacement != mutant.original
    for test in mutant.tests:
        assert (ROOT / test.split("::")[0]).is_file(), f"{mutant.name}: no {test}"


def test_mutant_names_are_unique():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
