"""Early stopping: end a run once its validation loss has stopped improving.

An evaluation improves on the best loss so far when it is lower by more than
min_delta; the run stops after `patience` evaluations in a row without an
improvement (Keras' and Lightning's rule). The first evaluation sets the best.
The count is kept even with patience 0 (off), and saved in every checkpoint, so
a resumed run counts on exactly where it stopped, with a new patience too.
"""
import math


class EarlyStopping:
    """patience: evaluations without an improvement that stop the run (0: never stop);
    min_delta: how much lower than the best a loss must be to count as an improvement."""

    def __init__(self, patience=0, min_delta=0.0):
        if not (isinstance(patience, int) and patience >= 0) or not min_delta >= 0:
            raise ValueError(f"EarlyStopping: patience must be an integer >= 0 and min_delta a number >= 0, "
                             f"got {patience!r} and {min_delta!r}")
        self.patience, self.min_delta = patience, float(min_delta)
        self.best, self.best_step, self.bad_evals = None, None, 0

    def update(self, val_loss, step):
        """Count the evaluation at `step`; returns whether the run should stop now."""
        if self.best is None or val_loss < self.best - self.min_delta:
            self.best, self.best_step, self.bad_evals = float(val_loss), int(step), 0
        else:
            self.bad_evals += 1
        return self.should_stop

    @property
    def should_stop(self):
        return self.patience > 0 and self.bad_evals >= self.patience

    def reason(self, step):
        """One line: why the run stopped at `step`."""
        return (f"early stopping at step {step}: the validation loss has not improved by more than "
                f"{self.min_delta:g} in {self.bad_evals} evaluations (patience {self.patience}; best "
                f"{self.best:.4f} at step {self.best_step})")

    def record(self, step):
        """The metrics.jsonl record of the stop."""
        return {"event": "early_stop", "step": step, "best_val_loss": self.best, "best_step": self.best_step,
                "evaluations_without_improvement": self.bad_evals, "patience": self.patience,
                "min_delta": self.min_delta, "reason": self.reason(step)}

    def state_dict(self):
        return {"best": self.best, "best_step": self.best_step, "bad_evals": self.bad_evals}

    def load_state_dict(self, state):
        best, best_step, bad = state["best"], state["best_step"], state["bad_evals"]
        number = isinstance(best, (int, float)) and not isinstance(best, bool) and not math.isnan(best)
        if not (type(bad) is int and bad >= 0) or (best is None) != (best_step is None) \
                or not (best is None or (number and type(best_step) is int)):
            raise ValueError(f"expected best (a number or null), best_step (an integer or null) and "
                             f"bad_evals (an integer >= 0), got {state!r}")
        self.best = None if best is None else float(best)
        self.best_step, self.bad_evals = best_step, bad
