"""CSV/TSV reading: a header row, rows that may span lines, and rejections that name the row's first line."""

from __future__ import annotations

import gzip

import pytest

from curata.errors import InputError
from curata.io.base import detect_format, open_reader
from curata.io.csv import CsvReader
from curata.io.fields import FieldMap, load_pool
from curata.io.writers import _csv_fields


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


def test_rows_keep_line_raw_and_header(write, accounted):
    path = write("pool.csv", 'id,text,label\nr1,Refund please,billing\nr2,"Late, again",shipping\n')
    pool = load(path)
    assert pool.df["id"].tolist() == ["r1", "r2"]
    assert pool.df["text"].tolist() == ["Refund please", "Late, again"]
    assert pool.df["source_line"].tolist() == [2, 3]
    assert pool.df["raw"].tolist() == ["r1,Refund please,billing", 'r2,"Late, again",shipping']
    assert (pool.header, pool.input_format) == ("id,text,label", "csv")
    accounted(pool, 2)


def test_ragged_rows_are_rejected(write, rejections, accounted):
    path = write("pool.csv", "text,label\nok,a\ntoo,many,fields\nlonely\nfine,b\n")
    pool = load(path)
    assert rejections(pool) == [(3, "ragged row: 3 fields, header has 2"),
                                (4, "ragged row: 1 fields, header has 2")]
    assert [r.raw for r in pool.rejected] == ["too,many,fields", "lonely"]
    assert pool.df["source_line"].tolist() == [2, 5]
    accounted(pool, 4)


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_quoted_field_spanning_lines_keeps_later_line_numbers(write, rejections, accounted, eol):
    lines = ["text,label", "first,a", '"two physical', 'lines, one field",b', "after,c", "rag,ged,row",
             "last,d"]
    path = write("pool.csv", eol.join(lines) + eol)
    pool = load(path)
    assert pool.df["text"].tolist() == ["first", f"two physical{eol}lines, one field", "after", "last"]
    assert pool.df["source_line"].tolist() == [2, 3, 5, 7]
    assert pool.df["raw"].iloc[1] == f'"two physical{eol}lines, one field",b'  # verbatim, both lines
    assert rejections(pool) == [(6, "ragged row: 3 fields, header has 2")]
    accounted(pool, 5)


def test_unterminated_quote_rejects_only_its_line(write, rejections, accounted):
    path = write("pool.csv", 'text,label\nok,a\n"never closed,b\nmore,c\n')
    pool = load(path)
    assert rejections(pool) == [(3, "unclosed quote in a field starting on this line (the file ends inside it); "
                                    "the lines after it are read as rows of their own")]
    assert pool.rejected[0].raw == '"never closed,b'
    assert pool.df["text"].tolist() == ["ok", "more"]
    assert pool.df["source_line"].tolist() == [2, 4]
    accounted(pool, 3)


def test_undecodable_bytes_reject_only_their_row(write, rejections, accounted):
    path = write("pool.csv", b"text,label\nok,a\ncaf\xe9 au lait,b\n\"multi\nline \xff\",c\nfine,d\n")
    pool = load(path)
    assert rejections(pool) == [
        (3, "undecodable bytes (utf-8); re-save the file as UTF-8 or pass --encoding"),
        (4, "undecodable bytes (utf-8); re-save the file as UTF-8 or pass --encoding"),
    ]
    assert [r.raw for r in pool.rejected] == ["caf\\xe9 au lait,b", '"multi\nline \\xff",c']
    assert pool.df["source_line"].tolist() == [2, 6]
    accounted(pool, 4)
    as_latin1 = load(path, encoding="latin-1")
    assert as_latin1.df["text"].tolist() == ["ok", "café au lait", "multi\nline ÿ", "fine"]


def test_header_problems_are_errors(write):
    with pytest.raises(InputError, match=r"bad\.csv:1: header row has undecodable bytes"):
        load(write("bad.csv", b"t\xffext,label\nx,a\n"))
    with pytest.raises(InputError, match=r"dup\.csv:1: duplicate column names in header"):
        load(write("dup.csv", "text,text\nx,y\n"))


def test_missing_values_and_unknown_labels(write, rejections, accounted):
    path = write("test.csv", 'text,label\nok,a\n,a\n"  ",a\nno label,\nnew label,zzz\n')
    pool = load(path, known_labels=["a", "b"])
    assert rejections(pool) == [(3, "empty field `text`"), (4, "empty field `text`"),
                                (5, "missing or empty label field `label`"),
                                (6, "unknown label 'zzz': the pool's labels are ['a', 'b']")]
    accounted(pool, 5)


def test_text_column_under_another_name(write):
    path = write("pool.csv", "body,label\nx,a\n")
    with pytest.raises(InputError, match=r"cannot find a text field: the first record has fields \['body', "):
        load(path)
    assert load(path, fmap=FieldMap(text_field="body")).df["text"].tolist() == ["x"]


def test_blank_lines_are_not_records(write, accounted):
    path = write("pool.csv", "\n\ntext,label\n\nx,a\n\n\ny,b\n\n")
    pool = load(path)
    assert pool.df["source_line"].tolist() == [5, 8]
    assert pool.header == "text,label"
    accounted(pool, 2)


def test_tsv(write, rejections, accounted):
    path = write("pool.tsv", "text\tlabel\nhello, world\ta\nthree\tfields\there\nplain\tc\n")
    assert detect_format(path) == "tsv"
    pool = load(path)
    assert pool.df["text"].tolist() == ["hello, world", "plain"]
    assert pool.df["raw"].tolist() == ["hello, world\ta", "plain\tc"]
    assert (pool.input_format, pool.header) == ("tsv", "text\tlabel")
    assert rejections(pool) == [(3, "ragged row: 3 fields, header has 2")]
    accounted(pool, 3)
    row = next(pool.df.itertuples())
    assert _csv_fields(pool, row) == {"text": "hello, world", "label": "a"}  # what selected.jsonl gets


def test_gzipped_csv(tmp_path, accounted):
    path = tmp_path / "pool.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write('text,label\nx,a\n"y\nz",b\nragged\n')
    assert detect_format(path) == "csv"
    pool = load(path)
    assert pool.df["text"].tolist() == ["x", "y\nz"]
    assert [(r.line, r.raw) for r in pool.rejected] == [(5, "ragged")]
    accounted(pool, 3)


def test_byte_order_mark_is_not_part_of_the_first_column(write):
    pool = load(write("excel.csv", b"\xef\xbb\xbftext,label\r\nx,a\r\n"))
    assert pool.df["text"].tolist() == ["x"]
    assert pool.header == "text,label"


def test_headerless_file_with_given_columns(write):
    path = write("pool.csv", "x,a\ny,b\n")
    reader = open_reader(path, columns=["text", "label"])
    assert isinstance(reader, CsvReader)
    pool = load(path, columns=["text", "label"])
    assert pool.df["text"].tolist() == ["x", "y"]
    assert pool.df["source_line"].tolist() == [1, 2]
    assert pool.header is None


def test_header_only_and_all_rejected(write):
    with pytest.raises(InputError, match="the file holds no records"):
        load(write("empty.csv", "text,label\n"))
    with pytest.raises(InputError, match="the file holds no records"):
        load(write("nothing.csv", ""))
    with pytest.raises(InputError, match=r"no usable records: all 2 were rejected .*ragged row"):
        load(write("rag.csv", "text,label\na\nb\n"))


def test_strict_names_the_row(write):
    path = write("pool.csv", 'text,label\nok,a\n"spans\ntwo",b\nbad,row,here\n')
    with pytest.raises(InputError) as exc:
        load(path, strict=True)
    assert str(exc.value).startswith(f"{path}:5: ragged row: 3 fields, header has 2")


UNCLOSED_AT_EOF = ("unclosed quote in a field starting on this line (the file ends inside it); the lines after it "
                   "are read as rows of their own")


def test_unclosed_quote_in_row_3_of_20_rejects_only_that_row(write, rejections, accounted):
    rows = [f"row {i},{i % 2}" for i in range(1, 21)]
    rows[2] = '"abc,1'
    path = write("pool.csv", "text,label\n" + "\n".join(rows) + "\n")
    pool = load(path)
    assert rejections(pool) == [(4, UNCLOSED_AT_EOF)]
    assert pool.rejected[0].raw == '"abc,1'
    assert len(pool) == 19
    assert pool.df["source_line"].tolist() == [2, 3] + list(range(5, 22))
    assert pool.df["text"].tolist()[2:4] == ["row 4", "row 5"]
    accounted(pool, 20)


def test_unclosed_quote_closed_by_a_later_quote_is_split_back_into_rows(write, rejections, accounted):
    rows = ["text,label", "one,a", '"abc,b', "three,c", '"four, quoted",d', "five,e",
            '"six\nspans lines",f', "seven,g"]
    pool = load(write("pool.csv", "\n".join(rows) + "\n"))
    got = rejections(pool)
    assert [line for line, _ in got] == [3]
    assert got[0][1] == ("unclosed quote in a field starting on this line (closing it on line 5 would give 3 "
                         "fields, header has 2); the lines after it are read as rows of their own")
    assert pool.df["text"].tolist() == ["one", "three", "four, quoted", "five", "six\nspans lines", "seven"]
    assert pool.df["source_line"].tolist() == [2, 4, 5, 6, 7, 9]
    accounted(pool, 7)


def test_unclosed_quote_on_the_last_line_and_in_the_header(write, rejections):
    pool = load(write("last.csv", 'text,label\nok,a\nlast,"b'))
    assert rejections(pool) == [(3, "unclosed quote in a field starting on this line (the file ends inside it)")]
    assert pool.rejected[0].raw == 'last,"b'
    with pytest.raises(InputError, match=r"head\.csv:1: unclosed quote in the header row"):
        load(write("head.csv", '"text,label\nx,a\n'))


def test_unclosed_quote_with_strict_names_its_line(write):
    path = write("pool.csv", 'text,label\nok,a\n"abc,b\nmore,c\n')
    with pytest.raises(InputError, match=r"pool\.csv:3: unclosed quote in a field starting on this line"):
        load(path, strict=True)


def test_a_row_open_for_too_many_lines_is_an_unclosed_quote(write, rejections, accounted, monkeypatch):
    import curata.io.csv as csv_module

    monkeypatch.setattr(csv_module, "MAX_ROW_LINES", 3)
    lines = ["text,label", '"ok\nstill ok",a', '"abc,b'] + [f"r{i},c" for i in range(5)] + ['"x"",y",d']
    pool = load(write("pool.csv", "\n".join(lines) + "\n"))
    assert rejections(pool) == [(4, "unclosed quote in a field starting on this line (still open after 3 lines); "
                                    "the lines after it are read as rows of their own")]
    assert pool.df["text"].tolist() == ["ok\nstill ok", "r0", "r1", "r2", "r3", "r4", 'x",y']
    accounted(pool, 8)
    with pytest.raises(InputError, match=r"head\.csv:1: unclosed quote in the header row \(still open after 3"):
        load(write("head.csv", '"text\nlabel\nx\ny\nz\n'))
