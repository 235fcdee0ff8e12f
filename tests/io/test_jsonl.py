"""JSONL reading: each line is accepted, or rejected with its file, line and a reason saying what is wrong."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from curata.errors import InputError
from curata.io.base import RawRecord, detect_format, open_reader
from curata.io.fields import FieldMap, load_pool
from curata.io.jsonl import JsonlReader
from curata.pool import Rejection

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-tickets"


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def test_records_keep_file_line_and_verbatim_raw(write, accounted):
    lines = ['{"id": "a", "text": "Refund my  order", "label": "billing"}',
             '{"label":"shipping","text":"Où est mon colis ?","id":"b"}']
    path = write("pool.jsonl", "\n".join(lines) + "\n")
    pool = load(path)
    assert pool.df["id"].tolist() == ["a", "b"]
    assert pool.df["text"].tolist() == ["Refund my  order", "Où est mon colis ?"]
    assert pool.df["label"].tolist() == ["billing", "shipping"]
    assert pool.df["source_line"].tolist() == [1, 2]
    assert set(pool.df["source_file"]) == {str(path)}
    assert pool.df["raw"].tolist() == lines
    assert (pool.task, pool.input_format, pool.label_names) == ("text", "jsonl", ["billing", "shipping"])
    accounted(pool, 2)


def test_each_bad_line_is_rejected_with_line_and_reason(write, rejections, accounted):
    content = b"\n".join([
        b'{"text": "fine one", "label": "a"}',                     # 1
        b'{"text": "no closing brace", "label": "a"',              # 2 malformed
        b'',                                                       # 3 blank: not a record
        b'["a list", "a"]',                                        # 4 not an object
        b'42',                                                     # 5 not an object
        b'"just a string"',                                        # 6 not an object
        b'{"text": "caf\xe9 latin-1", "label": "a"}',              # 7 undecodable
        b'   ',                                                    # 8 whitespace only: not a record
        b'{"text": "fine two", "label": "b"}',                     # 9
        b'{"text": "trailing comma",}',                            # 10 malformed
    ]) + b"\n"
    path = write("pool.jsonl", content)
    pool = load(path)
    assert pool.df["text"].tolist() == ["fine one", "fine two"]
    assert pool.df["source_line"].tolist() == [1, 9]
    got = rejections(pool)
    assert [line for line, _ in got] == [2, 4, 5, 6, 7, 10]
    reasons = dict(got)
    assert reasons[2].startswith("malformed JSON: Expecting ',' delimiter at column")
    assert reasons[4] == "expected a JSON object, got list"
    assert reasons[5] == "expected a JSON object, got int"
    assert reasons[6] == "expected a JSON object, got str"
    assert reasons[7].startswith("undecodable bytes (utf-8): byte 0xe9 at column 14")
    assert "re-save the file as UTF-8" in reasons[7]
    assert reasons[10].startswith("malformed JSON: Expecting property name enclosed in double quotes")
    assert all(r.file == str(path) for r in pool.rejected)
    raw = {r.line: r.raw for r in pool.rejected}
    assert raw[2] == '{"text": "no closing brace", "label": "a"'
    assert raw[7] == '{"text": "caf\\xe9 latin-1", "label": "a"}'
    accounted(pool, 8)  # 10 lines, two of them blank


def test_undecodable_bytes_are_read_with_the_right_encoding(write):
    content = '{"text": "plain", "label": "a"}\n{"text": "café", "label": "a"}\n'
    path = write("latin.jsonl", content.encode("latin-1"))
    assert load(path).rejected[0].reason.startswith("undecodable bytes (utf-8): byte 0xe9")
    assert load(path, encoding="latin-1").df["text"].tolist() == ["plain", "café"]


def test_missing_and_empty_fields(write, rejections, accounted):
    lines = [
        {"text": "ok", "label": "a"},          # 1
        {"label": "a"},                        # 2 no text
        {"text": "", "label": "a"},            # 3 empty text
        {"text": "   \t", "label": "a"},       # 4 blank text
        {"text": None, "label": "a"},          # 5 null text
        {"text": ["a", "list"], "label": "a"},  # 6 wrong type
        {"text": "no label"},                  # 7
        {"text": "empty label", "label": " "},  # 8
        {"text": "null label", "label": None},  # 9
        {"text": 42, "label": 1},              # 10 numbers become strings
        {"text": "float label", "label": 2.0},  # 11
    ]
    path = write("pool.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    pool = load(path)
    assert rejections(pool) == [
        (2, "missing field `text`"), (3, "empty field `text`"), (4, "empty field `text`"),
        (5, "missing field `text`"), (6, "field `text` is a list, expected a string"),
        (7, "missing or empty label field `label`"), (8, "missing or empty label field `label`"),
        (9, "missing or empty label field `label`"),
    ]
    assert pool.df["text"].tolist() == ["ok", "42", "float label"]
    assert pool.df["label"].tolist() == ["a", "1", "2"]
    assert pool.label_names == ["1", "2", "a"]
    accounted(pool, 11)


def test_unknown_label_in_a_test_set(write, rejections, accounted):
    path = write("test.jsonl", '{"text": "x", "label": "billing"}\n{"text": "y", "label": "refunds"}\n'
                               '{"text": "z", "label": "account"}\n')
    pool = load(path, known_labels=["account", "billing"])
    assert rejections(pool) == [(2, "unknown label 'refunds': the pool's labels are ['account', 'billing']")]
    assert pool.label_names == ["account", "billing"]
    assert pool.df["label"].tolist() == ["billing", "account"]
    accounted(pool, 3)


def test_duplicate_ids_from_the_id_field(write, rejections, accounted):
    path = write("pool.jsonl", '{"id": "t1", "text": "a", "label": "x"}\n'
                               '{"id": "t2", "text": "b", "label": "x"}\n'
                               '{"id": "t1", "text": "c", "label": "x"}\n'
                               '{"id": 7, "text": "d", "label": "x"}\n'
                               '{"id": "7", "text": "e", "label": "x"}\n')
    pool = load(path)
    assert pool.df["id"].tolist() == ["t1", "t2", "7"]
    assert rejections(pool) == [(3, "duplicate id 't1' (first at line 1)"),
                                (5, "duplicate id '7' (first at line 4)")]
    accounted(pool, 5)


def test_content_hash_ids_are_stable_and_exact_duplicates_get_a_suffix(write, tmp_path):
    rows = ['{"text": "same words", "label": "a"}', '{"text": "other", "label": "a"}',
            '{"text": "same words", "label": "a"}', '{"text": "same words", "label": "b"}',
            '{"text": "same words", "label": "a"}']
    path = write("pool.jsonl", "\n".join(rows) + "\n")
    ids = load(path).df["id"].tolist()
    h = hashlib.sha1(json.dumps(["same words", "a"]).encode()).hexdigest()[:16]
    assert ids[0] == h and ids[2] == f"{h}~2" and ids[4] == f"{h}~3"
    assert len(set(ids)) == 5 and "~" not in ids[3] and ids[3] != h
    assert load(path).df["id"].tolist() == ids  # a second run gives the same ids
    moved = write("elsewhere.jsonl", "\n" + rows[1] + "\n" + rows[0] + "\n")
    assert load(moved).df["id"].tolist() == [ids[1], ids[0]]  # ids follow content, not position or file


def test_strict_turns_the_first_rejection_into_an_error(write):
    path = write("pool.jsonl", '{"text": "ok", "label": "a"}\n{"text": "ok2", "label": "a"}\n{"text": "x",\n'
                               '[1]\n')
    with pytest.raises(InputError) as exc:
        load(path, strict=True)
    assert f"{path}:3: malformed JSON" in str(exc.value)
    assert "without --strict" in str(exc.value)
    assert exc.value.line == 3 and exc.value.path == str(path)


def test_empty_file_and_all_rejected_are_errors(write):
    for name, content in (("empty.jsonl", ""), ("blank.jsonl", "\n\n  \n")):
        with pytest.raises(InputError, match="the file holds no records"):
            load(write(name, content))
    bad = write("bad.jsonl", '[1]\n[2]\n{"text": ""}\n')
    with pytest.raises(InputError) as exc:
        load(bad)
    msg = str(exc.value)
    assert msg.startswith(f"{bad}: no usable records: all 3 were rejected")
    assert "expected a JSON object, got list ×2" in msg


def test_gzipped_jsonl_reads_like_the_plain_file(write, tmp_path, rejections, accounted):
    text = '{"text": "one", "label": "a"}\nnot json\n{"text": "two", "label": "b"}\n'
    plain = write("pool.jsonl", text)
    gz = tmp_path / "pool.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(text)
    assert detect_format(gz) == "jsonl"
    a, b = load(plain), load(gz)
    cols = ["id", "text", "label", "source_line", "raw"]
    assert a.df[cols].equals(b.df[cols])
    assert rejections(b) == [(2, "malformed JSON: Expecting value at column 1")]
    accounted(b, 3)


def test_a_gz_name_on_a_plain_file_is_an_input_error(write):
    path = write("pool.jsonl.gz", '{"text": "one", "label": "a"}\n')
    with pytest.raises(InputError, match=r"pool\.jsonl\.gz:1: cannot read the file"):
        load(path)


def test_byte_order_mark_and_crlf(write, accounted):
    path = write("bom.jsonl", b'\xef\xbb\xbf{"text": "first", "label": "a"}\r\n'
                              b'{"text": "second", "label": "b"}\r\n')
    pool = load(path)
    assert pool.df["text"].tolist() == ["first", "second"]
    assert pool.df["raw"].tolist() == ['{"text": "first", "label": "a"}', '{"text": "second", "label": "b"}']
    accounted(pool, 2)


def test_reader_batches_and_missing_file(write, tmp_path):
    path = write("pool.jsonl", "".join(f'{{"text": "r{i}"}}\n' for i in range(5)) + "[]\n")
    reader = open_reader(path, batch_size=2)
    assert isinstance(reader, JsonlReader) and reader.format == "jsonl"
    batches = list(reader.iter_batches())
    assert [len(b) for b in batches] == [2, 2, 2]
    items = [x for b in batches for x in b]
    assert [type(x) for x in items] == [RawRecord] * 5 + [Rejection]
    assert [x.line for x in items] == [1, 2, 3, 4, 5, 6]
    assert items[0].fields == {"text": "r0"}
    with pytest.raises(InputError, match="file not found"):
        open_reader(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("name", ["a.jsonl", "a.ndjson", "a.json", "A.JSONL", "a.jsonl.gz", "a.ndjson.gz"])
def test_jsonl_names_are_detected(name):
    assert detect_format(name) == "jsonl"


def test_unknown_extension_is_an_input_error():
    with pytest.raises(InputError, match="cannot tell the file format"):
        detect_format("data.txt")


def test_shipped_example_pool_rejects_exactly_the_planted_bad_lines(accounted):
    pool = load(EXAMPLE / "pool.jsonl", fmap=FieldMap(task="text"))
    truth = [json.loads(line) for line in (EXAMPLE / "pool_truth.jsonl").read_text().splitlines()]
    bad = {t["line"]: t["rejected_because"] for t in truth if "rejected_because" in t}
    assert [r.line for r in pool.rejected] == sorted(bad) == [57, 143, 288, 401, 530]
    for r in pool.rejected:
        assert r.reason.startswith(bad[r.line])
    n_lines = len((EXAMPLE / "pool.jsonl").read_bytes().splitlines())
    accounted(pool, n_lines)
    assert len(pool) == 600 and pool.label_names == ["account", "billing", "shipping", "technical"]
    planted = {t["id"] for t in truth if "rejected_because" not in t}
    assert len(planted) == 126 and planted <= set(pool.df["id"])
    test = load(EXAMPLE / "test.jsonl", known_labels=pool.label_names)
    target = load(EXAMPLE / "target.jsonl")
    assert (len(test), len(test.rejected), len(target)) == (300, 0, 40)
    assert set(target.df["label"]) == {"technical", "account"}
    pool_texts = set(pool.df["text"])
    assert not set(test.df["text"]) & pool_texts and not set(target.df["text"]) & pool_texts


def test_lone_surrogate_escape_is_rejected_with_its_position(tmp_path):
    """JSON may escape half a UTF-16 pair (\\udce9); such text is not valid Unicode and is rejected, not crashed on."""
    from curata.io.fields import load_pool

    path = tmp_path / "s.jsonl"
    path.write_text('{"text": "ok \\udce9 bad", "label": "a"}\n{"text": "fine", "label": "b"}\n')
    pool = load_pool(path, progress=False)
    assert len(pool) == 1 and len(pool.rejected) == 1
    rej = pool.rejected[0]
    assert rej.line == 1 and "lone surrogate \\udce9 at character 4" in rej.reason
