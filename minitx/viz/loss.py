"""A run's loss curves from its metrics.jsonl (the records minitx.training.Trainer writes)."""
import os

from ..training.plot import read_metrics
from ..training.trainer import METRICS
from ._figure import finish, new_figure


def _records(metrics):
    if isinstance(metrics, (str, os.PathLike)):
        path = os.path.join(metrics, METRICS) if os.path.isdir(metrics) else metrics
        if not os.path.isfile(path):
            raise ValueError(f"loss_curves: {path} does not exist (give a run folder, its {METRICS}, "
                             f"or a list of records)")
        return read_metrics(path), path
    return list(metrics), "the records"


def loss_curves(metrics, path=None):
    """Training loss (every log_interval steps) and validation loss (at each evaluation)
    against the step. metrics: a run folder, its metrics.jsonl, or a list of records.
    Returns the Figure."""
    records, where = _records(metrics)
    train = [(r["step"], r["loss"]) for r in records if r.get("event") == "train"]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("event") == "eval"]
    if not train and not val:
        raise ValueError(f"loss_curves: no train or eval records in {where}")
    fig, axes = new_figure(1, 1, panel=(6.0, 3.6))
    ax = axes[0, 0]
    if train:
        ax.plot(*zip(*train), color="C0", linewidth=1.2, label="train loss")
    if val:
        ax.plot(*zip(*val), "o-", color="C1", linewidth=1.2, markersize=4, label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    return finish(fig, path)
