"""Readers for the dataset formats: delimited tables (CSV/TSV/pipe) and one-text-per-line files.

They survive what real files contain: a UTF-8 BOM, CRLF line ends, stray spaces around values
and empty rows. A malformed row raises :class:`DatasetError` naming the file and line, or, with
``skip_bad=True``, is skipped and counted in :attr:`ReadReport.skipped`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chatbot.errors import DatasetError


@dataclass
class ReadReport:
    """What a reader skipped, with the place and reason of each bad row."""

    skipped: list[str] = field(default_factory=list)


def _open_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}:{line}: not UTF-8 text ({error.reason})",
            hint="convert the file to UTF-8, e.g. iconv -f cp949 -t utf-8",
        ) from None


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
    lines = _open_text(path).splitlines()
    # Only CSV quotes fields; in TSV and pipe-separated text a quote is an ordinary character.
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting)
    header: list[str] | None = None
    for line_number, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            missing = [c for c in columns if c not in header]
            if missing:
                raise DatasetError(
                    f"{path}:{line_number}: the header {header} lacks the column(s) {missing}",
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
    """Non-empty lines of a text file (one text per line), as (line number, text)."""
    for line_number, line in enumerate(_open_text(path).splitlines(), start=1):
        text = line.strip()
        if text:
            yield line_number, text
