"""A run folder as its report reads it, and the files the report writes there.

A run folder (a training command's --out) holds metrics.jsonl (one record a line), the
checkpoints last/ and best/ (their config.json is the run's configuration) and, once a
report was written, machine.json (machine.py), report.html and, with `--log csv`,
metrics.csv. Every file is written whole to a temporary file, then renamed over the
old one: a reader never sees half a page.
"""
import contextlib
import json
import os
import sys
import tempfile
from typing import NamedTuple, Optional

from . import machine as machines_of
from .html import overlay_page, run_page
from .metrics_csv import to_csv
from .series import current_records

METRICS, REPORT, CSV = "metrics.jsonl", "report.html", "metrics.csv"
CONFIG_FROM = ("last", "best")    # the checkpoints whose config.json describes the run


class RunError(ValueError):
    """A folder that is not a run (or holds no metrics yet): one line for the user."""


class Run(NamedTuple):
    name: str
    path: str
    records: list          # metrics.jsonl's records as the run stands (series.current_records)
    config: Optional[dict]
    machines: list


def read_run(path, config=None, name=None):
    """The Run in folder `path`; config: the run's configuration when the caller has it
    (the Trainer does, before its first checkpoint), else read from last/ or best/."""
    from ..training.plot import read_metrics
    if not os.path.isdir(path):
        raise RunError(f"{path}: no such folder (give a training run's --out folder)")
    metrics = os.path.join(path, METRICS)
    if not os.path.isfile(metrics):
        raise RunError(f"{path}: not a training run (no {METRICS})")
    records = current_records(read_metrics(metrics))
    if not records:
        raise RunError(f"{metrics}: holds no metrics yet")
    return Run(name or os.path.basename(os.path.normpath(path)) or path, path, records,
               config if config is not None else _stored_config(path), machines_of.recorded(path))


def write_report(run, out=None):
    """report.html of one run, in its folder (or at `out`); returns the path."""
    out = out or os.path.join(run.path, REPORT)
    write_atomically(out, run_page(run))
    return out


def write_overlay(runs, out):
    """One page overlaying several runs at `out`; returns the path."""
    write_atomically(out, overlay_page(runs))
    return out


def write_csv(run):
    path = os.path.join(run.path, CSV)
    write_atomically(path, to_csv(run.records))
    return path


def record_sample(run_dir, step, text):
    """Append a text the model generated at `step` to metrics.jsonl, for the report."""
    with open(os.path.join(run_dir, METRICS), "a", encoding="utf-8") as f:
        f.write(json.dumps({"event": "sample", "step": step, "text": text}) + "\n")


class RunReport:
    """The Trainer's `report` hook: after each evaluation and at the end of fit, rewrite
    report.html (and metrics.csv with csv=True, or when the folder has one already: a
    resumed run keeps its table), recording the machine in machine.json first.

    A file that cannot be written (a full disk, a folder made read-only) is one warning
    line on stderr: the run goes on, and its checkpoints say whether the disk failed."""

    def __init__(self, out_dir, csv=False):
        self.out_dir, self.csv = out_dir, csv

    def __call__(self, config, step):
        with self._warned():
            self.write(config, step)

    def sample(self, config, step, text):
        """Record a text the model generated at `step` (record_sample), then rewrite the report."""
        with self._warned():
            record_sample(self.out_dir, step, text)
            self.write(config, step)

    @contextlib.contextmanager
    def _warned(self):
        try:
            yield
        except OSError as e:
            from tqdm import tqdm   # writes above a progress bar, as the Trainer's own lines
            tqdm.write(f"minitx: warning: the report of {self.out_dir} was not written: {e}", file=sys.stderr)

    def write(self, config, step):
        # step 0 is a fresh run (the Trainer starts metrics.jsonl afresh): the machines of a run it replaces go
        known = machines_of.recorded(self.out_dir) if step else []
        now = machines_of.with_this_machine(known, step)
        if now != known:
            write_atomically(os.path.join(self.out_dir, machines_of.MACHINE), json.dumps(now, indent=1) + "\n")
        run = read_run(self.out_dir, config)
        write_report(run)
        if self.csv or os.path.exists(os.path.join(self.out_dir, CSV)):
            write_csv(run)


def write_atomically(path, text):
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    from ..models.hub import umask_mode
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        umask_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _stored_config(path):
    """config.json of last/ (or best/), unchecked: the report shows it, nothing runs on it."""
    for name in CONFIG_FROM:
        try:
            with open(os.path.join(path, name, "config.json"), encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(config, dict):
            return config
    return None
