"""A contract test kit for plugins: run it in a plugin's own tests.

Example (a plugin package's ``tests/test_contract.py``)::

    from chatbot.testing import check_plugin
    from my_plugin import Shout

    def test_shout_keeps_the_plugin_contract():
        check_plugin(Shout, {"marks": 2})

:func:`check_plugin` builds the plugin from its defaults (or the settings given), trains it on
a small corpus when it is trainable, and checks what every pipeline relies on:

- the class declares a dotted name, a summary, ``requires``/``assigns`` (its
  :meth:`~chatbot.plugin.Plugin.contract` with these settings) that are Message fields or
  declared extras, and settings whose defaults are valid and described;
- batch in equals batch out: the same messages, in the same order, as many as went in;
- the fields in ``assigns`` are really written (each on at least one message; ``reply``
  and extras only where the plugin chooses to, so they are exempt as long as the plugin
  writes something), and no other Message field or extras key is touched;
- every extras payload it writes has its declared type (``chatbot.contract``);
- a message processed alone gets the same result as in a batch;
- messy Korean chat (no spaces, emoji, jamo, Latin, blanks) goes through without an error;
- a trained plugin saved and loaded again answers the same.

Each failed check raises :class:`PluginContractError` saying which rule broke and how.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from chatbot.capabilities import CAPABILITIES
from chatbot.contract import EXTRAS_PREFIX, Contract, extra_key, known_names, payload_type
from chatbot.data.corpus import Corpus
from chatbot.message import MESSAGE_FIELDS, Message
from chatbot.plugin import Plugin, PluginConfig, TrainContext

# Real messages as people type them.
MESSY_KOREAN = (
    "아버지가방에들어가신다",
    "오늘날씨정말좋네요ㅋㅋㅋㅋ",
    "안녕하세여 머해용?? 😊👋",
    "내일 KTX 3시 반 표 예매했어 ok?",
    "ㅠㅠㅠㅠ 넘 힘들다...",
    "Hello 반가워요!",
    "ㅋ",
    "   ",
    "이거 진짜 최고다!!!!!!!!!!!!!!!! 강추합니다 https://example.com",
    "점심 뭐 먹지? 김치찌개 vs 된장찌개",
    "안녕하세요",
)
# Written only where a plugin chooses to (a responder declines what it cannot answer); so are
# extras (a trace only where there is something to show).
_CONDITIONAL = ("reply",)
# Fields that go with a declared one: whoever writes the reply says who and how sure.
_IMPLIED = {"reply": ("responder", "reply_confidence")}
# Fields whose contents depend on timing or are free-form notes, not results; extras are
# compared key by key (``extras.KEY``).
_NOT_RESULTS = ("timings_ms", "notes", "extras")


class PluginContractError(AssertionError):
    """A plugin broke a rule of the plugin contract; the message says which and how."""


def check_plugin(plugin_class: type[Plugin], settings: dict[str, Any] | None = None,
                 corpus: Corpus | None = None, upstream: Sequence[Plugin] = (),
                 texts: Sequence[str] = MESSY_KOREAN) -> Plugin:
    """Check that ``plugin_class`` keeps the plugin contract; return the plugin it built.

    Args:
        plugin_class: the plugin to check.
        settings: its settings (default: every default).
        corpus: what a trainable plugin is fitted on (default: the bundled corpus).
        upstream: built plugins to run before it, so that the fields it ``requires`` exist
            (e.g. a tokenizer before a plugin that reads tokens).
        texts: the messages to process (default: messy Korean chat).

    Raises:
        PluginContractError: the first rule it breaks.
    """
    _check_declaration(plugin_class)
    config = _settings(plugin_class, settings)
    contract = plugin_class.contract(config)
    _check_names(plugin_class, contract, "with these settings")
    plugin = plugin_class(config)
    plugin.bind(upstream)
    if plugin_class.trainable:
        plugin.fit(corpus or _default_corpus(), TrainContext(
            upstream=lambda items: _run(upstream, [Message(t) for t in items]), seed=7))

    batch = _run(upstream, [Message(text) for text in texts])
    before = [_snapshot(m) for m in batch]
    result = plugin.process(batch)
    _check_batch_out(plugin, batch, result)
    _check_fields(plugin, contract, before, result)
    alone = [plugin.process(_run(upstream, [Message(text)]))[0] for text in texts]
    _check_same(plugin, contract, result, alone, "processed alone", "in a batch")
    if plugin_class.trainable:
        _check_round_trip(plugin, contract, config, upstream, texts, result)
    return plugin


def _check_declaration(cls: type[Plugin]) -> None:
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or "." not in name or " " in name:
        _fail(cls, f"name must be 'stage.name' (like 'tokenize.kiwi'), not {name!r}")
    if not cls.summary():
        _fail(cls, "the class needs a docstring: its first line is the summary shown in "
                   "`chatbot plugins`")
    _check_names(cls, Contract(requires=cls.requires, assigns=cls.assigns), "")
    if not cls.assigns and not any(issubclass(cls, c) for c in CAPABILITIES):
        _fail(cls, "assigns is empty: declare the Message fields the plugin writes (only a "
                   "plugin that serves later steps with a capability writes nothing)")
    if not issubclass(cls.Config, PluginConfig):
        _fail(cls, "Config must subclass chatbot.plugin.PluginConfig")
    undescribed = [n for n, f in cls.Config.model_fields.items() if not f.description]
    if undescribed:
        _fail(cls, f"settings {undescribed} need a description (Field(..., description=...)): "
                   "`chatbot plugins` shows it")


def _check_names(cls: type[Plugin], contract: Contract, how: str) -> None:
    known = known_names(cls.extras)
    for attribute in ("requires", "assigns"):
        unknown = set(getattr(contract, attribute)) - known
        if unknown:
            _fail(cls, f"{attribute}{' ' + how if how else ''} names {sorted(unknown)}, which "
                       f"are neither Message fields ({', '.join(MESSAGE_FIELDS)}) nor declared "
                       f"extras; declare your own in the class attribute extras = "
                       f"{{'KEY': payload type}} and name them '{EXTRAS_PREFIX}KEY'")


def _settings(cls: type[Plugin], settings: dict[str, Any] | None) -> PluginConfig:
    try:
        return cls.Config(**(settings or {}))
    except Exception as error:  # noqa: BLE001 - any validation failure is the plugin's
        what = "the settings given" if settings else "the default settings"
        _fail(cls, f"{what} are not valid: {error}")


def _default_corpus() -> Corpus:
    from chatbot.data.datasets import load_dataset

    demo = load_dataset("demo")
    return Corpus(examples=demo.examples[::4], sentences=demo.sentences[::4], name="demo-quarter")


def _run(plugins: Sequence[Plugin], messages: list[Message]) -> list[Message]:
    for plugin in plugins:
        messages = plugin.process(messages)
    return messages


def _snapshot(message: Message) -> dict[str, Any]:
    """Every result of a message by contract name: its fields and ``extras.KEY``s."""
    snapshot = {f.name: repr(getattr(message, f.name)) for f in fields(message)
                if f.name not in _NOT_RESULTS}
    snapshot.update({EXTRAS_PREFIX + key: repr(value) for key, value in message.extras.items()})
    return snapshot


def _check_batch_out(plugin: Plugin, batch: list[Message], result: Any) -> None:
    if not isinstance(result, list) or len(result) != len(batch):
        _fail(plugin, f"process() must return the list of messages it got ({len(batch)}), "
                      f"not {type(result).__name__} of {len(result) if result else 0}")
    if any(out is not original for out, original in zip(result, batch, strict=True)):
        _fail(plugin, "process() must return the same Message objects, in the same order "
                      "(fill their fields; do not build new messages or reorder them)")


def _check_fields(plugin: Plugin, contract: Contract, before: list[dict],
                  result: list[Message]) -> None:
    after = [_snapshot(m) for m in result]
    written = {name for name in contract.assigns
               if any(b.get(name) != a.get(name) for b, a in zip(before, after, strict=True))}
    for name in contract.assigns:
        conditional = name in _CONDITIONAL or extra_key(name) is not None
        if name not in written and (not conditional or not written):
            _fail(plugin, f"assigns {name!r} but wrote it on none of {len(result)} messages")
    declared = set(contract.assigns).union(*(_IMPLIED.get(n, ()) for n in contract.assigns))
    for b, a in zip(before, after, strict=True):
        touched = [k for k in {*a, *b} if a.get(k) != b.get(k) and k not in declared]
        if touched:
            _fail(plugin, f"changed {sorted(touched)}, which it does not declare in assigns")
    for message in result:
        for name in written:
            key = extra_key(name)
            if key is not None and key in message.extras:
                _check_payload(plugin, key, message.extras[key])


def _check_payload(plugin: Plugin, key: str, value: Any) -> None:
    expected = payload_type(key, plugin.extras)
    try:
        TypeAdapter(expected).validate_python(value, strict=True)
    except ValidationError as error:
        _fail(plugin, f"extras[{key!r}] is {type(value).__name__}, not the declared "
                      f"{getattr(expected, '__name__', expected)}: {error.errors()[0]['msg']}")


def _check_same(plugin: Plugin, contract: Contract, first: list[Message],
                second: list[Message], how_first: str, how_second: str) -> None:
    for one, other in zip(first, second, strict=True):
        for name in contract.assigns:
            if not _close(_value(one, name), _value(other, name)):
                _fail(plugin, f"{name!r} of {one.text!r} differs {how_first} and "
                              f"{how_second}: {_value(other, name)!r} vs {_value(one, name)!r}")


def _value(message: Message, name: str) -> Any:
    key = extra_key(name)
    return getattr(message, name) if key is None else message.extras.get(key)


def _close(a: Any, b: Any) -> bool:
    """Equal, with floats within 1e-3 (batched arithmetic rounds differently)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-3)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__") and type(a) is type(b):
        return all(_close(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


def _check_round_trip(plugin: Plugin, contract: Contract, config: PluginConfig,
                      upstream: Sequence[Plugin], texts: Sequence[str],
                      result: list[Message]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        plugin.save(Path(folder))
        loaded = type(plugin).load(Path(folder), config)
    loaded.bind(upstream)
    again = loaded.process(_run(upstream, [Message(text) for text in texts]))
    _check_same(plugin, contract, result, again, "after save and load", "before")


def _fail(plugin: type[Plugin] | Plugin, problem: str) -> None:
    name = getattr(plugin, "name", None) or getattr(plugin, "__name__", "plugin")
    raise PluginContractError(f"{name}: {problem}")
