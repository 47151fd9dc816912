"""Every user-facing error of the toolkit, in one place.

Each error says what went wrong and what to do about it. The CLI prints ``str(error)`` and exits
non-zero; nothing else needs to be known about a ChatbotError to report it well.
"""

from __future__ import annotations

from typing import Any

SHOWN_CHARS = 60  # of a value from outside quoted back in a message


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A value from outside (a file, an override, a request) as an error message quotes it: its
    repr, cut to ``limit`` characters, so that a huge or hostile value cannot flood the message.
    """
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return "an integer of thousands of digits"
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


class ChatbotError(Exception):
    """Base class: a problem the user can fix. ``hint`` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(ChatbotError):
    """A pipeline config is invalid. ``problems`` holds one line per problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        super().__init__(f"invalid config {source} ({count}):\n{lines}")


class UnknownPluginError(ChatbotError):
    """A config or command names a plugin that no registry knows."""

    def __init__(self, name: str, known: list[str], closest: list[str]) -> None:
        ordered = closest + [n for n in known if n not in closest]
        suggestion = f" Did you mean {closest[0]!r}?" if closest else ""
        super().__init__(
            f"unknown plugin {name!r}.{suggestion} Known plugins: {', '.join(ordered)}",
            hint="run `chatbot plugins` to see every plugin with its settings",
        )
        self.name = name
        self.known = known


class PluginLoadError(ChatbotError):
    """A plugin is installed but its module failed to import."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"plugin {name!r} failed to load: {reason}",
                         hint="reinstall the package that provides it; `chatbot plugins` "
                         "lists every plugin that fails to load")
        self.name = name


class MissingPackageError(ChatbotError):
    """An optional package that a plugin needs is not installed."""

    def __init__(self, plugin: str, package: str, pip_name: str) -> None:
        super().__init__(
            f"plugin {plugin!r} needs the Python package {package!r}, which is not installed",
            hint=f"install it with: pip install {pip_name}",
        )
        self.pip_name = pip_name


class MissingJavaError(ChatbotError):
    """konlpy taggers run on the JVM and no Java runtime was found."""

    def __init__(self, plugin: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"plugin {plugin!r} runs konlpy, which needs a Java runtime, and none was found{extra}",
            hint=(
                "install a JDK (Debian/Ubuntu: `sudo apt-get install -y default-jdk`; macOS: "
                "`brew install openjdk`) or set JAVA_HOME; or use tokenize.kiwi / tokenize.mecab, "
                "which need no Java"
            ),
        )


class NotFittedError(ChatbotError):
    """A trainable plugin was asked to process before it was trained."""

    def __init__(self, plugin: str) -> None:
        super().__init__(
            f"plugin {plugin!r} learns from a corpus and has not been trained",
            hint="train the pipeline first: chatbot train CONFIG --out DIR, then use --model DIR",
        )


class ModelLoadError(ChatbotError):
    """A saved pipeline directory is missing, corrupt, incomplete or incompatible."""

    def __init__(self, path: str, reason: str, hint: str | None = None) -> None:
        super().__init__(
            f"cannot load the pipeline in {path}: {reason}",
            hint=hint or "retrain it with `chatbot train CONFIG --out DIR`, or point --model "
            "at another directory",
        )


class InputError(ChatbotError):
    """A message cannot be processed as it is (empty, too long, binary)."""


class UnknownTurnError(ChatbotError):
    """Feedback names a turn the dialog log does not hold."""


class DatasetError(ChatbotError):
    """A dataset is unknown, missing or malformed; the message names the file and line."""
