"""Fetch a catalog dataset from its public address: progress, resume, verification.

The only network access the toolkit makes, and only when a user runs ``chatbot data download``.
A partial file is kept as ``NAME.part`` and resumed with an HTTP range request. After the
download every row is parsed; a file that does not parse or has too few rows is not kept.
"""

from __future__ import annotations

import logging
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from chatbot.data.catalog import DatasetInfo, RemoteFile
from chatbot.data.datasets import read_files
from chatbot.errors import ChatbotError, DatasetError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 20
CHUNK = 1 << 16


def download_dataset(info: DatasetInfo, folder: Path, progress: bool = True) -> list[Path]:
    """Download every file of ``info`` into ``folder``, then verify the dataset.

    Files already complete are kept; partial ones are resumed. Raises DatasetError when offline
    (with the URL and how to place the file by hand) or when verification fails.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = [fetch(remote, folder, info.name, progress) for remote in info.files]
    verify(info, paths)
    return paths


def fetch(remote: RemoteFile, folder: Path, dataset: str, progress: bool = True) -> Path:
    """One file: skip if present, resume a ``.part`` file, else download from the start."""
    target = folder / remote.filename
    if target.is_file():
        logger.info("%s is already there", target)
        return target
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.is_file() else 0
    request = urllib.request.Request(remote.url, headers={"User-Agent": "korean-chatbot"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416:  # the partial file is already whole
            partial.rename(target)
            return target
        raise _unreachable(remote, dataset, f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise _unreachable(remote, dataset, str(reason)) from None
    with response:
        resumed = offset and response.status == 206
        if offset and not resumed:
            offset = 0  # the server ignored the range: start again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        with (
            partial.open("ab" if resumed else "wb") as out,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                 desc=remote.filename, disable=not progress, leave=False) as bar,
        ):
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, TimeoutError) as error:
                raise DatasetError(
                    f"the download of {remote.url} broke off after {partial.stat().st_size:,} "
                    f"bytes ({error})",
                    hint=f"run `chatbot data download {dataset}` again: it resumes",
                ) from None
    partial.rename(target)
    return target


def verify(info: DatasetInfo, paths: list[Path]) -> int:
    """Parse every row; fewer than ``info.min_rows`` rows or any bad row fails. Returns rows."""
    try:
        corpus = read_files(paths, info.format, name=info.name)
    except ChatbotError as error:
        _quarantine(paths)
        raise DatasetError(
            f"the downloaded {info.name} does not parse: {error.message}",
            hint="the upstream file may have changed; the file was renamed to *.bad",
        ) from None
    rows = len(corpus.examples) + len(corpus.sentences)
    if rows < info.min_rows:
        _quarantine(paths)
        raise DatasetError(
            f"the downloaded {info.name} has {rows:,} rows; at least {info.min_rows:,} expected",
            hint="the upstream file may be truncated or have changed; files renamed to *.bad",
        )
    return rows


def _quarantine(paths: list[Path]) -> None:
    for path in paths:
        if path.is_file():
            shutil.move(path, path.with_name(path.name + ".bad"))


def _unreachable(remote: RemoteFile, dataset: str, reason: str) -> DatasetError:
    return DatasetError(
        f"cannot download {remote.url} ({reason})",
        hint=f"on a machine with internet access, fetch that URL and place the file here with "
        f"`chatbot data add {dataset} PATH`",
    )
