"""The plugin contract: everything a pipeline stage must be, in one short file.

A plugin declares its name, a pydantic settings schema with defaults, what it reads
(``requires``) and writes (``assigns``): Message fields and typed extras (see
:mod:`chatbot.contract`; :meth:`Plugin.contract` may make them depend on the settings), and the
optional packages it imports. It processes a batch of messages at a time. Trainable plugins
override ``fit``, ``save`` and ``load``; saved state is safe to load (JSON, safetensors or the
library's own format; never pickle).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from chatbot.contract import Contract
from chatbot.errors import ChatbotError, MissingPackageError
from chatbot.message import Message

if TYPE_CHECKING:
    from typing import Self

    from chatbot.data.corpus import Corpus

T = TypeVar("T")


class PluginConfig(BaseModel):
    """Base of every plugin's settings: unknown keys are errors, not silently ignored."""

    # allow_inf_nan=False: a NaN or infinite rate, threshold or weight is a config error.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Package:
    """An optional Python package a plugin imports: import name and the pip requirement."""

    module: str
    pip: str


@dataclass
class TrainContext:
    """What ``fit`` gets besides the corpus.

    Attributes:
        upstream: runs the already-fitted earlier steps of the pipeline over raw texts, so a
            plugin trains on what it will see at run time (normalized, spaced, tokenized text).
        seed: the run's random seed.
        device: auto | cpu | cuda | cuda:N | mps.
        precision: auto | fp32 | bf16 | fp16.
        workdir: where checkpoints go (one folder per plugin); None: no checkpoints.
        resume: continue from the checkpoints in ``workdir``.
        progress: show progress bars.
        earlier: the already-fitted plugins before this one, for plugins that build on another
            (a classifier initialised from embed.word2vec's vectors).
    """

    upstream: Callable[[Iterable[str]], list[Message]] = field(
        default=lambda texts: [Message(text) for text in texts]
    )
    seed: int = 42
    device: str = "cpu"
    precision: str = "auto"
    workdir: Path | None = None
    resume: bool = False
    progress: bool = False
    earlier: list[Plugin] = field(default_factory=list)


class Plugin:
    """Base class of every pipeline stage. Subclass it and set the class attributes."""

    name: ClassVar[str]  # "tokenize.kiwi": stable; bump ``version`` when behaviour changes
    version: ClassVar[int] = 1
    Config: ClassVar[type[PluginConfig]] = PluginConfig
    # What it reads and writes with its default settings: Message fields, or "extras.KEY".
    requires: ClassVar[tuple[str, ...]] = ("text",)
    assigns: ClassVar[tuple[str, ...]] = ()
    # Extras keys of its own (not in chatbot.contract.EXTRAS) and their payload types.
    extras: ClassVar[dict[str, Any]] = {}
    packages: ClassVar[tuple[Package, ...]] = ()
    trainable: ClassVar[bool] = False

    def __init__(self, config: PluginConfig) -> None:
        self.config = config
        self._earlier: list[Plugin] = []

    def bind(self, earlier: Sequence[Plugin]) -> None:
        """Called by the pipeline (and the contract kit) with the steps before this one, so
        that the plugin can use what its contract ``needs`` (see :meth:`provider`)."""
        self._earlier = list(earlier)

    @property
    def earlier_steps(self) -> list[Plugin]:
        """The steps before this one in its pipeline (empty until :meth:`bind`)."""
        return list(self._earlier)

    def provider(self, capability: type[T]) -> T:
        """The nearest earlier step that has ``capability``, a Protocol this plugin's contract
        ``needs`` (``chatbot validate`` has checked that one exists)."""
        for plugin in reversed(self._earlier):
            if isinstance(plugin, capability):
                return plugin
        raise ChatbotError(f"{self.name} needs an earlier step with {capability.__name__}, "
                           "and none was given to it",
                           hint="run it inside a pipeline (Pipeline binds each step to the "
                           "steps before it), or call plugin.bind(earlier_plugins)")

    @classmethod
    def summary(cls) -> str:
        """The first sentence of the class docstring (which may wrap): what the plugin does."""
        paragraph = (cls.__doc__ or "").strip().split("\n\n")[0]
        text = " ".join(line.strip() for line in paragraph.splitlines())
        end = text.find(". ")
        return text if end < 0 else text[: end + 1]

    @classmethod
    def contract(cls, config: PluginConfig) -> Contract:
        """What the plugin reads and writes with these settings (override when a setting
        changes it); ``chatbot validate`` checks the pipeline against it."""
        return Contract(requires=cls.requires, assigns=cls.assigns)

    @classmethod
    def check_environment(cls) -> list[ChatbotError]:
        """Problems that stop this plugin from running here (missing packages, no JVM...)."""
        return [
            MissingPackageError(cls.name, package.module, package.pip)
            for package in cls.packages
            if importlib.util.find_spec(package.module) is None
        ]

    def fit(self, corpus: Corpus, context: TrainContext) -> None:
        """Learn from a corpus. Untrainable plugins do nothing."""

    def process(self, messages: list[Message]) -> list[Message]:
        """Fill this plugin's ``assigns`` fields on every message of the batch; return them."""
        raise NotImplementedError

    def save(self, path: Path) -> None:
        """Write learned state into the (existing, empty) directory ``path``."""

    @classmethod
    def load(cls, path: Path, config: PluginConfig) -> Self:
        """Rebuild the plugin from ``config`` and the state that ``save`` wrote in ``path``."""
        return cls(config)
