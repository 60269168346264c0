"""Reading users' files: real bytes in, real values or a DataError naming the problem out."""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnstudio.data import read as read_module
from rnnstudio.data.read import read_table, read_text, sniff
from rnnstudio.errors import DataError


def _error(data: bytes, name: str = "data.csv", **limits) -> DataError:
    """The DataError reading these bytes raises (fails the test if it reads fine)."""
    with pytest.raises(DataError) as caught:
        read_table(data, name=name, **limits)
    return caught.value


def _values(frame: pd.DataFrame) -> dict[str, list]:
    """A frame's columns as plain lists, to compare with exact values."""
    return {column: frame[column].tolist() for column in frame.columns}


@pytest.fixture
def no_pandas(monkeypatch):
    """Fail if pandas is asked to parse: the check under test must come before parsing."""

    def refuse(*args, **kwargs):
        raise AssertionError("pandas.read_csv was called")

    monkeypatch.setattr(read_module.pd, "read_csv", refuse)


# -- encodings -----------------------------------------------------------------


def test_utf8():
    frame = read_table("name,score\ncafé,1.5\nnaïve,2\n".encode(), name="scores.csv")
    assert _values(frame) == {"name": ["café", "naïve"], "score": [1.5, 2.0]}


def test_utf8_with_bom_strips_it_from_the_first_column_name():
    frame = read_table(codecs.BOM_UTF8 + b"id,name\n1,a\n", name="bom.csv")
    assert list(frame.columns) == ["id", "name"]
    assert _values(frame) == {"id": [1], "name": ["a"]}
    assert sniff(codecs.BOM_UTF8 + b"id,name\n1,a\n", name="bom.csv")["encoding"] == "utf-8-sig"


def test_utf16_le_with_bom():
    data = codecs.BOM_UTF16_LE + "text,label\nhéllo wörld,1\n".encode("utf-16-le")
    frame = read_table(data, name="wide.csv")
    assert _values(frame) == {"text": ["héllo wörld"], "label": [1]}


def test_utf16_be_with_bom():
    data = codecs.BOM_UTF16_BE + "a,b\nx,2\n".encode("utf-16-be")
    assert _values(read_table(data, name="be.csv")) == {"a": ["x"], "b": [2]}


def test_utf16_le_without_bom_is_detected_by_its_nul_pattern():
    data = "text,label\nhello,1\nworld,0\n".encode("utf-16-le")
    frame = read_table(data, name="nobom.csv")
    assert _values(frame) == {"text": ["hello", "world"], "label": [1, 0]}
    assert sniff(data, name="nobom.csv")["encoding"] == "utf-16-le"


def test_utf16_cut_in_the_middle_of_a_character():
    data = codecs.BOM_UTF16_LE + "a,b\n1,2\n".encode("utf-16-le") + b"x"
    error = _error(data, name="cut.csv")
    assert "not valid utf-16-le" in str(error) and "UTF-8" in error.fix


def test_cp1252_with_semicolons_and_decimal_comma():
    data = "name;value\ncafé;1,5\nthé;2,25\n".encode("cp1252")
    frame = read_table(data, name="legacy.csv")
    assert _values(frame) == {"name": ["café", "thé"], "value": [1.5, 2.25]}
    assert sniff(data, name="legacy.csv")["encoding"] == "cp1252"


def test_cyrillic_cp1251_is_not_read_as_cp1252():
    text = "имя,отзыв\nИван,Отличный товар\nМария,\"Плохое качество, не рекомендую\"\n"
    frame = read_table(text.encode("cp1251"), name="ru.csv")
    assert _values(frame) == {
        "имя": ["Иван", "Мария"],
        "отзыв": ["Отличный товар", "Плохое качество, не рекомендую"],
    }


def test_utf8_file_with_one_bad_byte_names_the_line():
    data = "a,b\ncafé,1\nthé,2\n".encode() + b"bad\xff,3\n"
    error = _error(data, name="mixed.csv")
    assert "line 4" in str(error) and "UTF-8" in str(error) and "mixed.csv" in str(error)
    assert error.row == 4


# -- delimiters, decimals, line endings, quoting -------------------------------


def test_semicolon_with_decimal_commas_gives_floats():
    frame = read_table(b"a;b\n1,5;2,25\n-3,0;4\n", name="de.csv")
    assert _values(frame) == {"a": [1.5, -3.0], "b": [2.25, 4.0]}
    assert sniff(b"a;b\n1,5;2,25\n-3,0;4\n", name="de.csv")["decimal"] == ","


def test_semicolon_with_decimal_points_keeps_points():
    frame = read_table(b"a;b\n1.5;x, y\n2.5;z\n", name="points.csv")
    assert _values(frame) == {"a": [1.5, 2.5], "b": ["x, y", "z"]}


def test_tab_delimited_csv():
    assert _values(read_table(b"a\tb\n1\t2\n3\t4\n", name="tabs.csv")) == {"a": [1, 3], "b": [2, 4]}


def test_tsv_extension_means_tab_even_with_commas_in_values():
    frame = read_table(b"text\tlabel\nhello, world\tpos\nbye, then, ok\tneg\n", name="reviews.tsv")
    assert _values(frame) == {"text": ["hello, world", "bye, then, ok"], "label": ["pos", "neg"]}


def test_pipe_delimited():
    frame = read_table(b"a|b\nx|1\ny|2\n", name="pipes.csv")
    assert _values(frame) == {"a": ["x", "y"], "b": [1, 2]}


def test_comma_file_with_semicolons_in_text():
    frame = read_table(b"id,text\n1,a;b\n2,c;d\n", name="c.csv")
    assert _values(frame) == {"id": [1, 2], "text": ["a;b", "c;d"]}


def test_cr_only_line_endings():
    assert _values(read_table(b"a,b\r1,2\r3,4\r", name="mac.csv")) == {"a": [1, 3], "b": [2, 4]}


def test_crlf_line_endings():
    frame = read_table(b"a,b\r\n1,x\r\n3,y\r\n", name="win.csv")
    assert _values(frame) == {"a": [1, 3], "b": ["x", "y"]}


def test_quoted_fields_with_commas_newlines_and_quotes():
    data = b'text,label\n"hello, world",1\n"line one\nline two",0\n"say ""hi""",1\n'
    frame = read_table(data, name="quoted.csv")
    assert _values(frame) == {
        "text": ["hello, world", "line one\nline two", 'say "hi"'],
        "label": [1, 0, 1],
    }


def test_numbers_with_stray_spaces_still_parse():
    frame = read_table(b"a,b\n 1.5 , 2 \n3,4\n", name="spaces.csv")
    assert _values(frame) == {"a": [1.5, 3.0], "b": [2, 4]}
    assert frame["a"].dtype == np.float64 and frame["b"].dtype == np.int64


def test_mixed_column_is_not_coerced():
    frame = read_table(b"a,b\n1,2\nx,3\n", name="mixed.csv")
    assert _values(frame) == {"a": ["1", "x"], "b": [2, 3]}


def test_blank_lines_between_rows_are_skipped():
    frame = read_table(b"\na,b\n1,2\n\n   \n3,4\n\n", name="gaps.csv")
    assert _values(frame) == {"a": [1, 3], "b": [2, 4]}


def test_path_source(tmp_path: Path):
    path = tmp_path / "on_disk.csv"
    path.write_bytes(b"a,b\n1,2\n")
    assert _values(read_table(path)) == {"a": [1], "b": [2]}
    assert _values(read_table(str(path))) == {"a": [1], "b": [2]}


# -- empty and ragged files ----------------------------------------------------


def test_zero_bytes_is_empty():
    error = _error(b"", name="nothing.csv")
    assert "empty" in str(error) and "nothing.csv" in str(error)


def test_header_only():
    error = _error(b"a,b,c\n", name="head.csv")
    assert "has a header but no rows" in str(error) and "head.csv" in str(error)


def test_blank_lines_only_is_empty():
    error = _error(b"\n\n   \r\n\t\n", name="blank.csv")
    assert "empty" in str(error) and "blank lines" in str(error)


def test_row_with_more_fields_names_lines_and_counts():
    error = _error(b"a,b\n1,2\n3,4,5\n6,7\n8,9,10,11\n", name="ragged.csv")
    text = str(error)
    assert "ragged.csv" in text
    assert "line 3 has 3 fields" in text and "line 5 has 4 fields" in text
    assert "2 fields of the header on line 1" in text
    assert "quotes" in error.fix and "comma" in error.fix
    assert error.row == 3


def test_row_with_fewer_fields_names_lines():
    error = _error(b"a,b,c\n1,2,3\n4,5\n6,7,8\n9\n", name="short.csv")
    text = str(error)
    assert "line 3 has 2 fields" in text and "line 5 has 1 field" in text
    assert "3 fields of the header" in text and "missing values" in error.fix


def test_ragged_line_numbers_count_lines_inside_quoted_values():
    error = _error(b'a,b\n"x\ny",1\n1,2,3\n', name="multi.csv")
    assert "line 4 has 3 fields" in str(error)


def test_many_ragged_rows_are_summarised():
    text = str(_error(b"a,b\n" + b"1,2,3\n" * 12))
    assert "12 rows do not" in text and "line 13 has 3 fields" not in text and "and 7 more" in text


def test_unclosed_quote_names_its_line():
    error = _error(b'a,b\n1,2\n"oops,3\n4,5\n', name="quote.csv")
    assert "line 3" in str(error) and "never closed" in str(error)


def test_text_after_closing_quote_names_its_line():
    error = _error(b'a,b\n"5" screen",1\n', name="quote.csv")
    assert "line 2" in str(error) and '""' in error.fix


# -- binary files --------------------------------------------------------------


def test_png_renamed_csv():
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    error = _error(data, name="photo.csv")
    assert "looks like a PNG image, not a CSV file" in str(error) and "photo.csv" in str(error)


def test_elf_program():
    assert "ELF" in str(_error(b"\x7fELF\x02\x01\x01" + b"\x00" * 64, name="prog.csv"))


def test_pdf_document():
    assert "PDF document" in str(_error(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", name="doc.csv"))


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
        (b"GIF89a\x01\x00\x01\x00", "GIF image"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "Office file"),
        (gzip.compress(b"a,b\n1,2\n"), "gzip-compressed"),
    ],
)
def test_other_binary_signatures(data: bytes, what: str):
    assert what in str(_error(data, name="renamed.csv"))


def test_nul_bytes_in_text():
    error = _error(b"a,b\n1,2\n3,\x004\n", name="nul.csv")
    assert "NUL" in str(error) and "line 3" in str(error)


def test_control_characters_look_binary():
    assert "binary" in str(_error(bytes(range(1, 32)) * 20, name="ctrl.csv"))


# -- compression ---------------------------------------------------------------


def test_gzip_csv():
    frame = read_table(gzip.compress(b"a,b\n1,x\n"), name="data.csv.gz")
    assert _values(frame) == {"a": [1], "b": ["x"]}


def test_zip_csv_takes_its_type_from_the_file_inside():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("__MACOSX/._inner.tsv", b"junk")
        archive.writestr("inner.tsv", b"a\tb\n1,5\t2\n")
    frame = read_table(buffer.getvalue(), name="upload.zip")
    assert _values(frame) == {"a": ["1,5"], "b": [2]}
    assert sniff(buffer.getvalue(), name="upload.zip")["compression"] == "zip"


def test_bz2_and_xz_csv():
    assert _values(read_table(bz2.compress(b"a\n1\n"), name="d.csv.bz2")) == {"a": [1]}
    assert _values(read_table(lzma.compress(b"a\n1\n"), name="d.csv.xz")) == {"a": [1]}


def test_zip_with_two_files():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", b"a\n1\n")
        archive.writestr("b.csv", b"b\n2\n")
    error = _error(buffer.getvalue(), name="two.zip")
    assert "2 files" in str(error) and "'a.csv'" in str(error)


def test_damaged_gzip():
    error = _error(b"a,b\n1,2\n", name="fake.csv.gz")
    assert "could not be decompressed" in str(error) and ".gz" in error.fix


def test_gzip_bomb_stops_at_the_cap():
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    zeros = bytes(1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()
    assert len(bomb) < 200_000  # 64 MB of zeros
    error = _error(bomb, name="bomb.csv.gz", max_decompressed_bytes=1 << 20)
    assert "decompresses to more than 1 MB" in str(error)


def test_zip_bomb_stops_at_the_cap():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", bytes(32 << 20))
    error = _error(buffer.getvalue(), name="bomb.zip", max_decompressed_bytes=1 << 20)
    assert "decompresses to more than" in str(error)


# -- size limits ---------------------------------------------------------------


def test_file_too_big_bytes(no_pandas):
    error = _error(b"a,b\n" + b"1,2\n" * 100, name="big.csv", max_bytes=100)
    assert "404 bytes, more than the limit of 100 bytes" in str(error) and "Split" in error.fix


def test_file_too_big_path_is_refused_before_reading(tmp_path: Path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    monkeypatch.setattr(Path, "open", lambda *a, **k: pytest.fail("the file was opened"))
    with pytest.raises(DataError, match="limit of 1 KB"):
        read_table(path, max_bytes=1024)


def test_too_many_columns(no_pandas):
    header = ",".join(f"c{i}" for i in range(10_000))
    error = _error(f"{header}\n{','.join(['1'] * 10_000)}\n".encode(), name="wide.csv")
    assert "10,000 columns" in str(error) and "limit of 2,000" in str(error)


def test_too_many_rows(no_pandas):
    error = _error(b"a\n" + b"1\n" * 11, name="long.csv", max_rows=10)
    assert "more than 10 rows" in str(error) and "sample" in error.fix


def test_exactly_max_rows_is_fine():
    assert len(read_table(b"a\n" + b"1\n" * 10, name="ok.csv", max_rows=10)) == 10


def test_very_long_line_hits_the_field_limit():
    data = b"a,b\n" + b"x" * 3_000_000 + b",1\n"
    error = _error(data, name="long_line.csv")
    assert "line 2" in str(error) and "longer than" in str(error)


def test_very_long_line_hits_the_size_limit():
    error = _error(b"a,b\n" + b"x" * 3_000_000 + b",1\n", name="long_line.csv", max_bytes=1 << 20)
    assert "2.9 MB, more than the limit of 1 MB" in str(error)


# -- column names --------------------------------------------------------------


def test_duplicate_empty_whitespace_and_zero_width_names():
    data = " a ,a,,\u200bb\u200d,a,a_2,\ufeff\n1,2,3,4,5,6,7\n".encode()
    frame = read_table(data, name="names.csv")
    assert list(frame.columns) == ["a", "a_3", "column_3", "b", "a_4", "a_2", "column_7"]
    assert frame.iloc[0].tolist() == [1, 2, 3, 4, 5, 6, 7]


def test_right_to_left_names_are_kept():
    frame = read_table("שם,عمر\nדנה,30\n".encode(), name="rtl.csv")
    assert list(frame.columns) == ["שם", "عمر"]
    assert _values(frame) == {"שם": ["דנה"], "عمر": [30]}


def test_very_long_name_is_kept():
    name = "n" * 300
    assert list(read_table(f"{name},b\n1,2\n".encode(), name="long.csv").columns) == [name, "b"]


# -- text files ----------------------------------------------------------------


def test_txt_with_labels_splits_on_the_last_tab():
    data = b"great movie\tpos\n\nterrible\tplot\tneg\n  \nfine\tneutral \n"
    frame = read_table(data, name="reviews.txt")
    assert _values(frame) == {
        "text": ["great movie", "terrible\tplot", "fine"],
        "label": ["pos", "neg", "neutral"],
    }
    assert sniff(data, name="reviews.txt")["delimiter"] == "\t"


def test_txt_plain():
    frame = read_table(b"first line, with comma\r\rsecond; line\rthird\r", name="plain.txt")
    assert _values(frame) == {"text": ["first line, with comma", "second; line", "third"]}


def test_txt_with_emoji():
    frame = read_table("I love it 😍\tpos\nnope 👎\tneg\n".encode(), name="emoji.txt")
    assert _values(frame) == {"text": ["I love it 😍", "nope 👎"], "label": ["pos", "neg"]}


def test_txt_line_without_label_names_it():
    error = _error(b"a\tpos\nb\tneg\nno label here\nc\t\n", name="labels.txt")
    assert "lines 3, 4 are missing" in str(error) and error.row == 3


def test_txt_blank_only_is_empty():
    assert "empty" in str(_error(b"\n \n\t\n", name="blank.txt"))


def test_read_text_decodes_and_normalises_line_endings():
    data = codecs.BOM_UTF16_LE + "Once upon\r\na time 🐉\rthe end".encode("utf-16-le")
    assert read_text(gzip.compress(data), name="story.txt.gz") == "Once upon\na time 🐉\nthe end"


def test_read_text_refuses_binary():
    with pytest.raises(DataError, match="PNG image, not a text file"):
        read_text(b"\x89PNG\r\n\x1a\n....", name="corpus.txt")


# -- names, paths, report ------------------------------------------------------


def test_spreadsheet_extension_explains_how_to_export():
    error = _error(b"whatever", name="book.xlsx")
    assert "'.xlsx' cannot be read" in str(error) and "CSV" in error.fix


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "missing.csv")


def test_folder_is_not_a_file(tmp_path: Path):
    with pytest.raises(DataError, match="is a folder"):
        read_table(tmp_path)


def test_sniff_report():
    data = gzip.compress("a;b\ncafé;1,5\n".encode("cp1252"))
    assert sniff(data, name="x.csv.gz") == {
        "encoding": "cp1252",
        "delimiter": ";",
        "decimal": ",",
        "compression": "gzip",
        "bytes": len(data),
    }


# -- properties ----------------------------------------------------------------


# A ParserWarning would mean pandas read the rows differently from the checks before it.
@pytest.mark.filterwarnings("error::pandas.errors.ParserWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_frame_or_a_data_error(data: bytes):
    try:
        frame = read_table(data, name="x.csv")
    except DataError:
        return
    assert isinstance(frame, pd.DataFrame)
    assert len(set(frame.columns)) == len(frame.columns)


_CELLS = st.one_of(
    st.text(max_size=12),
    st.floats().map(repr),
    st.sampled_from(["", " ", '"', "a,b", "1,5", "x;y", "\t"]),
)


@pytest.mark.filterwarnings("error::pandas.errors.ParserWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(_CELLS, min_size=1, max_size=5), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
)
def test_generated_csv_gives_a_frame_or_a_data_error(rows, delimiter, newline, encoding):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
    try:
        frame = read_table(buffer.getvalue().encode(encoding, errors="replace"), name="x.csv")
    except DataError:
        return
    assert isinstance(frame, pd.DataFrame)


@settings(max_examples=150, deadline=None)
@given(
    table=st.integers(1, 5).flatmap(
        lambda width: st.lists(
            st.lists(st.floats(), min_size=width, max_size=width), min_size=1, max_size=10
        )
    ),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
)
def test_rectangular_float_tables_round_trip(table, delimiter):
    header = [f"c{i}" for i in range(len(table[0]))]
    lines = [delimiter.join(header)] + [delimiter.join(map(repr, row)) for row in table]
    frame = read_table("\n".join(lines).encode(), name="floats.csv")
    assert list(frame.columns) == header
    expected = np.array(table, dtype=float)
    np.testing.assert_allclose(frame.to_numpy(dtype=float), expected, rtol=1e-15, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.integers(0, 12), min_size=1, max_size=30), limit=st.integers(1, 10), end=st.booleans())
def test_line_length_check_refuses_exactly_the_lines_over_the_limit(lines, limit, end):
    text = "\n".join("x" * n for n in lines) + ("\n" if end else "")
    too_long = [number for number, n in enumerate(lines, 1) if n > limit]
    if not too_long:
        read_module._check_line_lengths(text, "t.csv", limit)
        return
    with pytest.raises(DataError) as caught:
        read_module._check_line_lengths(text, "t.csv", limit)
    assert caught.value.row == too_long[0]
    assert f"is {lines[too_long[0] - 1]:,} characters long" in caught.value.message
