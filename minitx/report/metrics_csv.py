"""metrics.csv (`--log csv`): the records of metrics.jsonl as a table, for a spreadsheet
or pandas.read_csv.

The table is rewritten whole from metrics.jsonl at each evaluation and at the end of a
run, so a key that appears late (a metric first reported at the second evaluation)
still gets its column, and a resumed run's rows are those of metrics.jsonl as it stands
(series.current_records), never twice.
"""
import csv
import io
import json

FIRST = ("event", "step")


def columns(records):
    """event and step, then every other key in the order first seen."""
    seen = dict.fromkeys(FIRST)
    for r in records:
        seen.update(dict.fromkeys(r))
    return list(seen)


def to_csv(records):
    """The CSV text of `records`: a header row, then one row per record; a key a record
    lacks is an empty cell; a list or object is written as JSON."""
    header = columns(records)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in records:
        writer.writerow([_cell(r.get(key)) for key in header])
    return out.getvalue()


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value
