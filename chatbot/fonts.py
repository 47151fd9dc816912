"""A Korean font for matplotlib figures (the attention heatmap, the evaluation report)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

# Debian's fonts-nanum. Added to matplotlib by path: its font cache may predate the package.
KOREAN_FONT_FILES = ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
                     "/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf")


@functools.cache
def korean_font() -> str | None:
    """The family name of a Korean font matplotlib can use, or None (labels then show boxes).
    Looked up once per process: adding a font parses the whole file."""
    from matplotlib import font_manager

    for path in KOREAN_FONT_FILES:
        if Path(path).is_file():
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    logger.warning("no Korean font found; install fonts-nanum (Debian) for readable figures")
    return None


def korean_font_file() -> Path | None:
    """The file of :func:`korean_font`, or None."""
    return next((Path(p) for p in KOREAN_FONT_FILES if Path(p).is_file()), None)
