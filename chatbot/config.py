"""Pipeline configs: YAML in, a validated :class:`PipelineSpec` out, before any work is done.

A config names its steps in order; each step's settings override the plugin's defaults::

    language: ko
    pipeline:
      - plugin: split.kss
        backend: fast
      - plugin: tokenize.kiwi
    training:
      datasets: [demo]

Every problem is collected and reported at once, each with its place: ``file:line: path``.
``--set KEY=VALUE`` overrides use ``training.seed=7``, ``pipeline.1.backend=mecab`` or
``split.kss.backend=mecab`` (a plugin's name, when it occurs once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chatbot.contract import Contract, known_names
from chatbot.errors import SHOWN_CHARS, ChatbotError, ConfigError, UnknownPluginError, shown
from chatbot.message import INPUT_FIELDS
from chatbot.plugin import Plugin, PluginConfig
from chatbot.registry import Registry, default_registry
from chatbot.safe_yaml import MAX_YAML_BYTES, YamlLimitError, load_bounded

Location = tuple[str | int, ...]
TOP_LEVEL_KEYS = ("language", "pipeline", "training")


class TrainingConfig(BaseModel):
    """How ``chatbot train`` runs: which datasets, where, with which precision and seed."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[str] = ["demo"]
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    seed: int = Field(42, ge=0, le=2**32 - 1)
    # torch's CPU threads while training: "auto" is measured to hold up on shared cores
    # (benchmarks/contention.py); a number sets it.
    threads: Literal["auto"] | Annotated[int, Field(ge=1, le=256)] = "auto"


@dataclass
class Step:
    """One validated pipeline step: the plugin class and its settings."""

    plugin: type[Plugin]
    config: PluginConfig


@dataclass
class PipelineSpec:
    """A validated pipeline config."""

    steps: list[Step]
    language: str = "ko"
    training: TrainingConfig = field(default_factory=TrainingConfig)
    source: str = "<config>"

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (every setting, defaults included), ready to dump as YAML."""
        return {
            "language": self.language,
            "pipeline": [
                {"plugin": step.plugin.name, **step.config.model_dump(mode="json")}
                for step in self.steps
            ],
            "training": self.training.model_dump(mode="json"),
        }


PRETRAIN_PREFIX = "pretrain_"  # bundled configs of `chatbot pretrain`, not pipelines


def bundled_config_names(pretrain: bool = False) -> list[str]:
    """Names of the pipeline configs shipped in ``configs/`` (usable as ``--config NAME``), or
    with ``pretrain`` those of ``chatbot pretrain``."""
    folder = resources.files("chatbot_configs")
    names = (p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))
    return sorted(name for name in names if name.startswith(PRETRAIN_PREFIX) == pretrain)


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file path, or the bundled config of that name (``default``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = resources.files("chatbot_configs") / f"{name_or_path}.yaml"
    if bundled.is_file():
        return Path(str(bundled))
    raise ChatbotError(
        f"config {str(name_or_path)!r} not found",
        hint=f"give a YAML file path, or one of the bundled configs: "
        f"{', '.join(bundled_config_names())}",
    )


def load_config(
    name_or_path: str | Path,
    overrides: list[str] | None = None,
    registry: Registry | None = None,
) -> PipelineSpec:
    """Read, override and validate a config file. Raises ConfigError listing every problem."""
    path = resolve_config_path(name_or_path)
    return parse_config(read_config_text(path), str(path), overrides, registry)


def read_config_text(path: Path) -> str:
    """A config file's text: bounded in size and UTF-8, or a ConfigError naming the file."""
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise ConfigError(str(path), [
            f"{path}: {size:,} bytes is over the limit of {MAX_YAML_BYTES:,} for a config"
        ])
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(str(path), [
            f"{path}:{line}: not UTF-8 text ({error.reason}); save the config as UTF-8 "
            "(e.g. iconv -f cp949 -t utf-8)"
        ]) from None


def parse_config(
    text: str,
    source: str = "<config>",
    overrides: list[str] | None = None,
    registry: Registry | None = None,
) -> PipelineSpec:
    """Validate config YAML text; ``source`` names it in error messages."""
    try:
        parsed = load_bounded(text)
    except YamlLimitError as error:
        where = f"{source}:{error.line}" if error.line else source
        raise ConfigError(source, [f"{where}: {error.problem}"]) from None
    return _Validator(source, parsed.data, parsed.lines, registry or default_registry()).run(
        overrides or []
    )


def _dotted(path: Location) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Validator:
    """Collects every problem of one config, each with its file line or --set source."""

    def __init__(
        self, source: str, data: Any, lines: dict[Location, int], registry: Registry
    ) -> None:
        self.source = source
        self.data = data if data is not None else {}
        self.lines = lines
        self.registry = registry
        self.from_overrides: dict[Location, str] = {}
        self.problems: list[str] = []

    def where(self, path: Location) -> str:
        for length in range(len(path), -1, -1):
            prefix = path[:length]
            if prefix in self.from_overrides:
                override = self.from_overrides[prefix]
                return f"--set {override if len(override) <= SHOWN_CHARS else shown(override)}"
            if prefix in self.lines:
                return f"{self.source}:{self.lines[prefix]}"
        return self.source

    def problem(self, path: Location, text: str) -> None:
        label = f"{_dotted(path)}: " if path else ""
        self.problems.append(f"{self.where(path)}: {label}{text}")

    def run(self, overrides: list[str]) -> PipelineSpec:
        if not isinstance(self.data, dict):
            raise ConfigError(self.source, [f"{self.source}: the config must be a YAML mapping"])
        for override in overrides:
            self.apply_override(override)
        for key in self.data:
            if key not in TOP_LEVEL_KEYS:
                self.problem((key,), f"unknown key; expected one of {', '.join(TOP_LEVEL_KEYS)}")
        steps = self.validate_steps()
        training = self.validate_training()
        language = self.data.get("language", "ko")
        if language != "ko":
            self.problem(("language",), f"only 'ko' is supported, not {language!r}")
        if self.problems:
            raise ConfigError(self.source, self.problems)
        return PipelineSpec(steps=steps, language=language, training=training, source=self.source)

    def validate_steps(self) -> list[Step]:
        raw_steps = self.data.get("pipeline")
        if not isinstance(raw_steps, list) or not raw_steps:
            self.problem(("pipeline",), "must be a non-empty list of steps (- plugin: NAME)")
            return []
        steps: list[Step] = []
        available = set(INPUT_FIELDS)
        earlier: list[type[Plugin]] = []
        unknown_step_seen = False  # after one, "requires" errors would only be noise
        environment_checked: set[str] = set()
        for index, raw in enumerate(raw_steps):
            path: Location = ("pipeline", index)
            if not isinstance(raw, dict) or not isinstance(raw.get("plugin"), str):
                self.problem(path, "each step must be a mapping with a 'plugin: NAME' key")
                continue
            settings = {key: value for key, value in raw.items() if key != "plugin"}
            try:
                plugin = self.registry.get(raw["plugin"])
            except UnknownPluginError as error:
                self.problem((*path, "plugin"), error.message)
                unknown_step_seen = True
                continue
            config = self.validate_settings(plugin, settings, path)
            contract = (plugin.contract(config) if config is not None
                        else Contract(requires=plugin.requires, assigns=plugin.assigns))
            self.check_names(plugin, contract, path)
            if not unknown_step_seen:
                self.check_requirements(plugin, contract, available, earlier, settings, path)
            available.update(contract.assigns)
            earlier.append(plugin)
            if plugin.name not in environment_checked:
                environment_checked.add(plugin.name)
                for error in plugin.check_environment():
                    self.problem((*path, "plugin"), str(error))
            if config is not None:
                steps.append(Step(plugin, config))
        return steps

    def check_names(self, plugin: type[Plugin], contract: Contract, path: Location) -> None:
        """A plugin may only read and write Message fields and declared extras."""
        unknown = sorted(set(contract.requires + contract.assigns)
                         - known_names(plugin.extras))
        if unknown:
            self.problem((*path, "plugin"), f"{plugin.name} declares {', '.join(unknown)}, "
                         "which are neither Message fields nor declared extras; the plugin "
                         "must declare its own extras' payload types (Plugin.extras)")

    def writers(self, name: str) -> str:
        """The installed plugins that can write ``name``, as `` (a, b assign it)`` for an
        error message. Used on errors only, since it imports every plugin."""
        self.registry.load_all()
        writers = sorted(n for n, cls in self.registry.plugins.items() if name in cls.assigns)
        if not writers:
            return ""
        return f" ({', '.join(writers)} {'assigns' if len(writers) == 1 else 'assign'} it)"

    def check_requirements(self, plugin: type[Plugin], contract: Contract, available: set[str],
                           earlier: list[type[Plugin]], settings: dict[str, Any],
                           path: Location) -> None:
        """What the step reads is written by an earlier step; what it needs, one has."""
        for name in contract.requires:
            if name in available:
                continue
            reason = contract.because.get(name)
            setting = reason.partition(":")[0] if reason else None
            where = (*path, setting) if setting in settings else (*path, "plugin")
            why = f" (because of {reason})" if reason else ""
            self.problem(where, f"{plugin.name} requires {name}{why}, which no earlier step "
                         f"assigns; add a step that assigns it before this one{self.writers(name)}"
                         + (f", or change {setting}" if setting else ""))
        for need in contract.needs:
            if not any(issubclass(cls, need.capability) for cls in earlier):
                setting = need.because.partition(":")[0]
                where = (*path, setting) if setting in settings else (*path, "plugin")
                self.problem(where, f"{plugin.name} needs an earlier step that has "
                             f"{need.capability.__name__} (because of {need.because}), and "
                             "none does; add one before this step, or change " + setting)

    def validate_settings(
        self, plugin: type[Plugin], settings: dict[str, Any], path: Location
    ) -> PluginConfig | None:
        try:
            return plugin.Config.model_validate(settings)
        except ValidationError as error:
            known = ", ".join(plugin.Config.model_fields) or "none"
            for item in error.errors():
                where = (*path, *item["loc"])
                if item["type"] == "extra_forbidden":
                    self.problem(
                        where, f"unknown setting for {plugin.name}; its settings are: {known}"
                    )
                else:
                    self.problem(where, f"{item['msg']} (got {shown(item.get('input'))})")
            return None

    def validate_training(self) -> TrainingConfig:
        try:
            return TrainingConfig.model_validate(self.data.get("training") or {})
        except ValidationError as error:
            for item in error.errors():
                path = ("training", *item["loc"])
                if item["type"] == "extra_forbidden":
                    known = ", ".join(TrainingConfig.model_fields)
                    self.problem(path, f"unknown setting; training settings are: {known}")
                else:
                    self.problem(path, f"{item['msg']} (got {shown(item.get('input'))})")
            return TrainingConfig()

    def apply_override(self, override: str) -> None:
        key, sep, raw_value = override.partition("=")
        if not sep or not key:
            self.problems.append(f"--set {shown(override)}: expected KEY=VALUE")
            return
        try:
            value = load_bounded(raw_value).data
        except YamlLimitError as error:
            if error.problem.startswith("not valid YAML"):
                value = raw_value  # a plain string that YAML cannot read, e.g. "a: b: c"
            else:
                self.problems.append(f"--set {shown(key)}: the value is {error.problem}")
                return
        path = self.override_path(key)
        if path is None:
            self.problems.append(
                f"--set {shown(key)}: no such setting; use training.KEY, language, "
                f"pipeline.N.KEY or PLUGIN.KEY with a plugin that is in the pipeline"
            )
            return
        target: Any = self.data
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if isinstance(target, dict):
                if last:
                    target[part] = value
                else:
                    if part not in target:  # made by this override: errors in it point here
                        self.from_overrides[path[: depth + 1]] = override
                    target = target.setdefault(part, {})
            elif isinstance(target, list) and isinstance(part, int) and part < len(target):
                if last:
                    target[part] = value
                else:
                    target = target[part]
            else:
                parent = ".".join(str(p) for p in path[:depth]) or "the config"
                if isinstance(target, list):
                    reason = (f"{parent} is a list of {len(target)} item(s), numbered from 0, "
                              f"so it has no item {part!r}")
                else:
                    reason = (f"{parent} is a {type(target).__name__} ({shown(target)}), so it "
                              f"has no setting {part!r}")
                self.problems.append(f"--set {shown(key)}: {reason}")
                return
        self.from_overrides[path] = override

    def override_path(self, key: str) -> Location | None:
        # ASCII digits only: "¹".isdigit() is true, yet int("¹") fails.
        parts: list[str | int] = [int(p) if p.isascii() and p.isdigit() else p
                                  for p in key.split(".")]
        steps = self.data.get("pipeline") if isinstance(self.data.get("pipeline"), list) else []
        if parts[0] in ("language", "training"):
            return tuple(parts)
        if parts[0] == "pipeline" and len(parts) == 3 and isinstance(parts[1], int):
            return ("pipeline", parts[1], parts[2]) if parts[1] < len(steps) else None
        names = key.split(".")
        for split_at in range(len(names) - 1, 0, -1):
            name, setting = ".".join(names[:split_at]), ".".join(names[split_at:])
            matches = [
                i for i, step in enumerate(steps) if isinstance(step, dict)
                and step.get("plugin") == name
            ]
            if len(matches) == 1 and "." not in setting:
                return ("pipeline", matches[0], setting)
        return None

