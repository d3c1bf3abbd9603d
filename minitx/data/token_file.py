"""A prepared corpus: token ids in one file, read by memory map (`minitx prepare` writes it).

The layout, little-endian throughout:

    8 bytes    MAGIC, b"minitxTK"
    8 bytes    the header's length H, an unsigned integer
    H bytes    the header: UTF-8 JSON, padded with spaces so that the ids start at a multiple of 64
    the ids    `tokens` of them, uint16 when the vocabulary fits in 65536 ids, else uint32

The header says what the ids are and how to check them:

    dtype            "uint16" or "uint32"
    tokens           how many ids follow the header
    val_fraction     the validation split: the last int(tokens * val_fraction) ids (val_tokens),
    val_tokens       the rule `train gpt` applies to a text file
    sha256           of the ids' bytes: a changed corpus is detected, on resume too
    characters       of the text the ids were made from
    sources          [{"path", "bytes"}]: the text files, in order
    tokenizer_spec   the --tokenizer it was prepared with ("char", "bpe:N", a folder)
    tokenizer_class  a class of minitx.tokenizers, and
    tokenizer        the JSON its save() writes, so the file is all a run needs

The file's size must be exactly 16 + H + tokens * itemsize: a truncated copy is
refused when opened; verify() also re-reads the ids against sha256.
"""
import hashlib
import json
import os
import tempfile

import numpy as np

MAGIC = b"minitxTK"
VERSION = 1
_PREFIX = 16           # MAGIC and the header's length
_ALIGN = 64
DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


class TokenFileError(ValueError):
    """A file that is not a prepared corpus, or a damaged one; the message names the file."""


def is_token_file(path):
    """Whether `path` starts as a prepared corpus does (a text file does not)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def dtype_for(vocab_size):
    """The narrowest dtype name of DTYPES that holds every id of the vocabulary."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def write_token_file(path, chunks, tokenizer, val_fraction, tokenizer_spec, sources=()):
    """Write the ids of `chunks`, an iterable of (ids, characters), to `path` with its header;
    returns the header. The file appears only when complete: it is written beside `path`
    and renamed over it at the end."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"write_token_file: val_fraction must be in (0, 1), got {val_fraction}")
    header = {"format": "minitx tokens", "version": VERSION, "dtype": dtype_for(tokenizer.vocab_size),
              "tokens": 0, "val_fraction": val_fraction, "val_tokens": 0, "sha256": "", "characters": 0,
              "sources": list(sources), "tokenizer_spec": tokenizer_spec,
              "tokenizer_class": type(tokenizer).__name__, "tokenizer": tokenizer_json(tokenizer)}
    dtype = DTYPES[header["dtype"]]
    # room for the header once its counts are known: the same header with the widest counts and digest
    widest = dict(header, tokens=10 ** 20, val_tokens=10 ** 20, characters=10 ** 20, sha256="0" * 64)
    room = -(-(_PREFIX + len(_encode(widest))) // _ALIGN) * _ALIGN - _PREFIX
    partial, digest = f"{path}.partial", hashlib.sha256()
    try:
        with open(partial, "wb") as f:
            f.write(b"\0" * (_PREFIX + room))
            for ids, characters in chunks:
                raw = np.asarray(ids, dtype=dtype).tobytes()
                f.write(raw)
                digest.update(raw)
                header["tokens"] += len(raw) // dtype.itemsize
                header["characters"] += characters
            header["val_tokens"] = int(header["tokens"] * val_fraction)
            header["sha256"] = digest.hexdigest()
            f.seek(0)
            f.write(MAGIC + room.to_bytes(8, "little") + _encode(header).ljust(room, b" "))
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return header


def _encode(header):
    return json.dumps(header, ensure_ascii=False).encode("utf-8")


def tokenizer_json(tokenizer):
    """The JSON object `tokenizer.save` writes (every minitx tokenizer saves one JSON file)."""
    with tempfile.TemporaryDirectory() as folder:
        file = os.path.join(folder, "tokenizer.json")
        tokenizer.save(file)
        with open(file, encoding="utf-8") as f:
            return json.load(f)


class TokenFile:
    """A prepared corpus, opened and checked: its header, tokenizer and (by `ids()`) its ids."""

    def __init__(self, path):
        self.path = os.fspath(path)
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as f:
            prefix = f.read(_PREFIX)
            if prefix[:len(MAGIC)] != MAGIC:
                raise TokenFileError(f"{self.path}: not a prepared corpus (it does not start with {MAGIC!r}); "
                                     f"`minitx prepare` writes one")
            length = int.from_bytes(prefix[len(MAGIC):], "little")
            if len(prefix) < _PREFIX or _PREFIX + length > size:
                raise TokenFileError(f"{self.path}: {size} bytes, too short for its {length}-byte header: "
                                     f"truncated")
            try:
                header = json.loads(f.read(length).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise TokenFileError(f"{self.path}: the header is not JSON ({e})") from None
        self.header = self._check(header)
        self.dtype = DTYPES[header["dtype"]]
        self.tokens, self.val_fraction, self.sha256 = header["tokens"], header["val_fraction"], header["sha256"]
        self.offset = _PREFIX + length
        expected = self.offset + self.tokens * self.dtype.itemsize
        if size != expected:
            raise TokenFileError(f"{self.path}: {size} bytes, but its header promises {expected} ({self.tokens} "
                                 f"{header['dtype']} ids after {self.offset} bytes): truncated or damaged; "
                                 f"prepare it again")
        self.tokenizer = self._load_tokenizer(header)
        if self.tokenizer.vocab_size > np.iinfo(self.dtype).max + 1:
            raise TokenFileError(f"{self.path}: a vocab of {self.tokenizer.vocab_size} does not fit "
                                 f"{header['dtype']} ids")

    def _check(self, header):
        def bad(key, what):
            return TokenFileError(f"{self.path}: header {key!r}: {what}, got {header.get(key)!r}")

        if not isinstance(header, dict):
            raise TokenFileError(f"{self.path}: the header is not a JSON object")
        if header.get("version") != VERSION:
            raise bad("version", f"this minitx reads version {VERSION}")
        if header.get("dtype") not in DTYPES:
            raise bad("dtype", f"expected one of {sorted(DTYPES)}")
        for key in ("tokens", "val_tokens", "characters"):
            if type(header.get(key)) is not int or header[key] < 0:
                raise bad(key, "expected an integer >= 0")
        fraction = header.get("val_fraction")
        if type(fraction) not in (int, float) or not 0 < fraction < 1:
            raise bad("val_fraction", "expected a number in (0, 1)")
        if header["val_tokens"] != int(header["tokens"] * fraction):
            raise bad("val_tokens", f"expected int({header['tokens']} * {fraction}) = "
                                    f"{int(header['tokens'] * fraction)}")
        sha = header.get("sha256")
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
            raise bad("sha256", "expected 64 hex digits")
        return header

    def _load_tokenizer(self, header):
        from .. import tokenizers
        name = header.get("tokenizer_class")
        if name not in tokenizers.__all__:
            raise TokenFileError(f"{self.path}: header 'tokenizer_class': not a class of minitx.tokenizers, "
                                 f"got {name!r}")
        with tempfile.TemporaryDirectory() as folder:
            file = os.path.join(folder, "tokenizer.json")
            with open(file, "w", encoding="utf-8") as f:
                json.dump(header.get("tokenizer"), f, ensure_ascii=False)
            try:
                return getattr(tokenizers, name).load(file)
            except (ValueError, KeyError) as e:
                raise TokenFileError(f"{self.path}: header 'tokenizer': not a {name} "
                                     f"({str(e).replace(file, 'tokenizer')})") from None

    @property
    def val_tokens(self):
        return self.header["val_tokens"]

    def ids(self):
        """The ids, (tokens,), as a read-only memory map: nothing is read until indexed."""
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=(self.tokens,))

    def splits(self):
        """{"train": the ids before the last val_tokens, "val": those}, views of one new map."""
        ids = self.ids()
        return {"train": ids[:self.tokens - self.val_tokens], "val": ids[self.tokens - self.val_tokens:]}

    def verify(self, block_bytes=1 << 22):
        """Re-read the ids (plain reads, a block at a time: no map, so they never count as this
        process's memory) and check them against the header's sha256 and the vocab."""
        digest, top, V = hashlib.sha256(), 0, self.tokenizer.vocab_size
        block_bytes -= block_bytes % self.dtype.itemsize
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            while raw := f.read(block_bytes):
                digest.update(raw)
                top = max(top, int(np.frombuffer(raw, dtype=self.dtype).max()))
        if digest.hexdigest() != self.sha256:
            raise TokenFileError(f"{self.path}: its ids do not match the header's sha256 (changed after "
                                 f"`minitx prepare` wrote it); prepare it again")
        if self.tokens and top >= V:
            raise TokenFileError(f"{self.path}: holds id {top}, outside its tokenizer's vocab of {V}")
