"""Dotted field paths into nested records, and list-valued (multi-label) labels refused with a clear reason."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curata.errors import InputError
from curata.io.fields import FieldMap, get_field, has_field, load_pool

MULTI = ("label field `{}` holds a list (multi-label); curata supports one label per record: choose one label "
         "per record, or write one record per label")


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def jsonl(records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_get_field_prefers_a_literal_dotted_key():
    rec = {"meta.text": "literal", "meta": {"text": "nested", "deep": {"x": 1}}, "a.b": {"c": 2}}
    assert get_field(rec, "meta.text") == "literal"
    assert get_field(rec, "meta.deep.x") == 1
    assert get_field(rec, "a.b.c") == 2  # a literal key with a dot on the way
    assert get_field(rec, "meta.nope") is None and not has_field(rec, "meta.nope")
    assert not has_field({"meta": "a string"}, "meta.text") and not has_field(rec, None)
    assert has_field({"x": {"y": None}}, "x.y")  # present, even if empty


def test_every_role_reads_dotted_paths(write, rejections, accounted):
    text = write("t.jsonl", jsonl([{"meta": {"text": "hi", "id": "r1"}, "ann": {"label": "a"}},
                                   {"meta": {"id": "r2"}, "ann": {"label": "b"}},
                                   {"meta": {"text": "yo", "id": "r3"}, "ann": {}}]))
    pool = load(text, fmap=FieldMap(text_field="meta.text", label_field="ann.label", id_field="meta.id"))
    assert (pool.task, pool.df["id"].tolist(), pool.df["label"].tolist()) == ("text", ["r1"], ["a"])
    assert rejections(pool) == [(2, "missing field `meta.text`"), (3, "missing or empty label field `ann.label`")]
    accounted(pool, 3)

    pair = write("p.jsonl", jsonl([{"a": {"name": "x"}, "b": {"name": "y"}, "y": 1}]))
    pool = load(pair, fmap=FieldMap(left_field="a.name", right_field="b.name", label_field="y"))
    assert pool.task == "pair" and pool.df["text"].tolist() == ["x [SEP] y"]

    inst = write("i.jsonl", jsonl([{"q": {"instruction": "Add", "input": "2, 3"}, "a": {"output": "5"}}]))
    pool = load(inst, fmap=FieldMap(instruction_field="q.instruction", input_field="q.input",
                                    output_field="a.output"))
    assert pool.task == "instruction" and pool.df["text"].tolist() == ["Add\n\n2, 3\n\n5"]


def test_literal_dotted_key_wins_over_the_nested_path(write):
    path = write("d.jsonl", jsonl([{"meta.text": "flat", "meta": {"text": "nested"}}]))
    assert load(path, fmap=FieldMap(text_field="meta.text")).df["text"].tolist() == ["flat"]


def test_auto_task_detection_and_its_error_know_nested_fields(write):
    path = write("n.jsonl", jsonl([{"meta": {"body": "hi", "lang": "en"}, "label": "a"}]))
    with pytest.raises(InputError, match=r"first record has fields \['label', 'meta'\] \(nested: meta\.body, "
                                         r"meta\.lang\) — .*a\.b names a nested field"):
        load(path)
    assert load(path, fmap=FieldMap(text_field="meta.body")).df["text"].tolist() == ["hi"]


def test_nested_fields_in_parquet_structs(tmp_path):
    path = tmp_path / "s.parquet"
    pd.DataFrame({"doc": [{"text": "p", "lang": "en"}, {"text": "q", "lang": "fr"}],
                  "label": ["a", "b"]}).to_parquet(path)
    assert load(path, fmap=FieldMap(text_field="doc.text")).df["text"].tolist() == ["p", "q"]


def test_list_labels_are_rejected_as_multi_label(write, rejections, accounted):
    path = write("m.jsonl", jsonl([{"text": "one", "label": "a"},
                                   {"text": "two", "label": ["a", "b"]},
                                   {"text": "three", "label": ["b"]},
                                   {"text": "four", "label": {"name": "a"}}]))
    pool = load(path)
    assert rejections(pool) == [(2, MULTI.format("label")), (3, MULTI.format("label")),
                                (4, "label field `label` holds an object, expected one label")]
    accounted(pool, 4)


def test_all_multi_label_pool_says_so_plainly(write):
    path = write("multi.jsonl", jsonl([{"text": "x", "labels": ["a", "b"]}, {"text": "y", "labels": ["c"]},
                                       "not json"]))
    with pytest.raises(InputError) as exc:
        load(path, fmap=FieldMap(label_field="labels"))
    msg = str(exc.value)
    assert msg.startswith(f"{path}: multi-label pools are not supported: the label field `labels` holds a list "
                          "in every record (2; 1 more rejected while reading)")
    assert msg.endswith("choose one label per record, or write one record per label")
    csv = write("multi.csv", 'text,label\nx,"[""a"", ""b""]"\n')  # a CSV cell is a string, not a list
    assert load(csv).df["label"].tolist() == ['["a", "b"]']
