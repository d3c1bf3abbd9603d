"""UTF-8 text files read a chunk at a time, each chunk cut where a word ends.

A corpus bigger than memory is tokenized piece by piece, so where a piece ends
matters: a cut inside a UTF-8 sequence breaks a character, and a cut inside a
word changes what a BPE tokenizer makes of it ("hel" + "lo" is not "hello").
Chunks are cut just after an ASCII letter, digit or symbol that an ASCII
whitespace byte follows, so every token before the cut ends there in the whole
text too: GPT-2's pre-tokenizer never joins a word to the space after it (a
space joins the word that follows), and a whitespace run is never split.
Encoding the chunks one by one then gives exactly the ids of the whole text.

A stretch with no such place (a file without whitespace) is cut at a character
boundary once the buffer holds `MAX_CHUNKS` chunks, to keep memory bounded; a
word there may be tokenized differently from the whole text.
"""
import os
import re

MAX_CHUNKS = 16
# [\s\S]* runs to the end of the buffer, then backs off to the last byte in [!-~] that ASCII whitespace
# (\t \n \v \f \r and space) follows: the end of the last word there, found in time proportional to the tail
_LAST_WORD_END = re.compile(rb"[\s\S]*[!-~](?=[\t-\r ])")


def text_chunks(paths, chunk_bytes=1 << 20):
    """Yield (text, bytes read) for the UTF-8 files `paths` in order, as if they were one
    file (`cat`); each text about `chunk_bytes` long, cut where a word ends. A leading
    byte-order mark of each file is dropped; invalid UTF-8 is a ValueError naming the
    file, line and byte offset."""
    if chunk_bytes < 1:
        raise ValueError(f"text_chunks: chunk_bytes must be positive, got {chunk_bytes}")
    for path in paths:
        yield from _file_chunks(os.fspath(path), chunk_bytes)


def _file_chunks(path, chunk_bytes):
    with open(path, "rb") as f:
        buf, offset, lines, first = b"", 0, 0, True   # offset, lines: of buf's first byte in the file
        while True:
            block = f.read(chunk_bytes)
            buf += block
            if block:
                cut = _cut(buf, chunk_bytes)
                if not cut:
                    continue   # no word ends in buf yet: read on
            else:
                cut = len(buf)
                if not cut:
                    return
            piece, buf = buf[:cut], buf[cut:]
            text = _decode(piece, path, offset, lines)
            yield (text.removeprefix("\ufeff") if first else text), len(piece)
            offset, lines, first = offset + cut, lines + piece.count(b"\n"), False


def _cut(buf, chunk_bytes):
    """Where to cut `buf`: after its last word end, or (no word end, and `MAX_CHUNKS`
    chunks held) at the last character boundary; 0: read more first."""
    last = _LAST_WORD_END.match(buf)
    if last:
        return last.end()
    if len(buf) < MAX_CHUNKS * chunk_bytes:
        return 0
    cut = len(buf) - 1
    while cut > 0 and buf[cut] & 0xC0 == 0x80:   # 10xxxxxx: inside a character; back off to its first byte
        cut -= 1
    return cut


def _decode(piece, path, offset, lines):
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError as e:
        line = lines + piece.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: invalid UTF-8 (byte 0x{piece[e.start]:02x} at offset "
                         f"{offset + e.start}: {e.reason})") from None
