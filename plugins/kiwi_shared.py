"""One Kiwi analyser per process, shared by the Kiwi splitter, spacer and tokenizer.

Building ``Kiwi()`` takes about a second and a hundred MB, so the plugins share one instance per
distinct setting instead of each building its own.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chatbot.plugin import Package

KIWI_PACKAGE = Package("kiwipiepy", "kiwipiepy")


def get_kiwi(typos: str | None = None, num_workers: int = -1) -> Any:
    """The shared ``kiwipiepy.Kiwi`` for these settings (built on first use)."""
    # Positional and complete, so get_kiwi() and get_kiwi(None) share one cache entry (and one
    # Kiwi): lru_cache keys on the arguments as written.
    return _build_kiwi(typos, num_workers)


@lru_cache(maxsize=4)
def _build_kiwi(typos: str | None, num_workers: int) -> Any:
    from kiwipiepy import Kiwi

    return Kiwi(num_workers=num_workers, typos=typos)
