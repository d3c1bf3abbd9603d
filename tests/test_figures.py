"""The pictures cannot drift from the code: every script in docs/figures/ runs, in a fresh
process, and writes its PNG; and each has its PNG committed under docs/img/."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "docs" / "figures").glob("*.py") if not p.name.startswith("_"))


def test_there_are_figure_scripts():
    assert {"position_encoding", "position_similarity", "sampling", "attention_map", "loss_curves",
            "transformer_heads"} <= \
        {p.stem for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_script_writes_its_png(script, tmp_path):
    # OPENBLAS_NUM_THREADS=1: the tiny models' matrices gain nothing from BLAS threads, which
    # only contend with the other processes of a busy machine.
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH")
                                                        else []))}
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "img")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    png = tmp_path / "img" / (script.stem + ".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == [png.name]   # nothing else written
    assert (ROOT / "docs" / "img" / png.name).exists(), f"docs/img/{png.name} is not committed: run {script}"
