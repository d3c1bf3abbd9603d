"""metrics.jsonl of a resumed run: the records of the steps its checkpoint holds, no more.

A run killed after its last save has already written records of steps that the
resumed run takes again (train lines and evaluations, up to eval_interval - 1
steps of them), and a kill in mid-write can leave half a line. Resuming at step S
keeps the whole records at or before S and drops the rest, so each step is on
record once, in order.
"""
import json
import os


def cut_after(path, step):
    """Keep the complete records of `path` (one JSON object a line) whose step is at
    most `step`. The file is replaced atomically (a temporary beside it, then
    os.replace): a kill during the cut leaves the old file or the new one."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return
    lines = raw.split(b"\n")[:-1]   # the piece after the last newline is a torn line, or empty
    kept = b"".join(line + b"\n" for line in lines if _at_or_before(line, step))
    if kept == raw:
        return
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(kept)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _at_or_before(line, step):
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False   # a line torn by a kill, then appended to
    return isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step
