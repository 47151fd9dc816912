"""Reading YAML from outside (configs, a model's config.yaml, ``--set`` values) within bounds.

PyYAML's ``safe_load`` builds no objects but plain data, yet it is not bounded: a few hundred
bytes of nested aliases expand to billions of nodes ("billion laughs"), deep nesting ends in a
RecursionError, and a duplicate key silently replaces the first. :func:`load_bounded` refuses
all of these before anything is built from the text, and reports each with its line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

MAX_YAML_BYTES = 256 * 1024  # a real pipeline config is a few kilobytes
MAX_DEPTH = 64  # mappings and lists inside each other
MAX_NODES = 50_000  # scalars, mappings and lists, each alias counted as what it expands to

Location = tuple[str | int, ...]


class YamlLimitError(ValueError):
    """The YAML text is malformed or over a bound; ``line`` is 1-based, 0 when unknown."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


@dataclass
class ParsedYaml:
    """A YAML document: its data, and the 1-based line of every key and item by path."""

    data: Any
    lines: dict[Location, int]


class _DepthLimitedLoader(yaml.SafeLoader):
    """A SafeLoader whose (recursive) composer stops at MAX_DEPTH instead of the stack's end."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlLimitError(mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_bounded(text: str) -> ParsedYaml:
    """Parse one YAML document within the bounds above.

    Raises:
        YamlLimitError: not valid YAML, too large, too deep, an alias expansion over the node
            limit, or a key given twice in one mapping.
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_YAML_BYTES:
        raise YamlLimitError(0, f"{size:,} bytes is over the limit of {MAX_YAML_BYTES:,}")
    try:
        loader = _DepthLimitedLoader(text)  # its reader already refuses some characters
    except yaml.YAMLError as error:
        raise _invalid(error) from None
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return ParsedYaml(None, {})
            _check_expanded_size(node)
            lines = _line_map(node)
            data = loader.construct_document(node)
        except yaml.YAMLError as error:
            raise _invalid(error) from None
        except RecursionError:  # deeper than the stack in the scanner, before composing
            raise YamlLimitError(0, f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
    return ParsedYaml(data, lines)


def _invalid(error: yaml.YAMLError) -> YamlLimitError:
    mark = getattr(error, "problem_mark", None)
    return YamlLimitError(mark.line + 1 if mark else 0, f"not valid YAML: {error}")


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a document whose nodes, aliases expanded, number more than MAX_NODES.

    An alias is the same node object reached twice, so the expanded size is computed once per
    node (memoised by identity) and summed over every reference: linear in the text's size.
    """
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise YamlLimitError(
                    node.start_mark.line + 1,
                    f"expands to more than {MAX_NODES:,} values (aliases of aliases?)",
                )
        sizes[id(node)] = total
        return total

    size(root)


def _line_map(root: yaml.Node) -> dict[Location, int]:
    """1-based line of every key and item by path; refuses a key given twice in a mapping."""
    lines: dict[Location, int] = {}

    def walk(current: yaml.Node, path: Location) -> None:
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in current.value:
                line = key_node.start_mark.line + 1
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(line)
                if key in seen:
                    raise YamlLimitError(
                        line, f"key {key!r} is given twice (lines {seen[key]} and {line}); "
                        "keep one of them",
                    )
                seen[key] = line
                child = (*path, key)
                lines[child] = line
                walk(value_node, child)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                lines[(*path, index)] = item.start_mark.line + 1
                walk(item, (*path, index))

    walk(root, ())
    return lines
