"""The corpus written by this project (the ``demo`` dataset) and recipes for public corpora."""

from pathlib import Path

DEMO_DIR = Path(__file__).parent / "demo"
