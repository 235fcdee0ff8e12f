"""Field mapping: task detection, content columns, labels, ids, strictness, and every record accounted for."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
from pydantic import ValidationError

from curata.errors import InputError
from curata.io.fields import PAIR_SEP, FieldMap, content_hash, load_pool, pool_from_records


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def jsonl(records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def test_auto_detects_text(write, accounted):
    pool = load(write("p.jsonl", jsonl([{"text": "hi", "label": "a", "extra": 1}])))
    assert pool.task == "text"
    assert list(pool.df.columns) == ["id", "source_file", "source_line", "text", "label", "raw"]
    assert str(pool.df["source_line"].dtype) == "Int64"
    accounted(pool, 1)


def test_auto_detects_pairs(write, rejections, accounted):
    path = write("p.jsonl", jsonl([{"left": "iPhone 13 128GB", "right": "Apple iPhone 13 128 GB", "label": 1},
                                   {"left": "Galaxy S22", "right": "", "label": 0},
                                   {"left": "Pixel 7", "label": 0},
                                   {"left": "a", "right": "b", "label": 0}]))
    pool = load(path)
    assert pool.task == "pair"
    assert list(pool.df.columns) == ["id", "source_file", "source_line", "text", "left", "right", "label",
                                     "raw"]
    assert pool.df["text"].iloc[0] == "iPhone 13 128GB" + PAIR_SEP + "Apple iPhone 13 128 GB"
    assert pool.df["text"].iloc[1] == "a [SEP] b"
    assert rejections(pool) == [(2, "empty field `right`"), (3, "missing field `right`")]
    assert pool.label_names == ["0", "1"]
    accounted(pool, 4)


def test_auto_detects_instructions_with_optional_input(write, rejections, accounted):
    path = write("p.jsonl", jsonl([{"instruction": "Add", "input": "2 and 3", "output": "5"},
                                   {"instruction": "Say hi", "output": "hi"},
                                   {"instruction": "Say hi", "input": None, "output": "hello"},
                                   {"instruction": "No answer", "input": "x", "output": "  "},
                                   {"instruction": "Lost output", "input": "x"}]))
    pool = load(path)
    assert pool.task == "instruction"
    assert pool.df["text"].tolist() == ["Add\n\n2 and 3\n\n5", "Say hi\n\nhi", "Say hi\n\nhello"]
    assert pool.df["input"].tolist() == ["2 and 3", "", ""]
    assert rejections(pool) == [(4, "empty field `output`"), (5, "missing field `output`")]
    assert pool.label_names is None and not pool.has_labels  # no label field: an unlabelled pool
    assert pool.df["label"].isna().all()
    accounted(pool, 5)


def test_no_text_field_is_an_error_naming_the_fields(write):
    path = write("p.jsonl", jsonl([{"body": "x", "label": "a"}]))
    with pytest.raises(InputError) as exc:
        load(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: cannot find a text field: the first record has fields ['body', 'label']")
    assert "--text-field" in msg
    assert load(path, fmap=FieldMap(text_field="body")).df["text"].tolist() == ["x"]


def test_explicit_task_and_field_names(write, rejections):
    path = write("p.jsonl", jsonl([{"a": "l1", "b": "r1", "y": "m"}, {"a": "l2", "y": "n"}]))
    pool = load(path, fmap=FieldMap(task="pair", left_field="a", right_field="b", label_field="y"))
    assert pool.df["left"].tolist() == ["l1"] and pool.df["label"].tolist() == ["m"]
    assert rejections(pool) == [(2, "missing field `b`")]
    both = write("q.jsonl", jsonl([{"text": "x", "left": "l", "right": "r"}]))
    text_only = load(both, fmap=FieldMap(task="text"))
    assert text_only.task == "text" and text_only.df["text"].tolist() == ["x"]


def test_fieldmap_forbids_unknown_keys():
    with pytest.raises(ValidationError):
        FieldMap(text_feild="body")
    with pytest.raises(ValidationError):
        FieldMap(task="summarise")


def test_label_field_none_gives_an_unlabelled_pool(write):
    pool = load(write("p.jsonl", jsonl([{"text": "x", "label": "a"}])), fmap=FieldMap(label_field=None))
    assert pool.label_names is None and pool.df["label"].tolist() == [None]


def test_label_field_appearing_after_unlabelled_records_rejects_them(write, rejections, accounted):
    path = write("p.jsonl", jsonl([{"text": "first, no label"}, {"text": "second"},
                                   {"text": "x", "label": "b"},
                                   {"text": "y", "label": "a"}, {"text": "z"}]))
    pool = load(path)
    assert pool.df["label"].tolist() == ["b", "a"]
    assert pool.label_names == ["a", "b"]
    reason = "missing or empty label field `label`"
    assert rejections(pool) == [(1, reason), (2, reason), (5, reason)]
    accounted(pool, 5)
    with pytest.raises(InputError, match=r"p\.jsonl:1: missing or empty label field"):
        load(path, strict=True)


def test_label_vocabulary_sorting(write):
    recs = [{"text": t, "label": y} for t, y in (("a", 10), ("b", 2), ("c", "1"))]
    pool = load(write("p.jsonl", jsonl(recs)))
    assert pool.label_names == ["1", "2", "10"]
    assert pool.label_indices().tolist() == [2, 1, 0]
    pool = load(write("q.jsonl", jsonl([{"text": "a", "label": "b"}, {"text": "c", "label": "a"}])),
                known_labels=["b", "a", "c"])
    assert pool.label_names == ["b", "a", "c"]  # a test set keeps the pool's order


def test_unknown_label_against_known_labels(write, rejections, accounted):
    path = write("t.jsonl", jsonl([{"text": "a", "label": "x"}, {"text": "b", "label": "w"}, {"text": "c"}]))
    pool = load(path, known_labels=["x", "y"])
    assert rejections(pool) == [(2, "unknown label 'w': the pool's labels are ['x', 'y']"),
                                (3, "missing or empty label field `label`")]
    accounted(pool, 3)


def test_ids_from_a_named_id_field(write, rejections, accounted):
    path = write("p.jsonl", jsonl([{"uid": "u1", "id": "same", "text": "a"},
                                   {"uid": "u2", "id": "same", "text": "b"},
                                   {"uid": "u1", "text": "c"}, {"text": "d"}, {"uid": "", "text": "e"}]))
    pool = load(path, fmap=FieldMap(id_field="uid"))
    assert pool.df["id"].tolist() == ["u1", "u2"]
    assert rejections(pool) == [(3, "duplicate id 'u1' (first at line 1)"), (4, "missing field `uid`"),
                                (5, "empty field `uid`")]
    accounted(pool, 5)


def test_content_hash_ids(write):
    recs = [{"text": "dup", "label": "a"}, {"text": "dup", "label": "a"}, {"text": "dup", "label": "b"},
            {"text": "dup", "label": "a"}]
    ids = load(write("p.jsonl", jsonl(recs))).df["id"].tolist()
    h = content_hash(["dup", "a"])
    assert h == hashlib.sha1(json.dumps(["dup", "a"]).encode()).hexdigest()[:16]
    assert ids == [h, f"{h}~2", content_hash(["dup", "b"]), f"{h}~3"]
    assert load(write("again.jsonl", jsonl(recs))).df["id"].tolist() == ids
    pair = load(write("pair.jsonl", jsonl([{"left": "x", "right": "y"}, {"left": "x", "right": "y"}])))
    assert pair.df["id"].tolist() == [content_hash(["x", "y", None]), content_hash(["x", "y", None]) + "~2"]


def test_strict_raises_on_the_first_rejection_with_path_and_line(write):
    path = write("p.jsonl", jsonl([{"text": "ok", "label": "a"}, {"text": "", "label": "a"}, "{broken"]))
    with pytest.raises(InputError) as exc:
        load(path, strict=True)
    assert str(exc.value).startswith(f"{path}:2: empty field `text` — ")
    assert (exc.value.path, exc.value.line, exc.value.problem) == (str(path), 2, "empty field `text`")


def test_all_rejected_lists_the_common_reasons(write):
    path = write("p.jsonl", jsonl([{"text": ""}, {"text": " "}, {"text": None}, "[]"]))
    with pytest.raises(InputError) as exc:
        load(path, fmap=FieldMap(task="text"))
    msg = str(exc.value)
    assert "no usable records: all 4 were rejected" in msg
    assert "empty field `text` ×2" in msg and "missing field `text` ×1" in msg


def test_pool_from_records(rejections, accounted):
    pool = pool_from_records([{"text": "a", "label": "x"}, "not a dict", {"text": "", "label": "x"},
                              {"text": "b", "label": "y"}], name="mem")
    assert pool.df["text"].tolist() == ["a", "b"]
    assert pool.df["source_line"].tolist() == [1, 4]
    assert rejections(pool) == [(2, "expected a dict, got str"), (3, "empty field `text`")]
    assert set(pool.df["source_file"]) == {"mem"}
    accounted(pool, 4)
    df = pd.DataFrame({"text": ["p", "q"], "label": ["x", "y"]})
    assert pool_from_records(df).df["text"].tolist() == ["p", "q"]
    with pytest.raises(InputError, match="no usable records"):
        pool_from_records([{"text": ""}])
