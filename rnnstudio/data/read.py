"""Read users' CSV, TSV and text files into DataFrames, or say exactly why not.

Everything a user can get wrong about a file -- its size, compression, binary
content, text encoding, delimiter, ragged rows and odd column names -- is
checked here and reported as a :class:`~rnnstudio.errors.DataError` that names
the file, the line and the fix. pandas' fast C parser only ever sees text that
has passed these checks.

Typical use::

    frame = read_table("reviews.csv")
    text = read_text("corpus.txt.gz")
    report = sniff("sales.csv")   # {"encoding": "cp1252", "delimiter": ";", ...}
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import itertools
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

import pandas as pd

from rnnstudio.errors import DataError
from rnnstudio.limits import (MAX_COLUMNS, MAX_DECOMPRESSED_BYTES, MAX_FIELD_CHARS, MAX_FILE_BYTES,
                              MAX_LINE_CHARS, MAX_ROWS)

Source = str | os.PathLike | bytes

# The csv module's limit is process-wide; the studio's own value, so messages quote the real one.
csv.field_size_limit(MAX_FIELD_CHARS)

_KINDS = ("csv", "tsv", "txt")
_SPREADSHEETS = ("xlsx", "xlsm", "xls", "ods", "numbers")
_COMPRESSIONS = {".gz": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz"}
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
# Everything the stdlib decompressors raise for damaged or mislabelled data.
_DECOMPRESSION_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
)

# The order breaks ties when two delimiters split the sample equally well.
_DELIMITERS = (",", "\t", ";", "|")
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}

_WIDE_BOMS = (  # UTF-32 first: its LE byte order mark starts like UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x7fELF", "a program (an ELF executable)"),
    (b"PK\x03\x04", "a ZIP archive (Excel .xlsx and Word .docx files are ZIP archives too)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.xls or .doc)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    *((b"BZh%d1AY&SY" % level, "bzip2-compressed data") for level in range(1, 10)),
)

_SAMPLE_CHARS = 64 * 1024  # enough lines to guess a format, cheap to parse twice
_UTF16_SAMPLE_BYTES = 4096
_CHUNK_CHARS = 1024 * 1024  # text handed to io.StringIO at a time
_SHOWN_LINES = 5  # how many offending lines an error lists

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_ASCII = bytes(range(128))
_MIN_NON_ASCII_TO_GUESS = 16
_NON_LATIN_ENCODINGS = frozenset(
    codecs.lookup(encoding).name
    for encoding in (
        "cp1251", "koi8_r", "koi8_u", "cp866", "iso8859_5", "mac_cyrillic",  # Cyrillic
        "cp1253", "iso8859_7",  # Greek
        "cp1255", "iso8859_8",  # Hebrew
        "cp1256", "iso8859_6",  # Arabic
        "cp874",  # Thai
        "cp932", "shift_jis", "euc_jp",  # Japanese
        "gb2312", "gbk", "gb18030", "big5", "cp950",  # Chinese
        "euc_kr", "cp949",  # Korean
    )
)
_NAME_EDGES = re.compile(r"^[\s\u200b-\u200f\u2060\ufeff]+|[\s\u200b-\u200f\u2060\ufeff]+$")
_DECIMAL_COMMA = re.compile(r"\s*[-+]?\d+,\d+\s*")
_DECIMAL_POINT = re.compile(r"\s*[-+]?\d*\.\d+\s*")


@dataclass(frozen=True)
class _File:
    """What is known about a file once its text is decoded.

    Attributes:
        name: The name used in messages.
        kind: ``"csv"``, ``"tsv"`` or ``"txt"``.
        compression: ``"gzip"``, ``"zip"``, ``"bz2"``, ``"xz"`` or None.
        size: Size in bytes as stored (compressed).
        encoding: The encoding the text was decoded with.
    """

    name: str
    kind: str
    compression: str | None
    size: int
    encoding: str


def read_table(
    source: Source,
    *,
    name: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
    max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> pd.DataFrame:
    """Read a CSV, TSV or text file into a DataFrame after checking it.

    CSV files may use ``,`` ``;`` tab or ``|`` as delimiter (detected), and
    decimal commas when the delimiter is ``;``. ``.txt`` files hold one example
    per line: a ``text`` column, plus a ``label`` column when most lines end in
    ``<TAB>label``. Column types are left to pandas.

    Args:
        source: Path to the file, or its content as bytes.
        name: File name for messages and for the extension; needed for bytes,
            and overrides the path's own name.
        max_bytes: Largest file accepted, as stored.
        max_rows: Most data rows (or text lines) accepted.
        max_columns: Most columns accepted.
        max_decompressed_bytes: Largest content a compressed file may expand to.

    Returns:
        The table, with clean and unique column names.

    Raises:
        DataError: The file cannot be used; the message says where and how to fix it.
    """
    file, text = _open(source, name, max_bytes, max_decompressed_bytes)
    if file.kind == "txt":
        return _parse_lines(text, file.name, max_rows)
    delimiter, decimal = _detect_format(text, file.kind)
    return _parse_table(text, file.name, delimiter, decimal, max_rows, max_columns)


def read_text(
    source: Source,
    *,
    name: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> str:
    """Read a file's whole text, decoded and with ``\\n`` line endings.

    Args:
        source: Path to the file, or its content as bytes.
        name: File name for messages and for the extension.
        max_bytes: Largest file accepted, as stored.
        max_decompressed_bytes: Largest content a compressed file may expand to.

    Returns:
        The text, without byte order mark.

    Raises:
        DataError: The file is too big, binary, damaged or empty.
    """
    return _open(source, name, max_bytes, max_decompressed_bytes)[1]


def sniff(source: Source, *, name: str | None = None) -> dict:
    """Describe how a file would be read, without parsing it into a table.

    Args:
        source: Path to the file, or its content as bytes.
        name: File name for messages and for the extension.

    Returns:
        ``{"encoding", "delimiter", "decimal", "compression", "bytes"}``;
        ``bytes`` is the size as stored. For ``.txt`` files the delimiter is
        ``"\\t"`` when lines carry labels, else None, and decimal is None.

    Raises:
        DataError: The file is too big, binary, damaged or empty.
    """
    file, text = _open(source, name, MAX_FILE_BYTES, MAX_DECOMPRESSED_BYTES)
    if file.kind == "txt":
        delimiter = "\t" if _has_labels(_nonblank_lines(text)) else None
        decimal = None
    else:
        delimiter, decimal = _detect_format(text, file.kind)
    return {
        "encoding": file.encoding,
        "delimiter": delimiter,
        "decimal": decimal,
        "compression": file.compression,
        "bytes": file.size,
    }


# --- Loading ------------------------------------------------------------------


def _open(
    source: Source, name: str | None, max_bytes: int, max_decompressed: int
) -> tuple[_File, str]:
    """Read, decompress and decode a file within the limits; return what it is and its text.

    The bytes are not returned: from here on only the text is needed, and a
    large file should not sit in memory twice while pandas parses it.
    """
    raw, name = _read_source(source, name, max_bytes)
    extension, compression = _split_name(name)
    data = raw
    if compression:
        data, member = _decompress(raw, compression, name, max_decompressed)
        if not extension and member:
            # "data.zip" says nothing about its content; the file inside does.
            extension = _split_name(member)[0]
    kind = _kind(extension, name)
    text, encoding = _decode(data, name, kind)
    if not text or text.isspace():
        raise DataError(
            "is empty (0 bytes)." if not data else "is empty: it contains only blank lines.",
            fix="Choose the file that holds your data, or check that it was saved completely.",
            file=name,
        )
    _check_line_lengths(text, name)
    return _File(name, kind, compression, len(raw), encoding), text


def _check_line_lengths(text: str, name: str, limit: int = MAX_LINE_CHARS) -> None:
    """Refuse a line longer than ``limit`` before anything splits the text into lines or fields.

    Each step looks at the next ``limit + 1`` characters: without a line end
    among them the line starting there is too long; otherwise reading resumes
    after the last line end found, so a file costs about len/limit searches.
    """
    start = 0
    while len(text) - start > limit:
        last = text.rfind("\n", start, start + limit + 1)
        if last < 0:
            end = text.find("\n", start)
            length = (len(text) if end < 0 else end) - start
            line = text.count("\n", 0, start) + 1
            raise DataError(
                f"line {line:,} is {length:,} characters long, more than the limit of {limit:,}.",
                fix="A line that long usually means the line endings were lost or the file is not a table "
                "of text: check how it was saved, or split that text into shorter lines.",
                file=name,
                row=line,
            )
        start = last + 1


def _read_source(source: Source, name: str | None, max_bytes: int) -> tuple[bytes, str]:
    """Return the bytes of a path or bytes source, and the name to use in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        shown = name or "the uploaded data"
        _check_size(len(data), max_bytes, shown)
        return data, shown
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")
    path = Path(source)
    shown = name or str(source)
    try:
        _check_size(path.stat().st_size, max_bytes, shown)
        with path.open("rb") as handle:
            # Read one byte past the limit: pipes and growing files report no true size.
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise DataError("file not found.", fix="Check the path and the file name.", file=shown) from None
    except IsADirectoryError:
        raise DataError(
            "is a folder, not a file.", fix="Choose a data file inside the folder.", file=shown
        ) from None
    except PermissionError:
        raise DataError(
            "cannot be read: permission denied.",
            fix="Check the file's permissions, or copy it to a folder you can read.",
            file=shown,
        ) from None
    except OSError as exc:
        raise DataError(
            f"cannot be opened ({exc.strerror or exc}).", fix="Check the path and the file.", file=shown
        ) from None
    _check_size(len(data), max_bytes, shown)
    return data, shown


def _check_size(size: int, limit: int, name: str) -> None:
    """Refuse a file larger than the limit, before anything reads it."""
    if size > limit:
        raise DataError(
            f"is {_human_size(size)}, more than the limit of {_human_size(limit)}.",
            fix="Split the file into smaller files or sample it (for example keep every "
            "10th row), or pass a larger max_bytes.",
            file=name,
        )


def _split_name(name: str) -> tuple[str, str | None]:
    """Return the data extension (``"csv"``, or ``""`` if none) and the compression of a file name."""
    suffixes = [suffix.lower() for suffix in PurePath(name).suffixes]
    compression = _COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes.pop()
    return (suffixes[-1].lstrip(".") if suffixes else ""), compression


def _kind(extension: str, name: str) -> str:
    """Map an extension to the kind of file to read; files without one are read as CSV."""
    if not extension or extension in _KINDS:
        return extension or "csv"
    if extension in _SPREADSHEETS:
        fix = "Open it in your spreadsheet program and save it as CSV (File > Save As > CSV UTF-8)."
    else:
        fix = "Save the data as .csv, .tsv or .txt (optionally compressed as .gz, .zip, .bz2 or .xz)."
    raise DataError(f"files of type '.{extension}' cannot be read.", fix=fix, file=name)


def _decompress(raw: bytes, compression: str, name: str, cap: int) -> tuple[bytes, str | None]:
    """Decompress at most ``cap`` bytes; return them and, for zip files, the inner file's name."""
    try:
        if compression == "zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                member = _zip_member(archive, name)
                with archive.open(member) as stream:
                    return _read_capped(stream, cap, name), member.filename
        with _OPENERS[compression](io.BytesIO(raw)) as stream:
            return _read_capped(stream, cap, name), None
    except _DECOMPRESSION_ERRORS:
        raise DataError(
            f"could not be decompressed: it is damaged, or it is not really {compression} data.",
            fix=f"Compress the file again, or remove the '{PurePath(name).suffix}' extension "
            "if the file is not compressed.",
            file=name,
        ) from None


def _zip_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """Return the one data file in a zip archive, ignoring folders and macOS clutter."""
    members = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not PurePath(info.filename).name.startswith(("._", ".DS_Store"))
    ]
    if len(members) != 1:
        names = _quote_list([member.filename for member in members])
        found = f"{len(members)} files ({names})" if members else "no files"
        raise DataError(
            f"the zip archive contains {found}; it must contain exactly one data file.",
            fix="Zip only the data file, or unzip the archive and choose the file you want.",
            file=name,
        )
    if members[0].flag_bits & 0x1:
        raise DataError(
            "the zip archive is password-protected.",
            fix="Zip the file again without a password.",
            file=name,
        )
    return members[0]


def _read_capped(stream: io.BufferedIOBase, cap: int, name: str) -> bytes:
    """Read a decompressing stream, stopping one byte past the cap so a zip bomb cannot fill memory."""
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise DataError(
            f"decompresses to more than {_human_size(cap)}, the limit for compressed files.",
            fix="Split the data into smaller files or sample it, "
            "or pass a larger max_decompressed_bytes.",
            file=name,
        )
    return data


# --- Decoding -----------------------------------------------------------------


def _decode(data: bytes, name: str, kind: str) -> tuple[str, str]:
    """Decode a file's bytes to text with ``\\n`` line endings; return the text and the encoding used."""
    _reject_signature(data, name, kind)
    wide = _detect_wide_encoding(data)
    text, encoding = _decode_wide(data, name, *wide) if wide else _decode_8bit(data, name)
    _reject_control_characters(text, name, kind)
    # A second BOM survives when a tool added one to a file that had one.
    text = text.removeprefix("\ufeff")
    if "\r" in text:  # Windows (CRLF) and old Mac (CR) line endings
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    _reject_nul(text, name, kind)
    return text, encoding


def _reject_signature(data: bytes, name: str, kind: str) -> None:
    """Refuse images, programs, documents and archives by their first bytes."""
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            raise DataError(
                f"this looks like {what}, not a {_kind_label(kind)}.",
                fix="Choose the file that holds your data as text: export spreadsheets as CSV "
                "(File > Save As > CSV UTF-8), and name compressed files after their "
                "compression, for example data.csv.gz.",
                file=name,
            )


def _detect_wide_encoding(data: bytes) -> tuple[str, int] | None:
    """Return (encoding, BOM length) for UTF-16 or UTF-32 text, else None."""
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            return encoding, len(bom)
    # UTF-16 text with some ASCII in it has NULs in every other byte (odd bytes
    # for LE, even for BE); binary data has them anywhere, or too few to tell.
    sample = data[:_UTF16_SAMPLE_BYTES]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    enough = max(2, 0.3 * (len(sample) // 2))
    if odd >= enough and even * 20 < odd:
        return "utf-16-le", 0
    if even >= enough and odd * 20 < even:
        return "utf-16-be", 0
    return None


def _decode_wide(data: bytes, name: str, encoding: str, skip: int) -> tuple[str, str]:
    """Decode UTF-16 or UTF-32 text after its ``skip``-byte BOM."""
    try:
        return data[skip:].decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise DataError(
            f"looks like {encoding} text, but byte {exc.start + skip:,} is not valid {encoding}.",
            fix="Save the file again as UTF-8 text.",
            file=name,
        ) from None


def _decode_8bit(data: bytes, name: str) -> tuple[str, str]:
    """Decode UTF-8 (with or without BOM), else a legacy code page, never UTF-8 read as cp1252."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as exc:
        if bom or _mostly_utf8(data):
            # Decoding it all as cp1252 would turn every accent into mojibake ("cafÃ©").
            line = _line_at(data, exc.start + bom)
            raise DataError(
                f"is UTF-8 text except on line {line}, which has bytes that are not valid UTF-8.",
                fix="Save the file again as UTF-8; it probably joins parts saved with "
                "different encodings.",
                file=name,
                row=line,
            ) from None
    for encoding in (_guess_non_latin_encoding(data), "cp1252"):
        if encoding:
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                continue
    return data.decode("latin-1"), "latin-1"  # decodes any bytes


def _mostly_utf8(data: bytes) -> bool:
    """Whether most non-ASCII bytes form valid UTF-8 sequences."""
    non_ascii = len(data.translate(None, _ASCII))
    in_sequences = len(data) - len(_UTF8_SEQUENCE.sub(b"", data))
    return in_sequences * 2 > non_ascii


def _guess_non_latin_encoding(data: bytes) -> str | None:
    """Guess a legacy encoding of non-Latin text (Cyrillic, Greek, CJK...), else None.

    charset-normalizer recognises cp1251 or cp932 well, but among Latin code
    pages it often picks cp1250 or cp1257 for French or German ("Très" becomes
    "Trčs"), and on a few bytes it guesses wildly; so it is only asked about
    samples with enough non-ASCII bytes, and only non-Latin answers are trusted.
    """
    sample = data[:_SAMPLE_CHARS]
    if len(sample.translate(None, _ASCII)) < _MIN_NON_ASCII_TO_GUESS:
        return None
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional; without it such files are read as cp1252
        return None
    best = from_bytes(sample).best()
    if best is None:
        return None
    try:
        codec = codecs.lookup(best.encoding).name
    except LookupError:
        return None
    return codec if codec in _NON_LATIN_ENCODINGS else None


def _reject_control_characters(text: str, name: str, kind: str) -> None:
    """Refuse text whose start is full of control characters: binary data that happened to decode."""
    sample = text[:_SAMPLE_CHARS]
    count = len(_CONTROL.findall(sample))
    if count > 1 and count * 100 > len(sample):
        raise DataError(
            "contains many control characters, so it looks like a binary file, "
            f"not a {_kind_label(kind)}.",
            fix="Export the data as text (CSV UTF-8) and choose that file.",
            file=name,
        )


def _reject_nul(text: str, name: str, kind: str) -> None:
    """Refuse NUL characters, which text never contains but binary files do."""
    position = text.find("\x00")
    if position >= 0:
        line = text.count("\n", 0, position) + 1
        raise DataError(
            f"contains NUL characters (the first on line {line}), so it looks like a binary "
            f"file, not a {_kind_label(kind)}.",
            fix="Export the data as text (CSV UTF-8) and choose that file.",
            file=name,
            row=line,
        )


# --- Tables -------------------------------------------------------------------


def _detect_format(text: str, kind: str) -> tuple[str, str]:
    """Return the delimiter and decimal mark of a CSV or TSV text."""
    sample = _sample(text)
    delimiter = "\t" if kind == "tsv" else _detect_delimiter(sample)
    if delimiter == ";" and _uses_decimal_comma(_sample_records(sample, delimiter)):
        return delimiter, ","
    return delimiter, "."


def _sample(text: str) -> str:
    """The start of the text, cut at a line end, for guessing its format."""
    if len(text) <= _SAMPLE_CHARS:
        return text
    head = text[:_SAMPLE_CHARS]
    cut = head.rfind("\n")
    return head[: cut + 1] if cut > 0 else head


def _detect_delimiter(sample: str) -> str:
    """Pick the delimiter that splits the most rows like the header, then into the most columns.

    The csv module does the splitting, so quoted delimiters do not count.
    csv.Sniffer is not used: its quote regex is quadratic on long lines and its
    answer is often not the delimiter that makes the rows consistent.
    """
    best, best_score = ",", None
    for delimiter in _DELIMITERS:
        if delimiter not in sample:
            continue
        records = _sample_records(sample, delimiter)
        if not records or len(records[0]) < 2:
            continue
        width, rows = len(records[0]), records[1:]
        agreeing = sum(len(row) == width for row in rows) / len(rows) if rows else 1.0
        score = (agreeing, width)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


def _sample_records(sample: str, delimiter: str) -> list[list[str]]:
    """The non-blank records of a sample; reading stops quietly at broken quoting."""
    records = []
    try:
        for record in csv.reader(_iter_lines(sample), delimiter=delimiter):
            if not _is_blank(record):
                records.append(record)
    except csv.Error:
        pass  # the full check in _check_rows reports it with a line number
    return records


def _uses_decimal_comma(records: list[list[str]]) -> bool:
    """Whether numbers in the data rows are written like "1,5" rather than "1.5"."""
    values = [value for record in records[1:] for value in record]
    commas = sum(bool(_DECIMAL_COMMA.fullmatch(value)) for value in values)
    points = sum(bool(_DECIMAL_POINT.fullmatch(value)) for value in values)
    return commas > 0 and commas >= points


def _parse_table(
    text: str, name: str, delimiter: str, decimal: str, max_rows: int, max_columns: int
) -> pd.DataFrame:
    """Check the rows, then let pandas' C parser build the table."""
    header, header_line, rows = _check_rows(text, name, delimiter, max_rows, max_columns)
    if rows == 0:
        raise DataError(
            "has a header but no rows.",
            fix=f"Add rows of data below the header on line {header_line}.",
            file=name,
            row=header_line,
        )
    try:
        frame = pd.read_csv(
            _Utf8Stream(text),
            encoding="utf-8",
            sep=delimiter,
            decimal=decimal,
            header=0,
            index_col=False,
            engine="c",
            low_memory=False,  # infer each column's type from all of it, not per chunk
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(
            f"could not be read as a table ({exc}).",
            fix="Check the quotes and delimiters in the file.",
            file=name,
        ) from None
    if frame.shape != (rows, len(header)):
        # csv and pandas disagree only on odd quoting; refuse rather than guess.
        raise DataError(
            f"could not be read consistently: found {len(frame):,} rows of {frame.shape[1]} columns, "
            f"expected {rows:,} rows of {len(header)}.",
            fix="Check the quotes in the file: quote whole values and double quotes inside them (\"\").",
            file=name,
        )
    frame.columns = _clean_column_names(header)
    return frame


def _check_rows(
    text: str, name: str, delimiter: str, max_rows: int, max_columns: int
) -> tuple[list[str], int, int]:
    """Check every record against the header, and the size limits, before pandas sees the text.

    pandas fills short rows with NaN without a word and stops at the first long
    one, so the csv module counts every record's fields here.

    Returns:
        The header's fields, the header's line number and the number of data rows.
    """
    # strict: an unclosed quote or text after a closing quote is an error, not a silent repair.
    reader = csv.reader(_iter_lines(text), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line, width, rows, end = 0, -1, 0, 0  # end: last line read; a record starts after it
    mismatches: list[tuple[int, int]] = []  # (line, fields) of the first rows unlike the header
    mismatch_count = 0
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if len(record) == width > 1:
                rows += 1  # the usual row, as wide as the header; a blank one is never this wide
            elif _is_blank(record):
                continue
            elif header is None:
                header, header_line, width = record, start, len(record)
                if width > max_columns:
                    raise DataError(
                        f"has {width:,} columns, more than the limit of {max_columns:,}.",
                        fix="Keep only the columns you need, or pass a larger max_columns.",
                        file=name,
                        row=start,
                    )
            else:
                rows += 1
                if len(record) != width:
                    mismatch_count += 1
                    if len(mismatches) < _SHOWN_LINES:
                        mismatches.append((start, len(record)))
            if rows > max_rows:
                raise _too_many_rows(name, max_rows)
    except csv.Error as exc:
        raise _quoting_error(exc, name, end + 1) from None
    if header is None:  # only quoted empty values
        raise DataError(
            "is empty: it contains no values.", fix="Choose the file that holds your data.", file=name
        )
    if mismatch_count:
        raise _width_error(name, delimiter, width, header_line, mismatches, mismatch_count)
    return header, header_line, rows


class _Utf8Stream(io.RawIOBase):
    """A binary stream of a str's UTF-8 bytes, encoded a chunk at a time.

    pandas' C parser reads bytes. Encoding the whole text at once would hold a
    second copy of a large file, and pandas' own wrapper for text streams
    copies more and more bytes per read when characters take several bytes.
    """

    def __init__(self, text: str):
        self._chunks = (chunk.encode("utf-8") for chunk in _line_chunks(text))
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._pending:
            self._pending = memoryview(next(self._chunks, b""))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _is_blank(record: list[str]) -> bool:
    """Whether a record is a line pandas skips: empty, or only spaces and tabs (not a quoted "")."""
    return not record or (len(record) == 1 and record[0] != "" and not record[0].strip(" \t"))


def _iter_lines(text: str) -> Iterator[str]:
    """Iterate over the lines of a text, each with its ``\\n``, at C speed.

    io.StringIO splits lines in C but stores 4 bytes per character, so it gets
    the text in chunks of whole lines rather than all at once.
    """
    return itertools.chain.from_iterable(io.StringIO(chunk) for chunk in _line_chunks(text))


def _line_chunks(text: str) -> Iterator[str]:
    """Cut a text into pieces of about ``_CHUNK_CHARS`` that end at a line end."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + _CHUNK_CHARS)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _quoting_error(exc: csv.Error, name: str, line: int) -> DataError:
    """Explain a csv module error about the record starting on ``line``."""
    reason = str(exc)
    if "field larger than field limit" in reason:
        limit = MAX_FIELD_CHARS
        message = f"a value starting on line {line} is longer than {limit:,} characters."
        fix = (
            'This usually means a double quote (") on that line is never closed, so the rest of the '
            "file reads as one value: close or remove that quote. Texts really that long must be "
            "shortened or split."
        )
    elif "end of data" in reason:
        message = f'a double quote (") opened on line {line} is never closed.'
        fix = 'Close the quote, or write quotes that are part of the text twice ("").'
    elif "expected after" in reason:
        message = f"a quoted value on line {line} has more text after its closing quote."
        fix = 'Write quotes inside a quoted value twice: "5"" screen", not "5" screen".'
    else:
        message = f"line {line} could not be read as CSV ({reason})."
        fix = "Check the quotes and delimiters on that line."
    return DataError(message, fix=fix, file=name, row=line)


def _width_error(
    name: str,
    delimiter: str,
    width: int,
    header_line: int,
    mismatches: list[tuple[int, int]],
    count: int,
) -> DataError:
    """Explain rows whose number of fields differs from the header's."""
    listed = ", ".join(f"line {line} has {_plural(found, 'field')}" for line, found in mismatches)
    if count > len(mismatches):
        listed += f", and {count - len(mismatches):,} more"
    rows = "1 row does not" if count == 1 else f"{count:,} rows do not"
    fixes = []
    if any(found > width for _, found in mismatches):
        mark = _DELIMITER_NAMES[delimiter]
        fixes.append(
            f"put double quotes around values that contain a {mark}, or remove the extra {mark}s"
        )
    if any(found < width for _, found in mismatches):
        fixes.append(
            "fill in the missing values (two delimiters in a row leave a value empty) "
            "or delete those lines"
        )
    fix = "; ".join(fixes)
    return DataError(
        f"{rows} have the {_plural(width, 'field')} of the header on line {header_line}: {listed}.",
        fix=fix[0].upper() + fix[1:] + ".",
        file=name,
        row=mismatches[0][0],
    )


def _clean_column_names(names: list[str]) -> list[str]:
    """Strip spaces and invisible characters around names, name empty ones, make all unique.

    Empty names become ``column_N`` (1-based position); repeats become
    ``name_2``, ``name_3``..., skipping names already in use.
    """
    cleaned = [
        _NAME_EDGES.sub("", name) or f"column_{position}" for position, name in enumerate(names, 1)
    ]
    taken, seen, unique = set(cleaned), set(), []
    for name in cleaned:
        if name in seen:
            suffix = 2
            while f"{name}_{suffix}" in taken:
                suffix += 1
            name = f"{name}_{suffix}"
            taken.add(name)
        seen.add(name)
        unique.append(name)
    return unique


# --- Text files ---------------------------------------------------------------


def _parse_lines(text: str, name: str, max_rows: int) -> pd.DataFrame:
    """One example per non-blank line; ``text<TAB>label`` lines give a ``label`` column too."""
    lines = _nonblank_lines(text)
    if len(lines) > max_rows:
        raise _too_many_rows(name, max_rows)
    if not _has_labels(lines):
        return pd.DataFrame({"text": [line for _, line in lines]})
    texts, labels, bad = [], [], []
    for number, line in lines:
        example, tab, label = line.rpartition("\t")  # the label follows the last tab
        label = label.strip()
        if not (tab and label and example.strip()):
            bad.append(number)
        texts.append(example)
        labels.append(label)
    if bad:
        shown = ", ".join(str(number) for number in bad[:_SHOWN_LINES])
        if len(bad) > _SHOWN_LINES:
            shown += f" and {len(bad) - _SHOWN_LINES:,} more"
        where = f"line {shown} is" if len(bad) == 1 else f"lines {shown} are"
        raise DataError(
            f"most lines are 'text<TAB>label', but {where} missing the text, the tab or the label.",
            fix="Give every line its text, a tab and its label, or remove all tabs to read the "
            "lines as plain text.",
            file=name,
            row=bad[0],
        )
    return pd.DataFrame({"text": texts, "label": labels})


def _nonblank_lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of a text with their 1-based line numbers."""
    return [(number, line) for number, line in enumerate(text.split("\n"), 1) if line.strip()]


def _has_labels(lines: list[tuple[int, str]]) -> bool:
    """Whether most lines contain a tab, i.e. end in ``<TAB>label``."""
    return sum("\t" in line for _, line in lines) * 2 > len(lines)


# --- Messages -----------------------------------------------------------------


def _too_many_rows(name: str, max_rows: int) -> DataError:
    """The error for a file with more rows than allowed."""
    return DataError(
        f"has more than {max_rows:,} rows, the limit.",
        fix="Split the file into smaller files or sample it (for example keep every 10th row), "
        "or pass a larger max_rows.",
        file=name,
    )


def _kind_label(kind: str) -> str:
    """How messages call a kind of file."""
    return {"csv": "CSV file", "tsv": "TSV file"}.get(kind, "text file")


def _line_at(data: bytes, position: int) -> int:
    """The 1-based line of a byte position, counting LF, CRLF and CR line endings."""
    head = data[:position]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _human_size(size: int) -> str:
    """A byte count in words: ``"512 bytes"``, ``"3.2 MB"``."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}".replace(".0 ", " ")
    return f"{size:,} bytes"


def _plural(count: int, word: str) -> str:
    """``"1 field"``, ``"3 fields"``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _quote_list(items: list[str]) -> str:
    """A short, quoted list of names for a message."""
    shown = ", ".join(f"'{item}'" for item in items[:_SHOWN_LINES])
    return shown + (", ..." if len(items) > _SHOWN_LINES else "")
