"""Rows of a table as dicts, each with where it came from, so that a bad one can be named.

    jsonl    one JSON object a line (.jsonl, .json); blank lines are skipped   "FILE:LINE"
    csv/tsv  a header row, then one row a line (.csv, .tsv)                     "FILE:LINE"
    parquet  read by pyarrow, the optional extra `parquet` (.parquet)           "FILE: row N"
    Python   a list of dicts, a datasets.Dataset, anything iterable of mappings "examples[I]"
             (a Dataset's ClassLabel columns give their class names, not numbers)

The format is the file's suffix (another suffix: JSONL) unless `data_format` names
it; the file `-` is standard input. CSV and TSV are read as Python's csv module and pandas read them: a cell in
double quotes may hold the delimiter, a newline or "" (a quote). Their cells are
strings; a cell of a list column (`lists`: tokens, tags, multi-label labels) holds a
JSON array (`["Ada", "lives"]`) or its items separated by spaces (`Ada lives`).
"""
import csv
import io
import json
import os
import sys
from collections.abc import Mapping

from ..tokenizers._files import STDIN

FORMATS = ("jsonl", "csv", "tsv", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}


def is_file(data):
    """Whether `data` names a file (a str or os.PathLike) rather than holding the rows."""
    return isinstance(data, (str, os.PathLike))


def table_format(path, data_format=None):
    """The format of `path`: `data_format` if given, else its suffix's."""
    if data_format is not None:
        if data_format not in FORMATS:
            raise ValueError(f"data format {data_format!r} is not one of {', '.join(FORMATS)}")
        return data_format
    # another suffix (data.txt): JSONL, the format minitx has always read
    return _SUFFIXES.get(os.path.splitext(str(path))[1].lower(), "jsonl")


def read_rows(data, data_format=None, lists=()):
    """[(where, row dict)] of a file or of rows given in Python; `lists`: the columns
    whose CSV/TSV cells are lists."""
    if not is_file(data):
        return _python_rows(data)
    kind = table_format(data, data_format)
    if kind == "jsonl":
        return _jsonl_rows(data)
    if kind == "parquet":
        return _parquet_rows(data)
    return _delimited_rows(data, "," if kind == "csv" else "\t", set(lists))


def _utf8(path):
    """The text of `path`, a byte-order mark dropped; invalid UTF-8 names its line and column."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, not a file")
    try:
        if path == STDIN:
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line, line_start = data.count(b"\n", 0, e.start) + 1, data.rfind(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not valid UTF-8 (byte {data[e.start]:#04x} at column "
                         f"{e.start - line_start + 1})") from None


def _jsonl_rows(path):
    rows = []
    # only \n (or \r\n) ends a line: str.splitlines would also split on \x85 and \u2028
    for n, line in enumerate(_utf8(path).split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            known = os.path.splitext(str(path))[1].lower() in _SUFFIXES
            raise ValueError(f"{where}: not valid JSON ({e.msg} at column {e.colno})" + (
                "" if known else f"; read as JSONL, as the suffix is none of {', '.join(_SUFFIXES)} "
                                 f"(the data format option names another)")) from None
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
        rows.append((where, row))
    return rows


def _delimited_rows(path, delimiter, lists):
    reader = csv.reader(io.StringIO(_utf8(path), newline=""), delimiter=delimiter, strict=True)
    header, rows, start = None, [], 1
    try:
        for cells in reader:
            # reader.line_num is the record's last line; a quoted cell may span several
            where, start = f"{path}:{start}", reader.line_num + 1
            if not cells:
                continue
            if header is None:
                header = cells
                repeated = sorted({c for c in cells if cells.count(c) > 1})
                if repeated:
                    raise ValueError(f"{where}: the header names column {repeated[0]!r} twice")
                continue
            if len(cells) != len(header):
                raise ValueError(f"{where}: {len(cells)} cell{'s' * (len(cells) != 1)}, but the header has "
                                 f"{len(header)} columns ({', '.join(header)})")
            rows.append((where, {name: _cell(cell, name, name in lists, where)
                                 for name, cell in zip(header, cells)}))
    except csv.Error as e:
        raise ValueError(f"{path}:{start}: not valid {'CSV' if delimiter == ',' else 'TSV'} ({e})") from None
    return rows


def _cell(cell, name, is_list, where):
    if not is_list:
        return cell
    if not cell.startswith("["):
        return cell.split()
    try:
        items = json.loads(cell)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: column {name!r} is not a JSON array ({e.msg} at character {e.pos + 1}); "
                         f"a list cell is a JSON array or items separated by spaces") from None
    if not isinstance(items, list):
        raise ValueError(f"{where}: column {name!r} is not a JSON array")
    return items


def _parquet_rows(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"{path}: reading Parquet needs pyarrow: pip install 'minitx[parquet]'") from None
    if path != STDIN and not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    try:
        table = pq.read_table(io.BytesIO(sys.stdin.buffer.read()) if path == STDIN else path)
    except Exception as e:  # pyarrow's own errors (ArrowInvalid, ...) say what is wrong with the file
        raise ValueError(f"{path}: not a Parquet file pyarrow can read ({e})") from None
    return [(f"{path}: row {n}", row) for n, row in enumerate(table.to_pylist(), start=1)]


def _python_rows(data):
    if isinstance(data, Mapping) or not hasattr(data, "__iter__"):
        raise TypeError(f"examples: expected a file name, a list of dicts or a datasets.Dataset, "
                        f"got {type(data).__name__}")
    names = _class_names(data)
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, Mapping):
            raise ValueError(f"examples[{i}]: expected a mapping (a dict), got {type(row).__name__}" + (
                "; of a pandas DataFrame pass df.to_dict('records')" if hasattr(data, "to_dict") else ""))
        row = dict(row)
        for column, classes in names.items():
            if column in row:
                row[column] = _named(row[column], classes)
        rows.append((f"examples[{i}]", row))
    return rows


def _class_names(data):
    """{column: class names} of a datasets.Dataset's ClassLabel columns (a label, or a list
    of tags: Sequence(ClassLabel)), whose rows hold the classes' numbers."""
    features = getattr(data, "features", None)
    if not isinstance(features, Mapping):
        return {}
    found = {}
    for column, feature in features.items():
        feature = getattr(feature, "feature", feature)  # Sequence(ClassLabel) -> ClassLabel
        if isinstance(getattr(feature, "names", None), list):
            found[column] = feature.names
    return found


def _named(value, classes):
    """A class number (or a list of them) as its name; anything else as it is."""
    if isinstance(value, list):
        return [_named(v, classes) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(classes):
        return classes[value]
    return value
