"""Reading a training text from a file, with errors that name the file and the byte."""
import os


def read_text(path):
    """The text of the UTF-8 file `path` (a leading byte-order mark is dropped)."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, not a text file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}: not valid UTF-8 at byte offset {e.start} (line {line}, "
                         f"byte 0x{raw[e.start]:02x}: {e.reason})") from None
    return text.removeprefix("\ufeff")
