"""JSON array files (Alpaca style ``[{...}, {...}]``): each element is a record, ``line`` = where it starts.

The whole file is read into memory (a JSON array has no record boundaries to stream on) and stepped through
with ``json.JSONDecoder.raw_decode``, one element at a time, so each element keeps its verbatim text (``raw``)
and its first line. A ``.json`` file is sniffed first: ``[`` → this reader; one object per line → JSON Lines;
one object holding the records under a key (``{"data": [...]}``) → an ``InputError`` saying which key.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator

from curata.errors import InputError
from curata.io.base import RawRecord, Reader
from curata.io.compression import READ_ERRORS, open_binary, read_error
from curata.pool import Rejection

_WS = re.compile(r"[ \t\r\n]*")
_SURROGATE = re.compile("[\udc80-\udcff]")  # undecodable bytes, kept by errors="surrogateescape"
_DECODER = json.JSONDecoder()


def _list_keys(obj: dict, prefix: str = "", depth: int = 2) -> list[tuple[str, int]]:
    """(dotted key, length) of the lists inside a top-level object, two levels deep."""
    out = []
    for k, v in obj.items():
        if isinstance(v, list):
            out.append((prefix + str(k), len(v)))
        elif isinstance(v, dict) and depth > 1:
            out += _list_keys(v, f"{prefix}{k}.", depth - 1)
    return out


def object_error(path, obj: dict) -> InputError:
    """The error for a file holding one JSON object instead of records, naming where its lists are."""
    lists = _list_keys(obj)
    if not lists:
        return InputError(str(path), f"holds a single JSON object (keys {list(obj)[:8]}), not a list of records",
                          "write the records as a JSON array ([{...}, {...}]) or one object per line (JSON Lines)")
    key, n = max(lists, key=lambda kv: kv[1])
    where = "; ".join(f"`{k}` holds a list of {m}" for k, m in lists[:4])
    return InputError(str(path), f"holds one JSON object, not a list of records ({where})",
                      f"extract the records, e.g. `jq '.{key}' FILE > records.json` (a JSON array) or "
                      f"`jq -c '.{key}[]' FILE > records.jsonl`, and read that")


def _is_wrapper(obj) -> bool:
    return isinstance(obj, dict) and any(isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
                                         for v in obj.values())


def sniff_json(path) -> str:
    """``json`` for a JSON array, ``jsonl`` for JSON Lines under a .json name; raises for a wrapping object."""
    try:
        with open_binary(path) as fh:
            first = fh.readline()
            while first and not first.strip():
                first = fh.readline()
            first = first.removeprefix(codecs.BOM_UTF8).lstrip()
            if first.startswith(b"["):
                return "json"
            if not first.startswith(b"{"):
                return "jsonl"  # the JSON Lines reader rejects what is wrong, line by line
            try:
                obj = json.loads(first)
            except (json.JSONDecodeError, UnicodeDecodeError):
                obj = None
            if obj is not None:  # a whole object on the first line: JSON Lines, unless it is the only one and
                rest = fh.read(1 << 16)  # wraps the records (``{"data": [{...}, ...]}`` on one line)
                if not rest.strip() and _is_wrapper(obj):
                    raise object_error(path, obj)
                return "jsonl"
            try:  # an object spanning lines: a pretty-printed file with one object?
                whole = json.loads(first + fh.read())
            except (json.JSONDecodeError, UnicodeDecodeError):
                return "jsonl"  # not one object either: JSON Lines with a bad first line, rejected as such
    except READ_ERRORS:
        return "jsonl"  # the reader reports damaged input with its line
    if isinstance(whole, dict):
        raise object_error(path, whole)
    return "jsonl"


class JsonArrayReader(Reader):
    format = "json"

    def _read(self) -> str:
        data = bytearray()
        try:
            with open_binary(self.path) as fh:
                while block := fh.read(1 << 20):
                    data += block
        except READ_ERRORS as e:
            raise read_error(self.path, e, data.count(b"\n") + 1) from e
        text = bytes(data).decode(self.encoding, errors="surrogateescape")
        return text.removeprefix("\ufeff")  # a byte-order mark is not part of the array

    def iter_records(self) -> Iterator[RawRecord | Rejection]:
        file = str(self.path)
        text = self._read()
        pos = _WS.match(text, 0).end()

        def where(i: int) -> tuple[int, int]:
            line = text.count("\n", 0, i) + 1
            return line, i - (text.rfind("\n", 0, i) + 1) + 1

        def fail(i: int, problem: str, fix: str = "fix the JSON (a JSON array: [{...}, {...}])"):
            line, col = where(i)
            return InputError(file, f"{problem} at column {col}", fix, line=line)

        if pos == len(text):
            return  # an empty file holds no records
        if text[pos] != "[":
            if text[pos] == "{":
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError:
                    obj = None
                if isinstance(obj, dict):
                    raise object_error(file, obj)
            raise fail(pos, f"expected a JSON array `[`, found {text[pos]!r}",
                       "pass a JSON array file, or --format jsonl for one object per line")
        pos = _WS.match(text, pos + 1).end()
        line, line_at = 1 + text.count("\n", 0, pos), pos
        want_element, after_comma = True, False  # after `[` or `,`
        while True:
            if pos >= len(text):
                raise fail(pos, "the file ends inside the array (missing `]`)")
            if text[pos] == "]":
                if after_comma:
                    raise fail(pos, "trailing comma before `]`")
                break
            if not want_element:
                if text[pos] != ",":
                    raise fail(pos, f"expected `,` or `]` between elements, found {text[pos]!r}")
                pos = _WS.match(text, pos + 1).end()
                want_element = after_comma = True
                continue
            want_element = after_comma = False
            line += text.count("\n", line_at, pos)
            line_at = pos
            try:
                obj, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as e:
                raise InputError(file, f"malformed JSON: {e.msg} at column {e.colno}",
                                 "fix the JSON (each element of the array must be valid JSON)",
                                 line=e.lineno) from None
            raw = text[pos:end]
            pos = _WS.match(text, end).end()
            if _SURROGATE.search(raw):
                yield Rejection(file, line, f"undecodable bytes ({self.encoding}); re-save the file as UTF-8 or "
                                "pass --encoding", raw.encode("utf-8", "surrogateescape")
                                .decode("utf-8", "backslashreplace"))
            elif not isinstance(obj, dict):
                yield Rejection(file, line, f"expected a JSON object, got {type(obj).__name__}", raw)
            else:
                yield RawRecord(file, line, obj, raw)
        pos = _WS.match(text, pos + 1).end()
        if pos < len(text):
            raise fail(pos, "unexpected text after the closing `]` of the array")
