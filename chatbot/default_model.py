"""The default bot: the bundled ``default`` config trained on the bundled corpus, once.

``chatbot process`` without ``--model`` or ``--config`` uses it. The first call trains it
(a few minutes on two CPU cores, with a progress bar) and saves it under the models directory;
later calls find it there. The folder name carries a hash of the config, the corpus and the
toolkit version, so editing any of them trains a fresh model instead of serving a stale one.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path

from chatbot import __version__
from chatbot.config import load_config, resolve_config_path
from chatbot.data.datasets import DEMO_DIR, load_corpus

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "default"


def models_dir() -> Path:
    """``$CHATBOT_MODELS_DIR``, else ``$XDG_CACHE_HOME`` (or ~/.cache)/korean-chatbot/models."""
    if os.environ.get("CHATBOT_MODELS_DIR"):
        return Path(os.environ["CHATBOT_MODELS_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "korean-chatbot" / "models"


def default_model_path() -> Path:
    """Where the default model for this config, corpus and toolkit version lives."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(resolve_config_path(DEFAULT_CONFIG).read_bytes())
    for path in sorted(DEMO_DIR.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(DEMO_DIR)).encode())
            digest.update(path.read_bytes())
    return models_dir() / f"default-{digest.hexdigest()[:12]}"


def ensure_default_model(progress: bool = True) -> Path:
    """The trained default model's directory, training and saving it first if needed.

    Two processes starting at once train it only once: the second waits on a lock file.
    """
    target = default_model_path()
    if (target / "manifest.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "manifest.json").is_file():
            _train(target, progress)
    return target


def _train(target: Path, progress: bool) -> None:
    from chatbot.pipeline import Pipeline

    spec = load_config(DEFAULT_CONFIG)
    logger.warning("training the default bot on the bundled corpus, once (a few minutes); "
                   "it is saved in %s", target)
    corpus = load_corpus(spec.training.datasets)
    pipeline = Pipeline.from_config(spec)
    pipeline.fit(corpus, workdir=target.parent / f".{target.name}.checkpoints", resume=True,
                 progress=progress)
    pipeline.save(target)
