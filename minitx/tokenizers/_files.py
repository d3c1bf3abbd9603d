"""Reading corpora and vocab files with errors that name the file and line."""

import json
import os
import re
import sys
from pathlib import Path

from .base import VocabError


STDIN = "-"   # the path that names standard input, as in most command-line tools


def read_text(path, errors="strict", hint=""):
    """The UTF-8 text of `path` (STDIN: standard input), a leading byte-order mark dropped; `errors` as in
    bytes.decode ('strict', 'replace', 'ignore'). Invalid UTF-8 under 'strict' names
    the line and byte, then `hint`."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, not a text file")
    try:
        data = sys.stdin.buffer.read() if path == STDIN else Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        return data.decode("utf-8", errors).removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{path}:{line}: invalid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}: {e.reason}){hint}"
        ) from None


def iter_texts(text_or_files, errors="strict"):
    """Yield texts: a str is text, an os.PathLike is a UTF-8 file; an iterable may mix both.

    File names must be pathlib.Path (or another os.PathLike), never str, so that
    a short text is never mistaken for a file name or the other way round.
    """
    items = [text_or_files] if isinstance(text_or_files, (str, os.PathLike)) else text_or_files
    for item in items:
        if isinstance(item, str):
            yield item
        elif isinstance(item, os.PathLike):
            yield read_text(item, errors, hint="; pass errors='replace' to substitute U+FFFD")
        else:
            raise TypeError(
                f"expected text (str) or a file (os.PathLike), got {type(item).__name__}: {item!r:.60}")


def read_lines(path):
    """[(line number, line without its newline)] of a UTF-8 text file.

    Only \n (or \r\n) ends a line: str.splitlines would also split on \x85 and
    \u2028, which may be part of a token.
    """
    lines = read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()
    return [(n, line.removesuffix("\r")) for n, line in enumerate(lines, start=1)]


def read_json(path):
    """(parsed JSON, raw text) of `path`; bad JSON and duplicate keys name the line."""
    text = read_text(path)

    def no_duplicates(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj:
                raise VocabError(f"duplicate key {key!r}", at=key)
            obj[key] = value
        return obj

    try:
        return json.loads(text, object_pairs_hook=no_duplicates), text
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    except VocabError as e:
        raise VocabError(f"{json_where(path, text, e.at, occurrence=2, key=True)}: {e}", at=e.at) from None


def json_where(path, text, value, occurrence=1, key=False):
    """'path:line' of the `occurrence`-th place (-1: the last) the string `value` is
    written in JSON `text`, as an object key if `key`; 'path' alone if it is not
    found (JSON may escape a string several ways, and `value` may not be a string)."""
    if isinstance(value, str):
        for quoted in {json.dumps(value), json.dumps(value, ensure_ascii=False)}:
            matches = list(re.finditer(re.escape(quoted) + (r"\s*:" if key else ""), text))
            if len(matches) >= abs(occurrence):
                match = matches[occurrence - 1] if occurrence > 0 else matches[occurrence]
                return f"{path}:{text.count(chr(10), 0, match.start()) + 1}"
    return str(path)
