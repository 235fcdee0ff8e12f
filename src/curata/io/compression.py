"""Transparent decompression for text inputs: ``.gz``, ``.xz``, ``.bz2`` (stdlib) and ``.zst`` (``zstandard``).

Readers open files through ``open_binary`` / ``open_text`` and catch ``READ_ERRORS`` to turn a truncated or
corrupt stream into an ``InputError`` naming the line where reading stopped (``read_error``).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib
from pathlib import Path

from curata.errors import InputError

#: compressed suffix → what it is called in messages
COMPRESSIONS = {".gz": "gzip", ".xz": "xz", ".bz2": "bzip2", ".zst": "zstd"}


class CompressedDataError(OSError):
    """A compressed stream is corrupt or ends early (raised for ``.zst``; the stdlib raises its own types)."""


#: what reading a (possibly compressed) file raises when the data is damaged
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


def compression_of(path: str | os.PathLike) -> str | None:
    """The compressed suffix of ``path`` (``.gz`` …) or None."""
    name = Path(path).name.lower()
    return next((s for s in COMPRESSIONS if name.endswith(s)), None)


def strip_compression(name: str) -> str:
    """``pool.jsonl.zst`` → ``pool.jsonl`` (lower-cased)."""
    name = name.lower()
    suffix = compression_of(name)
    return name[: -len(suffix)] if suffix else name


class _ZstdRaw(io.RawIOBase):
    """Decompresses a (multi-frame) zstd file; raises ``CompressedDataError`` when it ends inside a frame."""

    def __init__(self, fh, zstd):
        self._fh, self._zstd = fh, zstd
        self._dobj = zstd.ZstdDecompressor().decompressobj()
        self._pending = b""
        self._in_frame = False
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._pending and not self._done:
            chunk = self._fh.read(1 << 16)
            if not chunk:
                self._done = True
                if self._in_frame:
                    raise CompressedDataError("zstd stream ended before the end of its frame (truncated file?)")
                break
            self._feed(chunk)
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        out = []
        while chunk:
            try:
                out.append(self._dobj.decompress(chunk))
            except self._zstd.ZstdError as e:
                raise CompressedDataError(f"corrupt zstd data: {e}") from e
            self._in_frame = not self._dobj.eof
            if not self._dobj.eof:
                break
            chunk = self._dobj.unused_data  # a next frame follows
            self._dobj = self._zstd.ZstdDecompressor().decompressobj()
            self._in_frame = bool(chunk)
        self._pending += b"".join(out)

    def close(self) -> None:
        self._fh.close()
        super().close()


def _zstandard(path):
    try:
        import zstandard
    except ImportError:
        raise InputError(str(path), "reading .zst files needs the package `zstandard`, which is not installed",
                         "pip install zstandard (or decompress the file with `zstd -d`)") from None
    return zstandard


def open_binary(path: str | os.PathLike):
    """A binary file object over the decompressed content of ``path``."""
    suffix = compression_of(path)
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".zst":
        zstd = _zstandard(path)
        return io.BufferedReader(_ZstdRaw(open(path, "rb"), zstd), buffer_size=1 << 16)
    return open(path, "rb")


def open_text(path: str | os.PathLike, encoding: str, errors: str = "strict", newline: str | None = None):
    """A text file object over the decompressed content of ``path``."""
    return io.TextIOWrapper(open_binary(path), encoding=encoding, errors=errors, newline=newline)


def read_error(path: str | os.PathLike, err: BaseException, line: int | None) -> InputError:
    """The ``InputError`` for damaged input: where reading stopped, why, and what to check."""
    suffix = compression_of(path)
    kind = f"a complete {COMPRESSIONS[suffix]} file, as its name says" if suffix else "complete and readable"
    return InputError(str(path), f"cannot read the file from this line on ({err})",
                      f"check that the file is {kind}", line=line)
