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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from chatbot import __version__
from chatbot.config import PipelineSpec, Step, parse_config, read_config_text
from chatbot.contract import Contract
from chatbot.data.corpus import Corpus
from chatbot.errors import ChatbotError, InputError, ModelLoadError, shown
from chatbot.message import MAX_HISTORY, Exchange, Message
from chatbot.plugin import Plugin, TrainContext
from chatbot.registry import Registry
from chatbot.text_input import MAX_MESSAGE_CHARS, prepare_text

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 1 << 20
# Versions recorded in the manifest, so a model can be traced to what produced it.
RECORDED_PACKAGES = (
    "torch", "kss", "kiwipiepy", "python-mecab-ko", "konlpy", "soynlp", "soyspacing",
    "sentencepiece", "pydantic",
)


@dataclass
class Failure:
    """An input that could not be processed, and why (said so that a user can act on it)."""

    error: str


class Pipeline:
    """An ordered list of plugin instances and the spec they were built from."""

    def __init__(self, spec: PipelineSpec, plugins: list[Plugin] | None = None) -> None:
        self.spec = spec
        self.plugins = plugins if plugins is not None else [
            step.plugin(step.config) for step in spec.steps
        ]
        for index, plugin in enumerate(self.plugins):
            plugin.bind(self.plugins[:index])

    @classmethod
    def from_config(cls, spec: PipelineSpec) -> Pipeline:
        """Build every plugin of a validated config (untrained)."""
        return cls(spec)

    @property
    def names(self) -> list[str]:
        return [plugin.name for plugin in self.plugins]

    @property
    def contracts(self) -> list[Contract]:
        """What each step reads and writes, with its settings."""
        return [step.plugin.contract(step.config) for step in self.spec.steps]

    def writers_of(self, name: str) -> list[str]:
        """The steps that write ``name`` (a Message field or ``extras.KEY``), in order."""
        return [step.plugin.name for step, contract in zip(self.spec.steps, self.contracts,
                                                            strict=True)
                if name in contract.assigns]

    # -- running -----------------------------------------------------------------------------

    def process(self, messages: list[Message]) -> list[Message]:
        """Run every plugin over the batch; each message records its share of each plugin's time."""
        return self._run(self.plugins, messages)

    def warm_up(self) -> None:
        """Process a short message twice so that models load now, not in a user's first turn.

        For long-lived processes (serve, chat); a one-shot command loses nothing by loading on
        its first message. Twice, because Kiwi keeps the interpreter busy for about 25 ms
        after the first call of each of its functions returns (lazy loading), which would land
        in the next message.
        """
        for _ in range(2):
            self.process([Message("안녕하세요ㅋㅋㅋㅋ 반가워요!! 😊 ok 3시에 봐요")])

    def process_texts(self, texts: Iterable[str]) -> list[Message]:
        """Check and process raw texts as one batch (see :func:`prepare_text`).

        Raises:
            InputError: a text cannot be processed; it names which one and why.
        """
        texts = list(texts)
        batch = []
        for index, text in enumerate(texts, start=1):
            try:
                batch.append(Message(prepare_text(text)))
            except InputError as error:
                raise InputError(f"text {index} of {len(texts)}: {error.message}",
                                 hint=error.hint) from None
        return self.process(batch)

    def process_each(self, texts: Sequence[str | bytes],
                     max_chars: int = MAX_MESSAGE_CHARS,
                     histories: Sequence[Sequence[Exchange]] | None = None,
                     ) -> list[Message | Failure]:
        """Process texts as one batch without letting one bad text sink the others.

        The one policy for every front end (``chatbot process``, the server, ``chatbot eval``):
        a text that cannot be read (not UTF-8, empty, too long, binary; see
        :func:`prepare_text`) becomes a :class:`Failure` at once. When a plugin raises on the
        batch, every text is processed again alone, from a fresh message (a half-processed
        one may hold a failed plugin's partial output), so only the texts that fail alone
        fail. Results come in the order of ``texts``. ``histories`` gives each text the
        conversation before it (its last :data:`MAX_HISTORY` turns are kept); none: each text
        starts a conversation.
        """
        if histories is None:
            histories = [()] * len(texts)
        if len(histories) != len(texts):
            raise ValueError(f"{len(histories)} histories for {len(texts)} texts")
        histories = [list(history)[-MAX_HISTORY:] for history in histories]
        results: list[Message | Failure] = []
        for text, history in zip(texts, histories, strict=True):
            try:
                decoded = text.decode("utf-8") if isinstance(text, bytes) else text
                results.append(Message(prepare_text(decoded, max_chars), history=history))
            except UnicodeDecodeError:
                results.append(Failure("not valid UTF-8 text"))
            except InputError as error:
                results.append(Failure(error.message))
        ready = [index for index, result in enumerate(results) if isinstance(result, Message)]
        try:
            self.process([results[index] for index in ready])
        except Exception as error:  # noqa: BLE001 - retried alone, so one bad text fails alone
            if len(ready) == 1:
                results[ready[0]] = _failure(error)
                return results
            logger.warning("a batch of %d failed; processing its texts one at a time",
                           len(ready))
            for index in ready:
                try:
                    results[index] = self.process([Message(results[index].text,
                                                           history=histories[index])])[0]
                except Exception as alone:  # noqa: BLE001 - this text's failure
                    results[index] = _failure(alone)
        return results

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
            progress: show progress bars: one over the trainable steps ("step 3/8", elapsed
                and a rough time left), and each plugin's own below it.
        """
        from tqdm import tqdm

        from chatbot.training import distributed
        from chatbot.training.loop import seed_everything
        from chatbot.training.threads import apply_thread_policy

        training = self.spec.training
        apply_thread_policy(training.threads)
        trainable = [plugin for plugin in self.plugins if plugin.trainable]
        steps = tqdm(total=len(trainable), desc="training", unit="step", dynamic_ncols=True,
                     disable=not (progress and trainable and distributed.is_main()),
                     bar_format="{desc} {n_fmt}/{total_fmt} steps [{elapsed}<{remaining}]")
        with steps:
            for index, plugin in enumerate(self.plugins):
                upstream = self.plugins[:index]

                def run_upstream(texts: Iterable[str], _upstream: list[Plugin] = upstream) -> list:
                    return self._run(_upstream, [Message(text) for text in texts])

                if plugin.trainable:
                    steps.set_description(f"training {plugin.name}")
                    logger.info("fitting %s on %s (%d items)", plugin.name, corpus.name,
                                len(corpus))
                # Seeded per plugin, before it builds its model: initial weights are
                # reproducible and do not depend on what the plugins before it consumed.
                seed_everything(training.seed)
                plugin.fit(corpus, TrainContext(
                    upstream=run_upstream, seed=training.seed, device=training.device,
                    precision=training.precision, workdir=workdir, resume=resume,
                    progress=progress, earlier=upstream,
                ))
                if plugin.trainable:
                    steps.update(1)

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
            raise ModelLoadError(str(directory), "no such directory", hint=(
                f"train one with `chatbot train CONFIG --out {directory}`, or use "
                "`--model default` for the default bot"))
        manifest = _read_manifest(directory)
        config_path = directory / "config.yaml"
        try:
            # Bounded and UTF-8 (read_config_text), like any config, before it is parsed.
            spec = parse_config(read_config_text(config_path), str(config_path),
                                registry=registry)
        except FileNotFoundError:
            raise ModelLoadError(str(directory), "config.yaml is missing") from None
        except OSError as error:
            raise ModelLoadError(str(directory),
                                 f"config.yaml cannot be read ({error.strerror})") from None
        except ChatbotError as error:
            reason = f"its config is not valid here:\n{error}"
            raise ModelLoadError(str(directory), reason) from None
        saved_steps = manifest["steps"]
        if [entry["plugin"] for entry in saved_steps] != [s.plugin.name for s in spec.steps]:
            raise ModelLoadError(str(directory), "manifest.json and config.yaml list other steps")
        plugins = [
            _load_step(directory, index, step, entry)
            for index, (step, entry) in enumerate(zip(spec.steps, saved_steps, strict=True))
        ]
        from chatbot.training.threads import apply_thread_policy

        apply_thread_policy(spec.training.threads)  # answering shares the cores like training
        return cls(spec, plugins)


def _failure(error: Exception) -> Failure:
    logger.error("the pipeline failed on a message", exc_info=error)
    return Failure(f"{type(error).__name__}: {error}")


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _read_manifest(directory: Path) -> dict[str, Any]:
    """manifest.json, its structure checked: every step an object with a string ``plugin``, a
    whole-number ``version`` and a string ``state``."""
    path = directory / "manifest.json"
    if not path.is_file():
        raise ModelLoadError(str(directory), "manifest.json is missing: not a saved pipeline")
    if path.stat().st_size > MAX_MANIFEST_BYTES:  # a real one is a few hundred bytes
        raise ModelLoadError(str(directory), f"manifest.json is over {MAX_MANIFEST_BYTES:,} "
                             "bytes: not a manifest this toolkit wrote")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # JSON, UTF-8, an integer too long
        raise ModelLoadError(str(directory), f"manifest.json is corrupt ({error})") from None
    if not isinstance(manifest, dict):
        raise ModelLoadError(str(directory), "manifest.json is corrupt (not a JSON object)")
    saved_format = manifest.get("format")
    if isinstance(saved_format, bool) or saved_format != FORMAT_VERSION:
        toolkit = manifest.get("toolkit_version", "?")
        toolkit = toolkit[:40] if isinstance(toolkit, str) else shown(toolkit)
        raise ModelLoadError(
            str(directory),
            f"it was saved in format {shown(saved_format)} (by toolkit {toolkit}); "
            f"this toolkit reads format {FORMAT_VERSION}",
        )
    steps = manifest.get("steps")
    if not isinstance(steps, list):
        raise ModelLoadError(str(directory), "manifest.json is corrupt (no list of steps)")
    expected = {"plugin": str, "version": int, "state": str}
    for number, entry in enumerate(steps, start=1):
        if not isinstance(entry, dict):
            raise ModelLoadError(
                str(directory), f"manifest.json is corrupt (step {number} is "
                f"{shown(entry)}, not an object with plugin, version and state)")
        for key, kind in expected.items():
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ModelLoadError(
                    str(directory), f"manifest.json is corrupt (the {key} of step {number} "
                    f"is {shown(value)}, not a {'whole number' if kind is int else 'string'})")
    return manifest


def _load_step(directory: Path, index: int, step: Step, entry: dict[str, Any]) -> Plugin:
    """Load the plugin of step ``index`` from its own folder, ``steps/NN-NAME``: a state that
    points anywhere else (another step's folder, outside the model) is refused."""
    plugin = step.plugin
    if entry["version"] != plugin.version:
        raise ModelLoadError(
            str(directory),
            f"{plugin.name} was saved by version {shown(entry['version'])} of the plugin; "
            f"the installed one is version {plugin.version}",
        )
    relative = f"steps/{index:02d}-{plugin.name}"
    if entry["state"] != relative:
        raise ModelLoadError(
            str(directory), f"manifest.json gives step {index + 1} ({plugin.name}) the state "
            f"{shown(entry['state'])}; a saved pipeline keeps it in {relative}")
    state = directory / relative
    if not state.is_dir():
        raise ModelLoadError(str(directory), f"the state of {plugin.name} ({state}) is missing")
    if state.resolve() != directory.resolve() / relative:
        raise ModelLoadError(
            str(directory), f"the state of {plugin.name} ({relative}) is a link to a folder "
            "elsewhere; a saved pipeline keeps its steps inside its own folder")
    try:
        return plugin.load(state, step.config)
    except ChatbotError:
        raise
    except Exception as error:  # a corrupt file can fail in any library; name the step
        raise ModelLoadError(
            str(directory), f"the state of {plugin.name} in {state} is corrupt: {error}"
        ) from error
