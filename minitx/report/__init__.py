"""A run you can look at: report.html (charts of every metric over steps, the generated
text, the configuration and the machine, in one self-contained page) and metrics.csv,
written from a run folder. The Trainer calls RunReport after each evaluation; `minitx
report RUN [RUN...]` writes the page again, or overlays several runs."""
from .run import RunError, RunReport, read_run, record_sample, write_csv, write_overlay, write_report

__all__ = ["RunError", "RunReport", "read_run", "record_sample", "write_csv", "write_overlay", "write_report"]
