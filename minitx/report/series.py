"""What a run recorded, as numeric series over steps, and which of them share a chart.

metrics.jsonl holds one record a line: {"event": "train" | "eval" | ..., "step": S, ...}.
Any numeric key of any event becomes a series (event, key); the charts put the losses
first, then the validation scores, then the other task metrics, then the training
side (learning rate, tokens/s, gradient norm).
"""
import math
from typing import NamedTuple

# names a reader knows; another key is shown with its underscores as spaces
TITLES = {("train", "loss"): "train loss", ("eval", "val_loss"): "validation loss",
          ("eval", "train_loss"): "train loss (mean since the last evaluation)", ("train", "lr"): "learning rate",
          ("train", "tokens_per_sec"): "tokens/s", ("train", "grad_norm"): "gradient norm"}
NOT_SERIES = ("step", "elapsed")      # the x axis, and wall-clock time (its own kind of axis)
TRAIN_ORDER = ("lr", "tokens_per_sec", "grad_norm")
TRAINER_EVENTS = ("train", "eval")    # the Trainer's records, in step order; others (a sample) come between


class Chart(NamedTuple):
    title: str
    keys: tuple           # the (event, key) series it draws, one line each
    log: object = None    # True, False, or None: svg.wants_log decides


def current_records(records):
    """The records of the run as it stands: a resumed run goes back to its checkpoint's
    step, so a train or eval record at a step at or before one already seen of its event
    drops every record from that step on (what the run wrote after its last checkpoint,
    then lost). Records without a numeric step are left out."""
    kept, last = [], {}
    for r in records:
        step = r.get("step") if isinstance(r, dict) else None
        if not _number(step):
            continue
        event = r.get("event")
        if event in TRAINER_EVENTS and event in last and step <= last[event]:
            kept = [k for k in kept if k["step"] < step]
            last = {k["event"]: k["step"] for k in kept if k.get("event") in TRAINER_EVENTS}
        kept.append(r)
        if event in TRAINER_EVENTS:
            last[event] = step
    return kept


def collect(records):
    """{(event, key): (steps, values)} of every numeric key, in the order first seen."""
    series = {}
    for r in records:
        for key, value in r.items():
            if type(value) in (int, float) and key not in NOT_SERIES:   # (not a bool, a string, a list)
                xs, ys = series.setdefault((r.get("event"), key), ([], []))
                xs.append(r["step"])
                ys.append(float(value))
    return series


def title(series_key):
    event, key = series_key
    if series_key in TITLES:
        return TITLES[series_key]
    name = key.replace("_", " ")
    return name if event in ("train", "eval") else f"{event}: {name}"


def plan(keys, values=None, overlay=False):
    """The charts of series `keys` (in first-seen order). values: {key: values}, to put the
    validation metrics within [0, 1] (accuracy, F1, exact match) on one chart. overlay:
    one chart per series (each will hold one line per run)."""
    keys = list(keys)
    values = values or {}
    train_loss = ("train", "loss") if ("train", "loss") in keys else ("eval", "train_loss")
    # the training loss first (with no train records, in a short run, its mean at each evaluation)
    losses = [k for k in dict.fromkeys([train_loss] + keys) if k in keys and (
        k == train_loss or k[0] == "eval" and k[1].endswith("loss") and k[1] != "train_loss")]
    evals = [k for k in keys if k[0] == "eval" and k not in losses and k != ("eval", "train_loss")]
    scores = [k for k in evals if values.get(k) and all(0 <= v <= 1 for v in values[k])]
    trains = sorted((k for k in keys if k[0] == "train" and k not in losses),
                    key=lambda k: TRAIN_ORDER.index(k[1]) if k[1] in TRAIN_ORDER else len(TRAIN_ORDER))
    others = [k for k in keys if k[0] not in ("train", "eval")]
    if overlay:
        return [Chart(title(k), (k,), _log(k)) for k in losses + evals + trains + others]
    charts = [Chart("loss", tuple(losses))] if losses else []
    if len(scores) > 1:
        charts.append(Chart("validation scores", tuple(scores), log=False))
    charts += [Chart(title(k), (k,), _log(k)) for k in evals if k not in scores or len(scores) == 1]
    return charts + [Chart(title(k), (k,), _log(k)) for k in trains + others]


def _log(key):
    """Losses and perplexities may take a log axis (None: when they span a decade); the
    rest keep a linear one, where a schedule or a speed reads as it is."""
    return None if key[1].endswith("loss") or "perplexity" in key[1] else False


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
