"""Any bytes, any generated CSV: the loaders return a usable table or the studio's own error, nothing else."""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnstudio.data.load import load_source
from rnnstudio.data.read import read_text, sniff
from rnnstudio.errors import StudioError

NAMES = st.sampled_from(["data.csv", "data.tsv", "notes.txt", "data.csv.gz", "data", "data.zip"])
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_file(data: bytes, name: str):
    """load_source on a real file, as a run reads it; None when the studio refuses it with its own error."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            return load_source(str(path))
        except StudioError as exc:
            assert exc.message and exc.fix, exc  # the studio's errors always say what and how
            return None


def _assert_usable(loaded, name: str) -> None:
    frame, shown = loaded
    assert shown == name
    assert isinstance(frame, pd.DataFrame) and len(frame) >= 1 and len(frame.columns) >= 1
    names = list(frame.columns)
    assert all(isinstance(c, str) and c for c in names) and len(set(names)) == len(names)
    if name.endswith(".txt"):
        assert names[0] == "text"


@pytest.mark.filterwarnings("error::pandas.errors.ParserWarning")
@EXAMPLES
@given(data=st.binary(max_size=3000), name=NAMES)
def test_arbitrary_bytes_in_a_file(data: bytes, name: str):
    if name.endswith(".gz") and data[:1] == b"a":  # some real gzip content, not only damaged bytes
        data = gzip.compress(data)
    loaded = _load_file(data, name)
    if loaded is not None:
        _assert_usable(loaded, name)


@EXAMPLES
@given(data=st.binary(max_size=3000), name=NAMES)
def test_arbitrary_bytes_as_text_and_sniffed(data: bytes, name: str):
    for reader in (read_text, sniff):
        try:
            result = reader(data, name=name)
        except StudioError:
            continue
        assert isinstance(result, (str, dict))


_CELLS = st.one_of(
    st.text(max_size=10),
    st.floats().map(repr),
    st.integers().map(str),
    st.sampled_from(["", "NaN", "inf", "1e308", "1,5", '"', "a;b", "😀", "\u200b", "שם", "\x00"]),
)


@pytest.mark.filterwarnings("error::pandas.errors.ParserWarning")
@EXAMPLES
@given(
    rows=st.lists(st.lists(_CELLS, min_size=1, max_size=6), min_size=0, max_size=15),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "cp1252"]),
    name=st.sampled_from(["data.csv", "data.tsv", "data.txt", "data.csv.gz"]),
)
def test_generated_csv_files(rows, delimiter, newline, encoding, name):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows(rows)
    data = buffer.getvalue().encode(encoding, errors="replace")
    if name.endswith(".gz"):
        data = gzip.compress(data)
    loaded = _load_file(data, name)
    if loaded is not None:
        _assert_usable(loaded, name)
