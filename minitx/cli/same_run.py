"""What a resumed run keeps, and what it may change.

`--resume` continues the same run. The options that make the run what it is (its
model, its data and their split, the seed, the batches its validation loss is
measured on) are the checkpoint's: left out, they take the stored values; typed
again with another value, they are refused in one line that names the option,
the two values, and how to start a new run from the checkpoint instead. The
options that steer how the run goes on may change: --max-iters (the schedule
is extended), --lr, --min-lr, --warmup, --weight-decay, --grad-clip,
--grad-accum, --eval-interval, --no-progress, --sample-tokens, --shard-optimizer,
and the path of --data or --val-data when the file moved with its content
unchanged: a data file is known by the SHA-256 of its bytes, stored when the run
began; rows given in Python (main(..., data=rows)) by the SHA-256 of their JSON.
Data read from standard input (`--data -`) is read once and not kept: a resume
asks for it again and cannot check that it is the same.
"""
import hashlib
import json
import os

from ..data.tables import is_file, read_rows
from ..tokenizers._files import STDIN
from ..training.checkpoint import file_sha256
from .app import CLIError
from .options import given


PYTHON_ROWS = "<rows given in Python>"


def _digest(data):
    """The SHA-256 of a file's bytes, or of rows given in Python as sorted JSON."""
    if is_file(data):
        return file_sha256(data)
    rows = json.dumps([row for _, row in read_rows(data)], sort_keys=True, default=str)
    return hashlib.sha256(rows.encode()).hexdigest()


def data_record(path):
    """How a run records a data file when it begins: its absolute path and SHA-256
    (None, None for the built-in corpus; `-`, None for standard input)."""
    if path is None or path in (STDIN, "/dev/stdin"):
        return {"path": path and STDIN, "sha256": None}
    if not is_file(path):
        return {"path": PYTHON_ROWS, "sha256": _digest(path)}
    return {"path": os.path.abspath(path), "sha256": file_sha256(path)}


def restart_hint(command, last):
    if command == "train bert":   # pretraining has no --init: a new run starts from scratch
        return "to start a new run instead, leave out --resume and give another --out"
    return f"to start a new run from this checkpoint instead, leave out --resume and pass --init {last} " \
           f"with another --out"


def keep(args, stored, command, last):
    """Refuse each option of `stored` ({dest: the run's value}) that was typed with another value."""
    for name, value in stored.items():
        typed = getattr(args, name)
        if name == "init" and typed is not None and value is not None:   # one folder, however it is spelt
            typed, value = os.path.abspath(typed), os.path.abspath(value)
        if (given(args, name) or typed is True) and typed != value:   # True: a flag that was set
            option = "--" + name.replace("_", "-")
            raise CLIError(f"{option} {getattr(args, name)} differs from the checkpoint's {value}; a resumed run "
                           f"keeps it (leave out {option}); {restart_hint(command, last)}")


def resumed_data(args, record, command, last, option="data"):
    """The file a resumed run reads for `option` (--data, --val-data): the typed path
    (the file may have moved) or else the stored one, checked to hold the bytes the run
    began with (record: its data_record). None: the built-in corpus, or no file."""
    stored, digest = record.get("path"), record.get("sha256")
    dest = option.replace("-", "_")
    typed = given(args, dest)
    path = getattr(args, dest) if typed else stored
    flag = f"--{option}"
    if stored is None and path is not None:
        began = "the built-in corpus" if option == "data" else "--val-fraction of --data held out"
        raise CLIError(f"{flag} {path}: the run began with {began}; a resumed run keeps its data (leave out "
                       f"{flag}); {restart_hint(command, last)}")
    if path is None:
        return None
    if stored == STDIN and not typed:
        raise CLIError(f"--resume: this run read its {flag} from standard input; give it again ({flag} -)")
    if stored == PYTHON_ROWS and not typed:
        raise CLIError(f"--resume: this run read its {flag} as rows given in Python; give them again "
                       f"(main(..., {dest}=rows))")
    if not typed and not os.path.isfile(path):
        raise CLIError(f"--resume: the run's {flag} file {path} is missing; if it moved, pass its new path "
                       f"with {flag}")
    now = _digest(path) if digest is not None else None
    if now != digest:
        what = (f"{flag} {path}: its content (SHA-256 {now[:12]}) differs from the file the run began with "
                f"({stored}, SHA-256 {digest[:12]})" if typed else
                f"{flag} {path}: the file changed after the run began (SHA-256 {now[:12]}, then {digest[:12]})")
        raise CLIError(f"{what}; a resumed run trains on the same data; {restart_hint(command, last)}")
    return path


def keep_data(args, stored, data, command, **kept):
    """On --resume, the run's data: --seed and --val-fraction (and `kept`, {dest: the
    run's value}) checked by keep; returns the data file to read (resumed_data)."""
    last = os.path.join(args.out, "last")
    keep(args, {"seed": data["seed"], "val_fraction": data["val_fraction"], **kept}, command, last)
    return resumed_data(args, data, command, last)
