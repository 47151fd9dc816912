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
from collections.abc import Callable
from pathlib import Path

import chatbot_plugins
from chatbot import __version__
from chatbot.config import load_config, resolve_config_path
from chatbot.data.datasets import DEMO_DIR, load_corpus
from chatbot.errors import ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = "default"
DEFAULT_MODEL_NAME = "default"  # --model default: the default bot, wherever it is cached
_PLUGINS_DIR = Path(chatbot_plugins.__file__).parent
_TRAINING_DIR = Path(__file__).parent / "training"
# Measured on two idle cores (2 min 53 s of training, 3 min in all, 2026-12-02); said once,
# before training starts.
TRAINING_TIME = "about 3 minutes on 2 CPU cores"


def models_dir() -> Path:
    """``$CHATBOT_MODELS_DIR``, else ``$XDG_CACHE_HOME`` (or ~/.cache)/korean-chatbot/models."""
    if os.environ.get("CHATBOT_MODELS_DIR"):
        return Path(os.environ["CHATBOT_MODELS_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "korean-chatbot" / "models"


def default_model_path() -> Path:
    """Where the default model for this config, corpus, toolkit version and code lives."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(resolve_config_path(DEFAULT_CONFIG).read_bytes())
    # The code that trains and runs the model: the plugins and the training loop. A change to
    # either (an upgrade, a local edit) trains a fresh default bot instead of reusing one that
    # the code no longer makes.
    for root, pattern in ((DEMO_DIR, "*"), (_PLUGINS_DIR, "*.py"), (_TRAINING_DIR, "*.py")):
        for path in sorted(root.rglob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return models_dir() / f"default-{digest.hexdigest()[:12]}"


def model_directory(model: str, progress: bool = True,
                    notify: Callable[[str], None] = logger.warning) -> Path:
    """The directory ``--model`` names: ``default`` is the default bot (trained first if
    needed); anything else is a trained pipeline's directory, which must exist."""
    if model == DEFAULT_MODEL_NAME:
        return ensure_default_model(progress, notify)
    directory = Path(model)
    if not directory.is_dir():
        cached = default_model_path()
        where = f" (it is cached in {cached})" if (cached / "manifest.json").is_file() else ""
        raise ModelLoadError(model, "no such directory", hint=(
            f"train one with `chatbot train CONFIG --out {model}`, or use "
            f"`--model {DEFAULT_MODEL_NAME}` for the default bot{where}"))
    return directory


def ensure_default_model(progress: bool = True,
                         notify: Callable[[str], None] = logger.warning) -> Path:
    """The trained default model's directory, training and saving it first if needed.

    Two processes starting at once train it only once: the second waits on a lock file.
    ``notify`` gets a line before training starts and one when it is done (the CLI prints
    them).
    """
    target = default_model_path()
    if (target / "manifest.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "manifest.json").is_file():
            _train(target, progress, notify)
    return target


def _train(target: Path, progress: bool, notify: Callable[[str], None]) -> None:
    from chatbot.pipeline import Pipeline
    from chatbot.training.orchestrate import train_and_save

    spec = load_config(DEFAULT_CONFIG)
    notify(f"training the default bot on the bundled corpus, once ({TRAINING_TIME}); it is "
           f"saved in {target}")
    corpus = load_corpus(spec.training.datasets)
    # resume: an interrupted first run continues where it stopped.
    trained = train_and_save(Pipeline.from_config(spec), corpus, target, resume=True,
                             progress=progress)
    notify(f"trained the default bot in {trained.took}")
