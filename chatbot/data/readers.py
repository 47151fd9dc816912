"""Readers for the dataset formats: delimited tables (CSV/TSV/pipe) and one-text-per-line files.

They survive what real files contain: a UTF-8 BOM, CRLF line ends, stray spaces around values
and empty rows. A malformed row raises :class:`DatasetError` naming the file and line, or, with
``skip_bad=True``, is skipped and counted in :attr:`ReadReport.skipped`. A file that is not
UTF-8 text (another encoding, binary data, a line over :data:`MAX_LINE_BYTES`) always raises.

Lines are split on "\\n" only (a "\\r\\n" line end is accepted): ``str.splitlines`` would also
split on U+2028, U+2029, U+0085, \\x0b, \\x0c and \\x1c-\\x1e, which real texts contain inside a
field. Line numbers are the file's physical lines, the ones an editor shows; a CSV record with a
quoted line break spans several and is named by the line it starts on.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chatbot.errors import DatasetError

# The longest line read, in bytes. Real rows are far shorter; the bound keeps a binary file or a
# file with no line breaks from being read whole into memory before it is refused.
MAX_LINE_BYTES = 1_000_000

_UTF8_HINT = "convert the file to UTF-8, e.g. iconv -f cp949 -t utf-8 IN > OUT"
_CSV_HINT = "quote a field that holds a comma, a quote or a line break, as RFC 4180 says"


@dataclass
class ReadReport:
    """What a reader skipped, with the place and reason of each bad row."""

    skipped: list[str] = field(default_factory=list)


def text_lines(path: Path, allow_nul: bool = False) -> Iterator[tuple[int, str]]:
    """The lines of a UTF-8 text file as (line number from 1, line with its line end kept).

    Lines are split on "\\n" only; a UTF-8 BOM at the start is dropped.

    Args:
        path: the file.
        allow_nul: accept NUL characters (by default a NUL byte means binary data, refused).

    Raises:
        DatasetError: the file cannot be read, is not UTF-8, holds a NUL byte or a line longer
            than :data:`MAX_LINE_BYTES`; the message names the file and the line.
    """
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file", hint="check the path") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot read it ({error.strerror})",
                           hint="check the path and its permissions") from None
    with handle:
        line_number = 0
        while True:
            # Binary readline splits on b"\n" only, and the limit bounds what one line costs.
            raw = handle.readline(MAX_LINE_BYTES + 2)
            if not raw:
                return
            line_number += 1
            where = f"{path}:{line_number}"
            if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                raise DatasetError(
                    f"{where}: a line longer than {MAX_LINE_BYTES:,} bytes",
                    hint="is it a text file of the expected format? Put one row per line",
                )
            if line_number == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    raise DatasetError(f"{where}: UTF-16 text, not UTF-8",
                                       hint="convert it: iconv -f utf-16 -t utf-8 IN > OUT")
                if raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
            if not allow_nul and b"\0" in raw:
                raise DatasetError(
                    f"{where}: binary data (a NUL byte), not text",
                    hint="give a UTF-8 text file: CSV, TSV, JSON Lines or one text per line",
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DatasetError(f"{where}: not UTF-8 text ({error.reason})",
                                   hint=_UTF8_HINT) from None
            yield line_number, text


def csv_records(
    path: Path,
    skip_bad: bool = False,
    report: ReadReport | None = None,
    allow_nul: bool = False,
) -> Iterator[tuple[int, list[str]]]:
    """The records of a CSV file (RFC 4180) as (line the record starts on, fields).

    A quoted field keeps its line breaks as written ("\\n" or "\\r\\n"). Empty lines come as
    records with no field.

    Args:
        path: the file.
        skip_bad: skip and count a malformed record instead of raising.
        report: where skipped records are recorded.
        allow_nul: see :func:`text_lines`.

    Raises:
        DatasetError: a record is malformed (an unclosed quote, a lone carriage return in an
            unquoted field, a field over the csv module's size limit), or the file is not text.
    """
    report = report if report is not None else ReadReport()
    at_end = False

    def lines() -> Iterator[str]:
        nonlocal at_end
        for _, line in text_lines(path, allow_nul):
            yield line
        at_end = True

    reader = csv.reader(lines())
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            _csv_bad(f"{path}:{start}: {_csv_problem(error)}", skip_bad, report)
            start = reader.line_num + 1
            continue
        if at_end:
            # The reader asked for a line past the last one while still inside the record: only
            # an open quote does that, and the record has swallowed the rest of the file.
            _csv_bad(f"{path}:{start}: a quoted field opened on this line is never closed",
                     skip_bad, report)
            return
        yield start, row
        start = reader.line_num + 1


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if text.startswith("new-line character"):
        return "a carriage return (\\r) inside an unquoted field"
    return f"malformed CSV ({text})"


def _csv_bad(problem: str, skip_bad: bool, report: ReadReport) -> None:
    if not skip_bad:
        raise DatasetError(problem, hint=_CSV_HINT)
    report.skipped.append(problem)


def _split_records(path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    # Only CSV quotes fields; in TSV and pipe-separated text a quote is an ordinary character,
    # so a record is one line, split at the delimiter.
    for line_number, line in text_lines(path):
        yield line_number, _without_line_end(line).split(delimiter)


def _without_line_end(line: str) -> str:
    if line.endswith("\n"):
        line = line[:-1]
    return line[:-1] if line.endswith("\r") else line


def _records(path: Path, delimiter: str, skip_bad: bool,
             report: ReadReport) -> Iterator[tuple[int, list[str]]]:
    if delimiter == ",":
        return csv_records(path, skip_bad, report)
    return _split_records(path, delimiter)


def read_header(path: Path, delimiter: str) -> list[str]:
    """The header of a delimited file: the cells of its first non-empty record, stripped.

    Raises:
        DatasetError: the file is not text, or its first record is malformed.
    """
    for _, row in _records(path, delimiter, False, ReadReport()):
        if any(cell.strip() for cell in row):
            return [cell.strip() for cell in row]
    return []


def read_table(
    path: Path,
    columns: tuple[str, ...],
    delimiter: str = "\t",
    skip_bad: bool = False,
    report: ReadReport | None = None,
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a delimited file with a header line, as (line number, {column: value}).

    Args:
        path: the file.
        columns: the header columns every row must have (extra columns are ignored).
        delimiter: "\\t", "," or "|".
        skip_bad: skip and count malformed rows instead of raising.
        report: where skipped rows are recorded.
    """
    report = report if report is not None else ReadReport()
    header: list[str] | None = None
    for line_number, row in _records(path, delimiter, skip_bad, report):
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            missing = [c for c in columns if c not in header]
            if missing:
                # The cells are not quoted back: a config may name any file, and its first
                # line is no business of an error message.
                raise DatasetError(
                    f"{path}:{line_number}: the header (first line) lacks the column(s) "
                    f"{', '.join(missing)}",
                    hint=f"the first line must name the columns: {delimiter.join(columns)}",
                )
            continue
        if len(row) != len(header):
            problem = (
                f"{path}:{line_number}: expected {len(header)} fields "
                f"({', '.join(header)}), found {len(row)}"
            )
            if skip_bad:
                report.skipped.append(problem)
                continue
            raise DatasetError(problem, hint="fix the row, or pass --skip-bad to skip such rows")
        values = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
        empty = [c for c in columns if not values[c]]
        if empty:
            problem = f"{path}:{line_number}: empty value in column(s) {empty}"
            if skip_bad:
                report.skipped.append(problem)
                continue
            raise DatasetError(problem, hint="fill the value, or pass --skip-bad to skip it")
        yield line_number, values


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-empty lines of a text file (one text per line), as (line number, text).

    Lines are split on "\\n" only, so a text may hold U+2028 and other separators.
    """
    for line_number, line in text_lines(path):
        text = line.strip()
        if text:
            yield line_number, text
