"""Map source fields onto curata's three task kinds and build a ``Pool``; every record is kept or rejected."""

from __future__ import annotations

import hashlib
import json
import re
import os
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict
from curata.console import tqdm

from curata.errors import InputError
from curata.io.base import RawRecord, open_reader
from curata.pool import CONTENT_COLUMNS, Pool, Rejection, natural_sorted

PAIR_SEP = " [SEP] "
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MISSING = object()
LIST_LABEL = ("label field `{}` holds a list (multi-label); curata supports one label per record: choose one "
              "label per record, or write one record per label")


def get_field(fields: dict, path: str, default=None):
    """The value of ``path`` in a record: a literal key (even one with dots) first, else a dotted path into
    nested objects (``meta.text`` → ``fields["meta"]["text"]``); ``default`` when absent."""
    if path in fields:
        return fields[path]
    i = path.find(".")
    while i > 0:
        head = fields.get(path[:i])
        if isinstance(head, dict):
            value = get_field(head, path[i + 1:], _MISSING)
            if value is not _MISSING:
                return value
        i = path.find(".", i + 1)
    return default


def has_field(fields: dict, path: str | None) -> bool:
    return path is not None and get_field(fields, path, _MISSING) is not _MISSING


def _nested_paths(fields: dict, prefix: str = "", depth: int = 3) -> list[str]:
    out = []
    for k, v in fields.items():
        if isinstance(v, dict) and v and depth > 1:
            out += _nested_paths(v, f"{prefix}{k}.", depth - 1)
        elif prefix:
            out.append(prefix + str(k))
    return out


class FieldMap(BaseModel):
    """Which source field plays which role. ``task='auto'`` looks at the first record's fields.

    Every ``*_field`` may be a dotted path into nested objects (``meta.text``); a literal key containing the
    dot wins over the nested path (see ``get_field``)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["auto", "text", "pair", "instruction"] = "auto"
    text_field: str = "text"
    label_field: str | None = "label"
    left_field: str = "left"
    right_field: str = "right"
    instruction_field: str = "instruction"
    input_field: str = "input"
    output_field: str = "output"
    id_field: str | None = None

    def resolve_task(self, fields: dict, where: str) -> str:
        if self.task != "auto":
            return self.task
        if has_field(fields, self.left_field) and has_field(fields, self.right_field):
            return "pair"
        if has_field(fields, self.instruction_field) and has_field(fields, self.output_field):
            return "instruction"
        if has_field(fields, self.text_field):
            return "text"
        nested = _nested_paths(fields)
        shown = f" (nested: {', '.join(nested[:12])}{', …' if len(nested) > 12 else ''})" if nested else ""
        raise InputError(where, f"cannot find a text field: the first record has fields {sorted(fields)}{shown}",
                         "name yours with --text-field (or --left-field/--right-field for pairs, "
                         "--instruction-field/--output-field for instructions; a.b names a nested field)")

    def source_fields(self, task: str) -> dict[str, str]:
        """canonical column -> source field for the content of ``task``."""
        return {
            "text": {"text": self.text_field},
            "pair": {"left": self.left_field, "right": self.right_field},
            "instruction": {"instruction": self.instruction_field, "input": self.input_field,
                            "output": self.output_field},
        }[task]


def _as_text(value, field: str, optional: bool = False) -> tuple[str | None, str | None]:
    """(text, problem). Numbers become strings; containers and empties are problems."""
    if value is None or (isinstance(value, float) and value != value):
        return (("", None) if optional else (None, f"missing field `{field}`"))
    if isinstance(value, (dict, list, tuple)):
        return None, f"field `{field}` is a {type(value).__name__}, expected a string"
    text = str(value)
    if not text.strip() and not optional:
        return None, f"empty field `{field}`"
    bad = _LONE_SURROGATE.search(text)
    if bad:
        return None, (f"field `{field}` is not valid Unicode: a lone surrogate \\u{ord(bad.group()):04x} at "
                      f"character {bad.start() + 1} (an escaped half of a UTF-16 pair); fix the text")
    return text, None


def _as_label(value, field: str) -> tuple[str | None, str | None]:
    """(label, problem)."""
    missing = f"missing or empty label field `{field}`"
    if value is None or (isinstance(value, float) and value != value):
        return None, missing
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (list, tuple)):
        return None, LIST_LABEL.format(field)
    if isinstance(value, dict):
        return None, f"label field `{field}` holds an object, expected one label"
    text = str(value).strip()
    return (text, None) if text else (None, missing)


def content_hash(parts: list) -> str:
    return hashlib.sha1(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


class _Builder:
    """Accumulates mapped rows and rejections while records stream in."""

    def __init__(self, fmap: FieldMap, known_labels: list[str] | None, strict: bool):
        self.fmap, self.known, self.strict = fmap, known_labels, strict
        self.task: str | None = None
        self.labelled: bool | None = None
        self.rows: list[dict] = []
        self.rejected: list[Rejection] = []
        self.seen_ids: dict[str, int | None] = {}
        self.hash_counts: dict[str, int] = {}
        self.n_records = 0  # records the reader parsed (reached the field mapping)
        self.n_list_labels = 0

    def reject(self, rej: Rejection) -> None:
        if self.strict:
            raise InputError(rej.file, rej.reason, "fix or remove the record, or run without --strict to skip it",
                             line=rej.line)
        self.rejected.append(rej)

    def _label_appeared(self) -> None:
        """The label field first shows up after records without it: those records lack a label after all."""
        self.labelled = True
        earlier, self.rows, self.seen_ids, self.hash_counts = self.rows, [], {}, {}
        for row in earlier:
            self.reject(Rejection(row["source_file"], row["source_line"],
                                  f"missing or empty label field `{self.fmap.label_field}`", row["raw"]))

    def add(self, rec: RawRecord | Rejection) -> None:
        if isinstance(rec, Rejection):
            return self.reject(rec)
        fm = self.fmap
        self.n_records += 1
        if self.task is None:
            self.task = fm.resolve_task(rec.fields, rec.file)
            self.labelled = fm.label_field is not None and (has_field(rec.fields, fm.label_field) or
                                                            self.known is not None)
        elif not self.labelled and has_field(rec.fields, fm.label_field):
            self._label_appeared()
        row = {"source_file": rec.file, "source_line": rec.line, "raw": rec.raw}
        for col, src in fm.source_fields(self.task).items():
            optional = col == "input"
            text, problem = _as_text(get_field(rec.fields, src), src, optional=optional)
            if problem:
                return self.reject(Rejection(rec.file, rec.line, problem, rec.raw))
            row[col] = text
        if self.task == "pair":
            row["text"] = row["left"] + PAIR_SEP + row["right"]
        elif self.task == "instruction":
            row["text"] = "\n\n".join(p for p in (row["instruction"], row["input"], row["output"]) if p)
        label = None
        if self.labelled:
            label, problem = _as_label(get_field(rec.fields, fm.label_field), fm.label_field)
            if problem:
                self.n_list_labels += problem == LIST_LABEL.format(fm.label_field)
                return self.reject(Rejection(rec.file, rec.line, problem, rec.raw))
            if self.known is not None and label not in self.known:
                return self.reject(Rejection(rec.file, rec.line, f"unknown label {label!r}: the pool's labels are "
                                             f"{self.known}", rec.raw))
        row["label"] = label
        id_field = fm.id_field or ("id" if "id" in rec.fields and fm.id_field is None else None)
        if id_field:
            rid, problem = _as_text(get_field(rec.fields, id_field), id_field)
            if problem:
                return self.reject(Rejection(rec.file, rec.line, problem, rec.raw))
            if rid in self.seen_ids:
                return self.reject(Rejection(rec.file, rec.line, f"duplicate id {rid!r} (first at line "
                                             f"{self.seen_ids[rid]})", rec.raw))
        else:
            h = content_hash([row[c] for c in CONTENT_COLUMNS[self.task]] + [label])
            k = self.hash_counts.get(h, 0) + 1
            self.hash_counts[h] = k
            rid = h if k == 1 else f"{h}~{k}"
        self.seen_ids[rid] = rec.line
        row["id"] = rid
        self.rows.append(row)

    def to_pool(self, known_labels: list[str] | None, input_format: str, header: str | None = None) -> Pool:
        cols = ["id", "source_file", "source_line", "text",
                *[c for c in CONTENT_COLUMNS[self.task] if c != "text"], "label", "raw"]
        df = pd.DataFrame(self.rows, columns=cols)
        df["source_line"] = df["source_line"].astype("Int64")
        labels = None
        if self.labelled:
            labels = known_labels if known_labels is not None else natural_sorted(df["label"].dropna().unique())
        return Pool(df=df, task=self.task, label_names=labels, rejected=self.rejected, input_format=input_format,
                    header=header)


def load_pool(path: str | os.PathLike, fmap: FieldMap | None = None, fmt: str = "auto", strict: bool = False,
              encoding: str = "utf-8", known_labels: list[str] | None = None, split: str | None = None,
              progress: bool = True, **reader_kwargs) -> Pool:
    """Read ``path`` into a ``Pool``. ``known_labels`` (for a test set) rejects labels the pool never had."""
    fmap = fmap or FieldMap()
    kwargs = dict(reader_kwargs, encoding=encoding)
    if split is not None:
        kwargs["split"] = split
    reader = open_reader(path, fmt, **kwargs)
    builder = _Builder(fmap, known_labels, strict)
    with tqdm(desc=f"read {os.path.basename(str(path))}", unit=" rec", disable=not progress, leave=False) as bar:
        for batch in reader.iter_batches():
            for rec in batch:
                builder.add(rec)
            bar.update(len(batch))
    n_in = len(builder.rows) + len(builder.rejected)
    if n_in == 0:
        shards = getattr(reader, "files", None)
        what = "the file holds" if shards is None else f"its {len(shards)} file(s) hold"
        raise InputError(str(path), f"{what} no records", "check that it is the right file")
    if not builder.rows and builder.n_list_labels and builder.n_list_labels == builder.n_records:
        others = n_in - builder.n_records
        raise InputError(str(path), f"multi-label pools are not supported: the label field `{fmap.label_field}` "
                         f"holds a list in every record ({builder.n_list_labels}"
                         f"{f'; {others} more rejected while reading' if others else ''}); curata supports one "
                         "label per record", "choose one label per record, or write one record per label")
    if not builder.rows:
        reasons = pd.Series([r.reason for r in builder.rejected]).value_counts().head(3)
        raise InputError(str(path), f"no usable records: all {n_in} were rejected (most common: "
                         f"{'; '.join(f'{r} ×{c}' for r, c in reasons.items())})",
                         "fix the field mapping (--text-field/--label-field) or the file")
    return builder.to_pool(known_labels, input_format=reader.format, header=reader.header)


def pool_from_records(records, fmap: FieldMap | None = None, strict: bool = False, name: str = "<memory>",
                      known_labels: list[str] | None = None) -> Pool:
    """A pool from in-memory dicts (or a DataFrame); ``line`` is the 1-based position."""
    if isinstance(records, pd.DataFrame):
        records = records.to_dict(orient="records")
    builder = _Builder(fmap or FieldMap(), known_labels, strict)
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            builder.add(Rejection(name, i, f"expected a dict, got {type(rec).__name__}", repr(rec)))
            continue
        builder.add(RawRecord(name, i, rec, json.dumps(rec, ensure_ascii=False, default=str)))
    if not builder.rows:
        raise InputError(name, f"no usable records ({len(builder.rejected)} rejected)", "check the field mapping")
    return builder.to_pool(known_labels, input_format="jsonl")
