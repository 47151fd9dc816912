"""The pipeline: build plugins from a config, fit them in order, process batches, save, load.

A saved pipeline is one directory::

    config.yaml        the resolved config (every setting, defaults included)
    manifest.json      format version, toolkit and package versions, the steps and their state
    steps/NN-NAME/     each plugin's saved state (JSON, safetensors, library formats; no pickle)
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from chatbot import __version__
from chatbot.config import PipelineSpec, Step, parse_config
from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError, InputError, ModelLoadError
from chatbot.message import Message
from chatbot.plugin import Plugin, TrainContext
from chatbot.registry import Registry
from chatbot.training.loop import seed_everything

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_MESSAGE_CHARS = 2000
# Versions recorded in the manifest, so a model can be traced to what produced it.
RECORDED_PACKAGES = (
    "torch", "kss", "kiwipiepy", "python-mecab-ko", "konlpy", "soynlp", "soyspacing",
    "sentencepiece", "pydantic",
)


def check_text(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> None:
    """Reject what no plugin should be asked to process: empty, oversized or binary input."""
    if not text.strip():
        raise InputError("the message is empty", hint="type some text")
    if len(text) > max_chars:
        raise InputError(
            f"the message is {len(text):,} characters long; the limit is {max_chars:,}",
            hint="split it into shorter messages",
        )
    junk = sum(
        1 for char in text
        if char == "\ufffd" or (unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn")
                                and char not in "\t\n\r")
    )
    if "\x00" in text or junk > max(2, len(text) // 10):
        raise InputError(
            "the message looks like binary data, not text",
            hint="send UTF-8 text; control characters and undecodable bytes are not accepted",
        )


class Pipeline:
    """An ordered list of plugin instances and the spec they were built from."""

    def __init__(self, spec: PipelineSpec, plugins: list[Plugin] | None = None) -> None:
        self.spec = spec
        self.plugins = plugins if plugins is not None else [
            step.plugin(step.config) for step in spec.steps
        ]

    @classmethod
    def from_config(cls, spec: PipelineSpec) -> Pipeline:
        """Build every plugin of a validated config (untrained)."""
        return cls(spec)

    @property
    def names(self) -> list[str]:
        return [plugin.name for plugin in self.plugins]

    # -- running -----------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        """Run every plugin over the batch; each message records its share of each plugin's time."""
        return self._run(self.plugins, messages)

    def warm_up(self) -> None:
        """Process a short message twice so that models load now, not in a user's first turn.

        Twice, because Kiwi keeps the interpreter busy for about 25 ms after the first call of
        each of its functions returns (lazy loading), which would land in the next message.
        """
        for _ in range(2):
            self.process([Message("안녕하세요ㅋㅋㅋㅋ 반가워요!! 😊 ok 3시에 봐요")])

    def process_texts(self, texts: Iterable[str]) -> list[Message]:
        """Check and process raw texts as one batch."""
        batch = []
        for text in texts:
            check_text(text)
            batch.append(Message(text))
        return self.process(batch)

    @staticmethod
    def _run(plugins: list[Plugin], messages: list[Message]) -> list[Message]:
        if not messages:
            return messages
        for plugin in plugins:
            started = time.perf_counter()
            messages = plugin.process(messages)
            share_ms = (time.perf_counter() - started) * 1000 / len(messages)
            for message in messages:
                message.timings_ms[plugin.name] = share_ms
        return messages

    # -- training ----------------------------------------------------------------------------

    def fit(
        self,
        corpus: Corpus,
        workdir: Path | None = None,
        resume: bool = False,
        progress: bool = False,
    ) -> None:
        """Fit every plugin in order; each trains on the output of the fitted ones before it.

        Args:
            corpus: the training data (each plugin makes its own dev split from it).
            workdir: where training checkpoints go; None keeps none.
            resume: continue from the checkpoints in ``workdir``.
            progress: show progress bars.
        """
        training = self.spec.training
        for index, plugin in enumerate(self.plugins):
            upstream = self.plugins[:index]

            def run_upstream(texts: Iterable[str], _upstream: list[Plugin] = upstream) -> list:
                return self._run(_upstream, [Message(text) for text in texts])

            if plugin.trainable:
                logger.info("fitting %s on %s (%d items)", plugin.name, corpus.name, len(corpus))
            # Seeded per plugin, before it builds its model: initial weights are reproducible
            # and do not depend on what the plugins before it consumed.
            seed_everything(training.seed)
            plugin.fit(corpus, TrainContext(
                upstream=run_upstream, seed=training.seed, device=training.device,
                precision=training.precision, workdir=workdir, resume=resume,
                progress=progress, earlier=upstream,
            ))

    # -- persistence -------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the pipeline to ``directory`` (replaced whole, never left half-written)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            steps = []
            for index, plugin in enumerate(self.plugins):
                relative = f"steps/{index:02d}-{plugin.name}"
                (staging / relative).mkdir(parents=True)
                plugin.save(staging / relative)
                steps.append({"plugin": plugin.name, "version": plugin.version, "state": relative})
            manifest = {
                "format": FORMAT_VERSION,
                "toolkit_version": __version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "packages": _package_versions(),
                "steps": steps,
            }
            (staging / "manifest.json").write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            (staging / "config.yaml").write_text(
                yaml.safe_dump(self.spec.to_dict(), allow_unicode=True, sort_keys=False),
                encoding="utf-8",
            )
            if directory.exists():
                shutil.rmtree(directory)
            staging.rename(directory)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return directory

    @classmethod
    def load(cls, directory: str | Path, registry: Registry | None = None) -> Pipeline:
        """Load a saved pipeline; corrupt, incomplete or incompatible ones raise ModelLoadError."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ModelLoadError(str(directory), "no such directory")
        manifest = _read_manifest(directory)
        try:
            config_text = (directory / "config.yaml").read_text(encoding="utf-8")
            spec = parse_config(config_text, str(directory / "config.yaml"), registry=registry)
        except FileNotFoundError:
            raise ModelLoadError(str(directory), "config.yaml is missing") from None
        except ChatbotError as error:
            reason = f"its config is not valid here:\n{error}"
            raise ModelLoadError(str(directory), reason) from None
        saved_steps = manifest["steps"]
        if [entry.get("plugin") for entry in saved_steps] != [s.plugin.name for s in spec.steps]:
            raise ModelLoadError(str(directory), "manifest.json and config.yaml list other steps")
        plugins = [
            _load_step(directory, step, entry)
            for step, entry in zip(spec.steps, saved_steps, strict=True)
        ]
        return cls(spec, plugins)


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    if not path.is_file():
        raise ModelLoadError(str(directory), "manifest.json is missing: not a saved pipeline")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(str(directory), f"manifest.json is corrupt ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("steps"), list):
        raise ModelLoadError(str(directory), "manifest.json is corrupt (no list of steps)")
    if manifest.get("format") != FORMAT_VERSION:
        raise ModelLoadError(
            str(directory),
            f"it was saved in format {manifest.get('format')!r} (by toolkit "
            f"{manifest.get('toolkit_version', '?')}); this toolkit reads format {FORMAT_VERSION}",
        )
    return manifest


def _load_step(directory: Path, step: Step, entry: dict[str, Any]) -> Plugin:
    plugin = step.plugin
    if entry.get("version") != plugin.version:
        raise ModelLoadError(
            str(directory),
            f"{plugin.name} was saved by version {entry.get('version')} of the plugin; "
            f"the installed one is version {plugin.version}",
        )
    state = directory / str(entry.get("state", ""))
    if not state.is_dir():
        raise ModelLoadError(str(directory), f"the state of {plugin.name} ({state}) is missing")
    try:
        return plugin.load(state, step.config)
    except ChatbotError:
        raise
    except Exception as error:  # a corrupt file can fail in any library; name the step
        raise ModelLoadError(
            str(directory), f"the state of {plugin.name} in {state} is corrupt: {error}"
        ) from error
