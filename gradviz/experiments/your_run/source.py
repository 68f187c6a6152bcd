"""The bytes of an upload, read with bounded work: a path, bytes, or a binary file-like object read in blocks.

Every limit is checked on the bytes before a parser sees them, so no file costs more than reading it:
more than MAX_BYTES (Streamlit's upload cap, also once decompressed) is refused when the size is known and
otherwise when it is passed; a gzip file is decompressed as it is read; a CSV is cut into blocks of whole
rows (a newline outside quotes ends a row: an RFC 4180 quote toggles, a doubled one toggles twice), and a
line longer than MAX_LINE_BYTES is refused where it starts, before any parser tokenizes it.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import zlib
from dataclasses import dataclass

import numpy as np

from gradviz.experiments.your_run.errors import RunFileError

MAX_BYTES = 200 * 1024 * 1024  # Streamlit's default upload cap, server.maxUploadSize = 200 (MB)
MAX_LINE_BYTES = 1024 * 1024  # a wide header of 20,000 parameter names fits
BLOCK_BYTES = 4 * 1024 * 1024
MAX_ROW_BYTES = 16 * 1024 * 1024  # a row whose quotes never close is refused past this
NEWLINE, QUOTE = 10, 34
GZIP_MAGIC = b"\x1f\x8b"
BOMS = {b"\xef\xbb\xbf": "utf-8", b"\xff\xfe": "utf-16", b"\xfe\xff": "utf-16"}
EVENTS_MARK = b"brain.Event:"  # the first record of every TensorBoard event file: its file_version


class Stream:
    """A binary stream that refuses to go past `limit` bytes, with the first bytes available to peek at."""

    def __init__(self, read, limit: int | None = None):
        self._read = read
        self._limit = MAX_BYTES if limit is None else limit
        self._head = b""
        self.consumed = 0

    def read(self, n: int = -1) -> bytes:
        """Up to n bytes (all that is left for n < 0)."""
        if n < 0:
            return b"".join(iter(lambda: self.read(BLOCK_BYTES), b""))
        data, self._head = self._head[:n], self._head[n:]
        if len(data) < n:
            data += self._raw(n - len(data))
        self.consumed += len(data)
        if self.consumed > self._limit:
            raise RunFileError("too_large", limit_mb=MAX_BYTES // (1024 * 1024))
        return data

    def peek(self, n: int) -> bytes:
        """The next n bytes (fewer at the end), left to be read."""
        while len(self._head) < n:
            more = self._raw(n - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:n]

    def _raw(self, n: int) -> bytes:
        data = self._read(n)
        if isinstance(data, str):  # a text stream: its characters as UTF-8
            data = data.encode("utf-8", errors="surrogatepass")
        return bytes(data or b"")


def _check_size(n_bytes: int) -> None:
    if n_bytes > MAX_BYTES:
        raise RunFileError("too_large", limit_mb=MAX_BYTES // (1024 * 1024))


@contextlib.contextmanager
def opened(source):
    """The source as a Stream: bytes, a path, or a file-like object (read from where it stands)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source).cast("B")
        _check_size(len(view))
        position = 0

        def read(n: int) -> bytes:
            nonlocal position
            chunk = view[position:position + n]
            position += len(chunk)
            return bytes(chunk)

        yield Stream(read)
    elif isinstance(source, (str, os.PathLike)):
        _check_size(os.path.getsize(source))
        with open(source, "rb") as file:
            yield Stream(file.read)
    else:
        if getattr(source, "seekable", lambda: False)():
            start = source.tell()
            _check_size(source.seek(0, io.SEEK_END) - start)
            source.seek(start)
        yield Stream(source.read)


class _Readable(io.RawIOBase):
    """A Stream as the file object gzip reads from."""

    def __init__(self, stream: Stream):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def decompressed(stream: Stream) -> Stream:
    """The stream itself, or, if it is gzip-compressed, its decompressed bytes (at most MAX_BYTES of them)."""
    if stream.peek(2) != GZIP_MAGIC:
        return stream
    unzipped = gzip.GzipFile(fileobj=_Readable(stream))

    def read(n: int) -> bytes:
        try:
            return unzipped.read(n)
        except (OSError, EOFError, zlib.error):
            raise RunFileError("bad_gzip") from None

    return Stream(read)


def kind_of(stream: Stream) -> str:
    """"events", "json" or "csv", from the first bytes; refuses text that is not UTF-8 by its byte-order mark."""
    head = stream.peek(256)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RunFileError("encoding")
    if EVENTS_MARK in head[:64]:
        return "events"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return "json" if text[:1] in (b"[", b"{") else "csv"


@dataclass(frozen=True)
class Block:
    """Whole CSV rows: `data`, whose first byte starts physical line `first_line` (1-based)."""

    first_line: int
    data: bytes

    def row_lines(self) -> np.ndarray:
        """The line each row of the block starts on, as pandas counts rows (blank lines skipped, a quoted
        newline inside a row)."""
        raw = np.frombuffer(self.data, np.uint8)
        ends = np.flatnonzero(raw == NEWLINE)
        starts = np.concatenate([[0], ends + 1])
        starts = starts[starts < len(raw)]
        quotes = np.concatenate([[0], np.cumsum(raw == QUOTE, dtype=np.uint8)])
        outside = quotes[starts] % 2 == 0
        stops = np.append(ends, len(raw))[: len(starts)]
        blank = np.array([not self.data[a:b].strip() for a, b in zip(starts, stops)], dtype=bool)
        return self.first_line + np.flatnonzero(outside & ~blank)


def csv_blocks(stream: Stream, block_bytes: int = BLOCK_BYTES, quotes: bool = True):
    """The stream as Blocks of whole rows, refusing a line longer than MAX_LINE_BYTES where it starts.
    quotes: a newline inside double quotes does not end a row (CSV); False: every newline does (JSON Lines)."""
    line, rest = 1, b""
    while True:
        new = stream.read(block_bytes)
        data = rest + new if rest else new
        if not new:
            if data:
                _check_lines(np.frombuffer(data, np.uint8), line)
                yield Block(line, data)
            return
        raw = np.frombuffer(data, np.uint8)
        ends = _check_lines(raw, line)
        if quotes and len(ends):
            even = np.cumsum(raw == QUOTE, dtype=np.uint8)[ends] % 2 == 0
        else:
            even = np.ones(len(ends), dtype=bool)
        if not even.any():
            if len(data) > MAX_ROW_BYTES:
                raise RunFileError("unreadable")
            rest = data
            continue
        last = int(np.flatnonzero(even)[-1])
        cut = int(ends[last]) + 1
        yield Block(line, data[:cut])
        line += last + 1
        rest = data[cut:]


def _check_lines(raw: np.ndarray, first_line: int) -> np.ndarray:
    """The newline positions of `raw`; refuses a line (the unfinished last one too) over MAX_LINE_BYTES."""
    ends = np.flatnonzero(raw == NEWLINE)
    lengths = np.diff(np.concatenate([[-1], ends, [len(raw)]])) - 1
    if lengths.max() > MAX_LINE_BYTES:
        raise RunFileError("line_too_long", line=first_line + int(np.argmax(lengths > MAX_LINE_BYTES)),
                           limit_kb=MAX_LINE_BYTES // 1024)
    return ends
