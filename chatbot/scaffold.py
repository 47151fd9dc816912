"""``chatbot new-plugin``: the skeleton of an installable plugin package.

The package it writes installs with pip, registers its plugin under the ``chatbot.plugins``
entry point, and passes its own tests as generated (the contract kit of
:mod:`chatbot.testing`, a behaviour test, and a test that the toolkit finds it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from chatbot import __version__
from chatbot.errors import ChatbotError

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = {summary_toml}
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["korean-chatbot-toolkit>={toolkit_version}"]

[project.optional-dependencies]
test = ["pytest>=7.4"]

[project.entry-points."chatbot.plugins"]
"{name}" = "{module}.plugin:{cls}"

[tool.setuptools]
packages = ["{module}"]
'''

INIT = '''\
"""{summary}"""

from {module}.plugin import {cls}, {cls}Config

__all__ = ["{cls}", "{cls}Config"]
'''

PLUGIN = '''\
"""{name}: {summary}"""

from __future__ import annotations

from pydantic import Field

from chatbot.message import Message
from chatbot.plugin import Plugin, PluginConfig


class {cls}Config(PluginConfig):
    """The settings a config may give under `- plugin: {name}`."""

    replacements: dict[str, str] = Field(
        default_factory=lambda: {{"ㅎㅇ": "안녕", "ㄱㅅ": "감사"}},
        description="words to replace in the message, before → after",
    )


class {cls}(Plugin):
    """{summary}"""

    name = "{name}"
    version = 1  # bump when the output changes for the same input and settings
    Config = {cls}Config
    requires = ("text",)  # the Message fields it reads
    assigns = ("normalized",)  # the Message fields it writes

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.normalized if message.normalized is not None else message.text
            for before, after in self.config.replacements.items():
                text = text.replace(before, after)
            message.normalized = text
        return messages
'''

TESTS = '''\
"""{name}: the plugin contract, what it does, and that the toolkit finds it."""

from chatbot.config import parse_config
from chatbot.message import Message
from chatbot.pipeline import Pipeline
from chatbot.registry import default_registry
from chatbot.testing import check_plugin

from {module} import {cls}


def test_it_keeps_the_plugin_contract():
    check_plugin({cls})


def test_it_replaces_the_configured_words():
    plugin = {cls}({cls}.Config(replacements={{"ㅎㅇ": "안녕"}}))
    [message] = plugin.process([Message("ㅎㅇ 반가워요")])
    assert message.normalized == "안녕 반가워요"


def test_the_toolkit_finds_it_through_its_entry_point():
    assert default_registry().get("{name}") is {cls}
    spec = parse_config("pipeline:\\n  - plugin: {name}\\n")
    [message] = Pipeline.from_config(spec).process_texts(["ㄱㅅ합니다"])
    assert message.normalized == "감사합니다"
'''

README = '''\
# {distribution}

{summary}: a plugin for the Korean chatbot toolkit (`korean-chatbot-toolkit`).

The toolkit is not on PyPI: install this package into the toolkit's virtual environment
(activate it first; outside it pip reports "No matching distribution found for
korean-chatbot-toolkit").

```bash
source PATH/TO/THE/TOOLKIT/.venv/bin/activate
pip install -e ".[test]"       # installs it; the toolkit finds it through its entry point
chatbot plugins                # lists {name} with its settings
pytest                         # the contract kit (chatbot.testing) and its own tests
```

Use it in a config:

```yaml
pipeline:
  - plugin: {name}
    replacements: {{"ㅎㅇ": "안녕"}}
  - plugin: tokenize.kiwi
```

`{module}/plugin.py` holds the plugin: its settings (`{cls}Config`), the Message fields it
reads (`requires`) and writes (`assigns`), and `process`, which fills them on a whole batch.
A trainable plugin also sets `trainable = True` and overrides `fit`, `save` and `load` (save
with JSON or safetensors, never pickle). See the toolkit's docs/plugins.md.
'''


def scaffold(name: str, parent: Path, summary: str | None = None) -> Path:
    """Write the package of plugin ``name`` ("stage.name") under ``parent``; return its folder.

    Raises:
        ChatbotError: the name is not "stage.name", or the folder exists.
    """
    if not NAME_PATTERN.match(name):
        raise ChatbotError(f"plugin name {name!r} is not 'stage.name'",
                           hint="lowercase letters, digits and _ in two parts, e.g. style.polite"
                                " or mask.profanity")
    stage, short = name.split(".")
    # The summary lands in a docstring and in TOML: one line, no double quotes.
    summary = " ".join((summary or f"Replaces chat shorthand in Korean messages ({name})")
                       .replace('"', "'").split())
    values = {
        "name": name,
        "distribution": f"chatbot-{stage}-{short}".replace("_", "-"),
        "module": f"chatbot_{stage}_{short}",
        "cls": "".join(part.capitalize() for part in re.split("[._]", name)),
        "summary": summary,
        "summary_toml": json.dumps(summary, ensure_ascii=False),
        "toolkit_version": __version__,
    }
    root = parent / values["distribution"]
    if root.exists():
        raise ChatbotError(f"{root} already exists", hint="choose another --dir or name")
    files = {
        "pyproject.toml": PYPROJECT, "README.md": README,
        f"{values['module']}/__init__.py": INIT, f"{values['module']}/plugin.py": PLUGIN,
        "tests/test_plugin.py": TESTS,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
