"""JSON array files (Alpaca style): each element is a record with the line it starts on; a wrapping object or
malformed JSON is a clear InputError; selected.jsonl gets one compact line per element."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curata.engine.run_dir import RunDir
from curata.errors import InputError
from curata.io.base import detect_format, open_reader
from curata.io.fields import load_pool
from curata.io.json_array import JsonArrayReader
from curata.io.jsonl import JsonlReader
from curata.io.writers import write_outputs

ALPACA = """[
  {
    "instruction": "Give three tips for staying healthy.",
    "input": "",
    "output": "1. Eat well.\\n2. Move.\\n3. Sleep."
  },
  {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
  "a string",
  {
    "instruction": "Translate to French.",
    "input": "cheese",
    "output": "fromage"
  }
]
"""


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def test_alpaca_array_elements_are_records_at_their_first_line(write, rejections, accounted):
    path = write("alpaca.json", ALPACA)
    assert detect_format(path) == "json"
    assert isinstance(open_reader(path), JsonArrayReader)
    pool = load(path)
    assert (pool.task, pool.input_format) == ("instruction", "json")
    assert pool.df["source_line"].tolist() == [2, 7, 9]
    assert pool.df["output"].tolist() == ["1. Eat well.\n2. Move.\n3. Sleep.", "5", "fromage"]
    assert pool.df["raw"].iloc[2] == ('{\n    "instruction": "Translate to French.",\n    "input": "cheese",\n'
                                      '    "output": "fromage"\n  }')  # the element's text, verbatim
    assert rejections(pool) == [(8, "expected a JSON object, got str")]
    assert pool.rejected[0].raw == '"a string"'
    accounted(pool, 4)


def test_selected_jsonl_has_one_compact_line_per_element(write, tmp_path):
    pool = load(write("alpaca.json", ALPACA))
    run = RunDir(tmp_path / "run")
    select_cols = pd.DataFrame({"selected": [True, False, True]})
    write_outputs(run, pool, select_cols, pd.DataFrame({"x": [1]}))
    lines = (tmp_path / "run" / "selected.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {"instruction": "Give three tips for staying healthy.", "input": "",
                                    "output": "1. Eat well.\n2. Move.\n3. Sleep."}
    assert lines[1] == '{"instruction": "Translate to French.", "input": "cheese", "output": "fromage"}'


def test_one_line_array_bom_and_empty_array(write):
    pool = load(write("one.json", b'\xef\xbb\xbf[{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]'))
    assert pool.df["source_line"].tolist() == [1, 1] and pool.df["raw"].iloc[1] == '{"text": "b", "label": "y"}'
    with pytest.raises(InputError, match="no records"):
        load(write("empty.json", " [ \n ] \n"))


def test_a_json_file_that_is_really_jsonl_keeps_working(write, accounted):
    path = write("lines.json", '{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\nbroken\n')
    assert detect_format(path) == "jsonl" and isinstance(open_reader(path), JsonlReader)
    pool = load(path)
    assert pool.df["source_line"].tolist() == [1, 2] and pool.input_format == "jsonl"
    accounted(pool, 3)
    single = write("single.json", '{"text": "only one", "tags": ["a", "b"]}\n')
    assert load(single).df["text"].tolist() == ["only one"]


@pytest.mark.parametrize("content", [
    '{\n  "version": 2,\n  "data": [\n    {"text": "a"},\n    {"text": "b"}\n  ]\n}\n',
    '{"version": 2, "data": [{"text": "a"}, {"text": "b"}]}\n',
])
def test_top_level_object_names_the_key_holding_the_list(write, content):
    path = write("wrapped.json", content)
    with pytest.raises(InputError) as exc:
        load(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: holds one JSON object, not a list of records (`data` holds a list of 2)")
    assert "jq '.data' FILE > records.json" in msg and "\n" not in msg


def test_top_level_object_without_a_list_and_nested_lists(write):
    with pytest.raises(InputError, match=r"holds a single JSON object \(keys \['text', 'label'\]\), not a list"):
        load(write("one.json", '{\n  "text": "a",\n  "label": "b"\n}\n'))
    with pytest.raises(InputError, match=r"`splits\.train` holds a list of 1; `splits\.test` holds a list of 0"):
        load(write("nested.json", '{\n "splits": {"train": [{"text": "a"}], "test": []}\n}\n'))


def test_malformed_json_is_an_input_error_with_line_and_column(write):
    bad = '[\n  {"text": "a"},\n  {"text": "b",}\n]\n'
    with pytest.raises(InputError, match=r"bad\.json:3: malformed JSON: Expecting property name enclosed in "
                                         r"double quotes at column 16"):
        load(write("bad.json", bad))
    with pytest.raises(InputError, match=r"comma\.json:2: expected `,` or `]` between elements, found '\{' at "
                                         r"column 17"):
        load(write("comma.json", '[\n  {"text": "a"} {"text": "b"}\n]'))
    with pytest.raises(InputError, match=r"open\.json:3: the file ends inside the array"):
        load(write("open.json", '[\n  {"text": "a"},\n'))
    with pytest.raises(InputError, match=r"trail\.json:2: trailing comma before `\]`"):
        load(write("trail.json", '[{"text": "a"},\n]'))
    with pytest.raises(InputError, match=r"after\.json:2: unexpected text after the closing `\]`"):
        load(write("after.json", '[{"text": "a"}]\n[{"text": "b"}]\n'))


def test_non_objects_and_undecodable_elements_are_rejected_with_their_line(write, rejections, accounted):
    path = write("mixed.json", b'[\n {"text": "ok"},\n 42,\n null,\n ["x"],\n {"text": "caf\xe9"}\n]\n')
    pool = load(path)
    assert rejections(pool) == [(3, "expected a JSON object, got int"), (4, "expected a JSON object, got NoneType"),
                                (5, "expected a JSON object, got list"),
                                (6, "undecodable bytes (utf-8); re-save the file as UTF-8 or pass --encoding")]
    assert pool.rejected[-1].raw == '{"text": "caf\\xe9"}'
    accounted(pool, 5)
    assert load(path, encoding="latin-1").df["text"].tolist() == ["ok", "café"]


def test_explicit_json_format_on_something_else(write):
    with pytest.raises(InputError, match=r"x\.txt:1: expected a JSON array `\[`, found 'h' at column 1"):
        load(write("x.txt", "hello"), fmt="json")
