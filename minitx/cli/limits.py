"""Checks of a run against the limits it will meet, made before any expensive work:
answers that --max-length cuts off, a model larger than the memory it would train in."""
from .app import CLIError, note


def check_answers_fit(args, train_f, val_f):
    """QA fine-tuning: an answer past --max-length gets the position max_length, which the
    loss ignores. All of a split cut off would train (or validate) on nothing, "loss
    0.0000", and export that as best: refused. Some cut off: one warning line."""
    T = args.max_length
    counts = {split: (int((f.inputs["start_positions"] >= T).sum()), len(f.inputs["start_positions"]))
              for split, f in (("training", train_f), ("validation", val_f))}
    for split, (cut, total) in counts.items():
        if cut == total:
            raise CLIError(f"--max-length {T}: every {split} answer ({total} of {total}) lies past it, "
                           f"so the run would learn nothing; raise --max-length or shorten the contexts")
    cut = {split: c for split, c in counts.items() if c[0]}
    if cut:
        said = " and ".join(f"{c} of {n} {split}" for split, (c, n) in cut.items())
        note(f"minitx: warning: --max-length {T}: {said} answers lie past it and are ignored")
