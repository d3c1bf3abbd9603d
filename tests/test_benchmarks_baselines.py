"""benchmarks/baselines.py --quick gives every row of its table, finite, and bag-of-words
sits exactly at chance on the shuffled-words task."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "baselines.py"

MODELS = ["bag-of-words + logreg", "TF-IDF + logreg", "n-gram LM", "RNN", "LSTM", "BERT", "GPT"]
ROWS = ([("pages", m) for m in MODELS] + [("order", m) for m in MODELS]
        + [("next-char", m) for m in ("n-gram LM", "RNN", "LSTM", "GPT")])


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("baselines") / "result.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def finite(x):
    return isinstance(x, (int, float)) and math.isfinite(x)


def test_every_row_is_there_with_finite_numbers(result):
    data, stdout = result
    assert [(r["task"], r["model"]) for r in data["table"]] == ROWS
    for r in data["table"]:
        assert all(finite(r[k]) for k in ("mean", "min", "max", "train_s", "tokens_per_s")), r
        assert r["min"] <= r["mean"] <= r["max"] and r["params"] > 0 and r["tokens_per_s"] > 0
        if r["metric"] == "accuracy":
            assert 0 <= r["min"] and r["max"] <= 1
        assert f"| {r['model']} |" in stdout


def test_bag_of_words_is_exactly_at_chance_on_shuffled_words(result):
    rows = {(r["task"], r["model"]): r for r in result[0]["table"]}
    assert rows[("order", "bag-of-words + logreg")]["values"] == [0.5]
    assert rows[("order", "TF-IDF + logreg")]["values"] == [0.5]


def test_step_times_and_position_curves_are_complete(result):
    data = result[0]
    assert [r["T"] for r in data["step_time"]] == [64, 128, 256, 512, 1024]
    assert all(finite(r["lstm_ms"]) and finite(r["attention_ms"]) and r["lstm_ms"] > 0 for r in data["step_time"])
    assert set(data["curves"]) == {"n-gram LM (n=5)", "RNN", "LSTM", "GPT"}
    T = data["config"]["lm_T"]
    assert all(len(c) == T and all(map(finite, c)) for c in data["curves"].values())
    assert set(data["context"]) == set(data["curves"])
    assert all(map(finite, data["ngram_orders"].values()))
    # more context never hurts the n-gram on this text: each order beats the one before
    bits = [data["ngram_orders"][str(n)] for n in range(1, len(data["ngram_orders"]) + 1)]
    assert bits == sorted(bits, reverse=True)
