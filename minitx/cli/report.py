"""`minitx report RUN [RUN...]`: write a run's report.html again from its folder, or
overlay several runs on one page; and the report hook the training commands hand the
Trainer (--log csv adds metrics.csv)."""
import os

from .app import CLIError, note

OVERLAY = "compare.html"   # several runs: the page goes to the current folder, not into one of them


def add_report(commands):
    p = commands.add_parser("report", help="write a run's report.html, or compare runs on one page",
                            description="Write report.html of a training run (charts of every metric over "
                                        "steps, generated text, configuration, machine) from its folder, as "
                                        "the run itself does at each evaluation. With several runs: one page "
                                        "with one chart per metric and one line per run.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="a training run's --out folder")
    p.add_argument("--out", metavar="FILE", default=None,
                   help=f"where to write the page (default: RUN/report.html for one run, ./{OVERLAY} "
                        f"for several)")
    p.set_defaults(run=report)


def report(args):
    from ..report import RunError, read_run, write_overlay, write_report
    if args.out is not None and (not args.out or os.path.isdir(args.out)):
        raise CLIError(f"--out {args.out!r}: give a file name for the page, e.g. {OVERLAY}")
    try:
        runs = [read_run(path, name=_name(path, args.runs)) for path in args.runs]
    except RunError as e:
        raise CLIError(str(e)) from None
    if len(runs) == 1:
        path = write_report(runs[0], args.out)
    else:
        path = write_overlay(runs, args.out or OVERLAY)
    note(f"wrote {path}")
    return 0


def _name(path, paths):
    """A run's name on the page: its folder's name, or the path as typed when two runs
    share a folder name (runs/a/gpt and runs/b/gpt)."""
    base = os.path.basename(os.path.normpath(path))
    return base if [os.path.basename(os.path.normpath(p)) for p in paths].count(base) == 1 else os.path.normpath(path)


def run_report(args):
    """The Trainer's report hook for a training command's --out (and --log)."""
    from ..report import RunReport
    return RunReport(args.out, csv=args.log == "csv")


def record_text(trainer, text):
    """Record a generated text in the run (the report shows it) and write the report again."""
    trainer.report.sample(trainer.checkpoint_config, trainer.step, text)
