"""report.html and metrics.csv: the ticks and scales of the SVG charts against hand-worked
values, a chart's points against the metrics they draw, a page that fetches nothing and
escapes what it shows, the CSV's rows; then the commands, in subprocesses: every
training run writes its report, `minitx report` writes it again and overlays runs."""
import csv
import io
import json
import math
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitx.report import RunReport, read_run
from minitx.report.html import overlay_page
from minitx.report.metrics_csv import to_csv
from minitx.report.series import collect, current_records, plan
from minitx.report.svg import Line, format_tick, line_chart, log_ticks, nice_ticks, thin, y_axis
from tests.cli_harness import GPT_TINY, error_line, minitx, write_jsonl

# ---- ticks and scales --------------------------------------------------------------------


@pytest.mark.parametrize("lo, hi, ticks", [
    (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (3.6, 4.8, [3.6, 3.8, 4.0, 4.2, 4.4, 4.6, 4.8]),
    (0, 800, [0, 200, 400, 600, 800]),
    (10, 60, [10, 20, 30, 40, 50, 60]),
    (0.1, 0.35, [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]),
    (-3, 7, [-2, 0, 2, 4, 6]),
])
def test_nice_ticks_by_hand(lo, hi, ticks):
    assert nice_ticks(lo, hi)[0] == ticks


def test_integer_ticks_never_fall_between_steps():
    assert nice_ticks(0, 3, integer=True)[0] == [0, 1, 2, 3]


@given(st.floats(-1e4, 1e4), st.floats(1e-6, 1e6), st.integers(3, 8))
def test_ticks_are_round_multiples_spanning_the_range(lo, relative, count):
    hi = lo + relative * max(1.0, abs(lo))   # a narrower span is float noise: the chart widens it first
    ticks, step = nice_ticks(lo, hi, count)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-9
    assert 2 <= len(ticks) <= 2 * count + 1
    eps = 1e-6 * step
    assert all(lo - eps <= t <= hi + eps for t in ticks)
    assert ticks[0] - lo < step + eps and hi - ticks[-1] < step + eps
    assert all(abs(b - a - step) <= eps for a, b in zip(ticks, ticks[1:]))
    assert all(abs(t / step - round(t / step)) < 1e-6 for t in ticks)


@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=30))
def test_a_linear_y_axis_holds_every_value_between_a_tick_at_each_end(values):
    lo, hi, ticks, labels = y_axis(values)
    step = ticks[1] - ticks[0]
    eps = 1e-6 * step   # a value within a millionth of a step of a tick sits on it
    assert lo - eps <= min(values) and max(values) <= hi + eps and lo < hi
    assert ticks[0] == pytest.approx(lo, abs=1e-9 * step) and ticks[-1] == pytest.approx(hi, abs=1e-9 * step)
    if max(values) - min(values) > 1e-6 * max(map(abs, values)):   # (a single value is widened first)
        assert hi - lo <= (max(values) - min(values)) + 2 * step * (1 + 1e-9)


@pytest.mark.parametrize("lo, hi, ticks", [
    (0.95, 4.7, [1, 2, 3, 4]),
    (0.9, 1.9, [0.9, 1]),
    (0.01, 10, [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]),
    (0.5, 2000, [1, 10, 100, 1000]),
])
def test_log_ticks_by_hand(lo, hi, ticks):
    assert log_ticks(lo, hi) == pytest.approx(ticks)


def test_a_log_axis_labels_each_tick_by_its_decade():
    assert y_axis([0.02, 9.5], log=True)[3] == ["0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"]


@pytest.mark.parametrize("value, step, text", [
    (0, 0.2, "0"), (0.4, 0.2, "0.4"), (3.6, 0.2, "3.6"), (200, 100, "200"), (12000, 2000, "12k"),
    (1_500_000, 500_000, "1.5M"), (0.0015, 0.0005, "0.0015"), (8e-5, 2e-5, "8e-5"), (1.5e-4, 5e-5, "1.5e-4"),
])
def test_tick_labels(value, step, text):
    assert format_tick(value, step) == text


# ---- a chart draws the metrics -------------------------------------------------------------

def _polylines(svg):
    """{label: [(x, y), ...]} of a chart's polylines."""
    found = re.findall(r'<polyline data-label="([^"]*)" points="([^"]*)"', svg)
    return {label: [tuple(map(float, p.split(","))) for p in points.split()] for label, points in found}


def _y_ticks(svg):
    """[(label text, y)] of the y axis."""
    return [(text, float(y)) for y, text in re.findall(r'class="ytick" x="[^"]*" y="([^"]*)"[^>]*>([^<]*)<', svg)]


def _affine(us, vs):
    """(a, b) with v = a + b u through the first and last points; the others must lie on it."""
    b = (vs[-1] - vs[0]) / (us[-1] - us[0])
    a = vs[0] - b * us[0]
    for u, v in zip(us, vs):
        assert v == pytest.approx(a + b * u, abs=0.15), (u, v)   # points are printed to 0.1
    return a, b


@pytest.mark.parametrize("log", [False, True])
def test_the_points_are_the_values_on_the_axes_ticks(log):
    steps = [0, 10, 20, 40, 80, 160]
    losses = [9.0, 4.0, 2.5, 1.2, 0.9, 0.5]
    svg = line_chart([Line("val loss", steps, losses)], log_y=log)
    (points,) = _polylines(svg).values()
    assert len(points) == len(steps)
    xs, ys = zip(*points)
    _affine(steps, xs)
    value = [math.log10(v) for v in losses] if log else losses
    a, b = _affine(value, ys)
    assert b < 0                                             # a larger loss is drawn higher
    ticks = _y_ticks(svg)
    assert len(ticks) >= 3
    for text, y in ticks:                                    # each tick label sits at its value
        v = float(text)
        assert y == pytest.approx(a + b * (math.log10(v) if log else v), abs=0.15), text
    assert ("(log y)" in svg) == log


def test_a_long_series_is_thinned_keeping_its_extremes():
    xs = list(range(10_000))
    ys = [math.sin(i / 50) for i in xs]
    ys[1234], ys[7777] = 5.0, -5.0
    tx, ty = thin(xs, ys, limit=500)
    assert len(tx) <= 500 and tx == sorted(tx)
    assert 5.0 in ty and -5.0 in ty
    assert all(ys[x] == y for x, y in zip(tx, ty))
    assert thin(xs[:10], ys[:10]) == (xs[:10], ys[:10])


def test_non_finite_values_are_left_out_and_labels_escaped():
    svg = line_chart([Line("<b>a&b</b>", [0, 1, 2, 3], [1.0, float("nan"), float("inf"), 2.0]),
                      Line("second", [0, 1], [1.0, 1.5])])
    assert "<b>" not in svg and "&lt;b&gt;a&amp;b&lt;/b&gt;" in svg
    assert len(_polylines(svg)["&lt;b&gt;a&amp;b&lt;/b&gt;"]) == 2
    assert 'class="legend"' in svg


# ---- which series, on which chart -----------------------------------------------------------

RECORDS = [
    {"event": "eval", "step": 0, "train_loss": None, "val_loss": 4.0, "accuracy": 0.1, "f1": 0.05, "elapsed": 0.1},
    {"event": "train", "step": 5, "loss": 3.0, "lr": 1e-3, "grad_norm": 1.0, "tokens_per_sec": 900.0},
    {"event": "eval", "step": 5, "train_loss": 3.2, "val_loss": 3.5, "accuracy": 0.4, "f1": 0.3, "perplexity": 33.1},
    {"event": "train", "step": 10, "loss": 2.0, "lr": 5e-4, "grad_norm": 0.8, "tokens_per_sec": 950.0},
    {"event": "eval", "step": 10, "train_loss": 2.4, "val_loss": 3.0, "accuracy": 0.6, "f1": 0.5, "perplexity": 20.1},
]


def test_the_charts_put_losses_first_and_scores_together():
    series = collect(RECORDS)
    charts = plan(series, {k: ys for k, (xs, ys) in series.items()})
    assert [(c.title, c.keys) for c in charts] == [
        ("loss", (("train", "loss"), ("eval", "val_loss"))),
        ("validation scores", (("eval", "accuracy"), ("eval", "f1"))),
        ("perplexity", (("eval", "perplexity"),)),
        ("learning rate", (("train", "lr"),)),
        ("tokens/s", (("train", "tokens_per_sec"),)),
        ("gradient norm", (("train", "grad_norm"),)),
    ]
    assert series[("eval", "perplexity")] == ([5, 10], [33.1, 20.1])     # a key that appears late
    overlay = plan(series, overlay=True)
    assert all(len(c.keys) == 1 for c in overlay) and len(overlay) == len(series) - 1   # train_loss: shown once


def test_a_resumed_run_keeps_the_records_after_its_checkpoint_once():
    crashed = [{"event": "train", "step": s, "loss": 1.0} for s in (1, 2, 3, 4)] + \
              [{"event": "eval", "step": 2, "val_loss": 1.0}]
    # saved at step 2, crashed after step 4: the resumed run writes steps 3 and 4 again
    resumed = [{"event": "train", "step": s, "loss": 0.5} for s in (3, 4, 5)]
    kept = current_records(crashed + resumed + [{"event": "sample", "step": 5, "text": "x"},
                                                {"event": "sample", "step": 5, "text": "y"}])
    assert [(r["event"], r["step"], r.get("loss")) for r in kept] == [
        ("train", 1, 1.0), ("train", 2, 1.0), ("eval", 2, None), ("train", 3, 0.5), ("train", 4, 0.5),
        ("train", 5, 0.5), ("sample", 5, None), ("sample", 5, None)]


# ---- the page -----------------------------------------------------------------------------

class _Page(HTMLParser):
    """The tags, attributes, headings and text of a page."""

    def __init__(self, html):
        super().__init__()
        self.tags, self.attrs, self.headings, self.text, self._in = [], [], [], [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in == "h2":
            self.headings.append(data)


def assert_self_contained(html):
    """Nothing a browser would fetch: no script, link, image, frame, url(), or http(s) at all."""
    page = _Page(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags), set(page.tags)
    assert not [a for a in page.attrs if a[0] in ("src", "href")]
    assert "url(" not in html and not re.search(r"https?:", html, re.I)
    return page


def _run(tmp_path, records=RECORDS, config=None):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    write_jsonl(run / "metrics.jsonl", records)
    return run, config


def test_a_page_shows_every_chart_the_config_and_the_machine_escaped(tmp_path):
    config = {"model_type": "gpt", "model": {"n_layer": 2, "n_embd": 32}, "train": {"lr": 0.001, "max_iters": 10},
              "data": {"path": "/data/<b>tricky</b> & co.txt"}}
    folder, _ = _run(tmp_path, RECORDS + [{"event": "sample", "step": 10, "text": "once <upon> a & time"}])
    RunReport(str(folder))(config, 10)
    html = (folder / "report.html").read_text()
    page = assert_self_contained(html)
    assert page.tags.count("svg") == 6 and page.tags.count("figure") == 6
    assert page.headings == ["Metrics", "Generated text", "Configuration", "Machine"]
    assert "once &lt;upon&gt; a &amp; time" in html and "&lt;b&gt;tricky&lt;/b&gt; &amp; co.txt" in html
    assert "<upon>" not in html and "<b>tricky" not in html
    text = "".join(page.text)
    assert "step 10 of 10" in text and "n_layer" in text and "0.001" in text
    import numpy as np
    assert np.__version__ in text and "numpy" in text and "cores" in text
    machines = json.loads((folder / "machine.json").read_text())
    assert len(machines) == 1 and machines[0]["from_step"] == 10


def test_a_machine_is_recorded_once_and_again_when_it_changes(tmp_path):
    folder, _ = _run(tmp_path)
    RunReport(str(folder))({}, 0)
    RunReport(str(folder))({}, 5)
    assert [m["from_step"] for m in json.loads((folder / "machine.json").read_text())] == [0]
    older = json.loads((folder / "machine.json").read_text())
    older[0]["numpy"] = "1.0.0"
    (folder / "machine.json").write_text(json.dumps(older))
    RunReport(str(folder))({}, 7)
    machines = json.loads((folder / "machine.json").read_text())
    assert [m["from_step"] for m in machines] == [0, 7] and machines[0]["numpy"] == "1.0.0"
    assert "from step 7" in (folder / "report.html").read_text()
    RunReport(str(folder))({}, 0)   # a fresh run in the folder (--overwrite): its machine alone
    assert [m["from_step"] for m in json.loads((folder / "machine.json").read_text())] == [0]


def test_an_unwritable_report_is_one_warning_line(tmp_path, capsys):
    folder, _ = _run(tmp_path)
    (folder / "report.html").mkdir()   # os.replace cannot put a file there: an OSError
    RunReport(str(folder))({}, 10)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minitx: warning: the report of") and "report.html" in err[0]
    assert not [p for p in os.listdir(folder) if p.startswith(".tmp-")]   # no temporary file left


def test_the_overlay_draws_one_line_per_run_on_each_chart(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, scale in ((a, 1.0), (b, 0.5)):
        folder.mkdir()
        write_jsonl(folder / "metrics.jsonl", [{**r, **({"val_loss": r["val_loss"] * scale} if "val_loss" in r else {})}
                                               for r in RECORDS])
    (b / "last").mkdir()
    (b / "last" / "config.json").write_text(json.dumps({"train": {"lr": 0.002}}))
    html = overlay_page([read_run(str(a)), read_run(str(b))])
    page = assert_self_contained(html)
    charts = re.findall(r"<figure>.*?</figure>", html)
    assert len(charts) == page.tags.count("svg") == 8   # each series but the mean train loss
    for chart in charts:
        assert sorted(_polylines(chart)) == ["a", "b"]
    val = next(c for c in charts if "<figcaption>validation loss</figcaption>" in c)
    ya = [y for _, y in _polylines(val)["a"]]
    yb = [y for _, y in _polylines(val)["b"]]
    assert all(u < v for u, v in zip(ya, yb))   # a's losses are twice b's: drawn higher (smaller y)
    assert "train.lr" in html   # the configuration key that differs


# ---- metrics.csv -----------------------------------------------------------------------------

def test_the_csv_has_a_column_for_every_key_even_one_that_appears_late():
    records = current_records(RECORDS + [{"event": "sample", "step": 10, "text": "a, \"quoted\"\nline"}])
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    header = list(rows[0])
    assert header[:2] == ["event", "step"] and "perplexity" in header and "text" in header
    assert len(rows) == len(records)
    for row, record in zip(rows, records):
        for key in header:
            value = record.get(key)
            assert row[key] == ("" if value is None else str(value)), (key, row[key], value)


# ---- the commands ------------------------------------------------------------------------------

def _records(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def _without_time(html):
    return re.sub(r"written by minitx \S+ at [^;]*;", "", html)


def test_train_gpt_writes_its_report_and_csv_and_minitx_report_writes_it_again(tmp_path):
    done = minitx("train", "gpt", *GPT_TINY, "--max-iters", "10", "--eval-interval", "5", "--sample-tokens", "12",
                  "--log", "csv", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    html = (run / "report.html").read_text()
    page = assert_self_contained(html)
    assert page.headings == ["Metrics", "Generated text", "Configuration", "Machine"]
    assert page.tags.count("svg") == 5   # loss, validation perplexity, learning rate, tokens/s, gradient norm
    sample = done.stdout.split("---- sample ----\n")[1].rstrip("\n")
    assert _escaped(sample) in html
    records = _records(run)
    assert [r["event"] for r in records][-1] == "sample"
    loss = re.search(r"<figcaption>loss</figcaption>.*?</figure>", html).group(0)
    val = _polylines(loss)["validation loss"]
    assert len(val) == len([r for r in records if r["event"] == "eval"]) == 3   # steps 0, 5, 10
    rows = list(csv.DictReader(io.StringIO((run / "metrics.csv").read_text())))
    assert [(r["event"], int(r["step"])) for r in rows] == [(r["event"], r["step"]) for r in records]

    (run / "report.html").unlink()
    again = minitx("report", "run", cwd=tmp_path)
    assert again.returncode == 0 and again.stderr.strip() == f"wrote {os.path.join('run', 'report.html')}"
    assert _without_time((run / "report.html").read_text()) == _without_time(html)

    # resumed to step 12 after a crash that left a record past the checkpoint (step 10): metrics.csv
    # holds the rows of the run as it stands, none twice
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"event": "eval", "step": 12, "val_loss": 99.5}) + "\n")
    more = minitx("train", "gpt", "--resume", "--max-iters", "12", "--no-progress", "--sample-tokens", "0",
                  "--out", "run", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    rows = list(csv.DictReader(io.StringIO((run / "metrics.csv").read_text())))
    keys = [(r["event"], int(r["step"])) for r in rows]
    assert len(set(keys)) == len(keys) and keys[-1] == ("eval", 12) and len(keys) == len(_records(run))
    assert "99.5" not in (run / "metrics.jsonl").read_text()   # cut back to the checkpoint's step on resume
    assert "99.5" not in (run / "metrics.csv").read_text() and "99.5" not in (run / "report.html").read_text()


def _escaped(text):
    from html import escape
    return escape(text)


def test_finetune_writes_a_report_with_its_task_metric(cli_runs, tmp_path):
    done = minitx("finetune", "bert", "--task", "classify", "--init", cli_runs.bert, "--data", cli_runs.classify,
                  "--max-iters", "2", "--eval-interval", "1", "--batch-size", "2", "--max-length", "16",
                  "--val-fraction", "0.3", "--no-progress", "--out", "ft", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "ft" / "report.html").read_text()
    assert_self_contained(html)
    # accuracy and macro F1, both within [0, 1], share one chart
    scores = re.search(r"<figcaption>validation scores</figcaption>.*?</figure>", html).group(0)
    assert "accuracy" in scores and "macro f1" in scores.lower() and "bert-classify" in html and "classify" in html
    assert not (tmp_path / "ft" / "metrics.csv").exists()   # not asked for


def test_a_run_whose_report_cannot_be_written_trains_on_with_a_warning(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "report.html").mkdir()
    done = minitx("train", "gpt", *GPT_TINY, "--max-iters", "2", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 4 and all(w.startswith("minitx: warning: the report of run") for w in warnings)
    assert "Traceback" not in done.stderr and (tmp_path / "run" / "last").is_dir()


def test_minitx_report_overlays_runs(tmp_path):
    for name, lr in (("slow", "1e-3"), ("fast", "5e-3")):
        done = minitx("train", "gpt", *GPT_TINY, "--max-iters", "10", "--eval-interval", "5", "--lr", lr,
                      "--out", name, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    done = minitx("report", "slow", "fast", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr.strip() == "wrote compare.html", done.stderr
    html = (tmp_path / "compare.html").read_text()
    assert_self_contained(html)
    charts = re.findall(r"<figure>.*?</figure>", html)
    assert len(charts) == 6 and all(sorted(_polylines(c)) == ["fast", "slow"] for c in charts)
    assert "train.lr" in html
    done = minitx("report", "slow", "fast", "--out", "both.html", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "both.html").exists()


def test_bad_runs_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "metrics.jsonl").write_text("")
    error_line(minitx("report", "nowhere", cwd=tmp_path), "nowhere: no such folder")
    error_line(minitx("report", "empty", cwd=tmp_path), "empty: not a training run (no metrics.jsonl)")
    error_line(minitx("report", "blank", cwd=tmp_path), "metrics.jsonl: holds no metrics yet")
    error_line(minitx("report", "blank", "--out", "empty", cwd=tmp_path), "--out 'empty'")
    assert sorted(os.listdir(tmp_path / "empty")) == []
