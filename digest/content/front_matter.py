"""Front matter as strict YAML: safe types only, every key a word and given once, no anchors or
aliases, no deeper nesting than an item needs, no control character in a text value.

PyYAML's own SafeLoader lets the last of two equal keys win silently, follows aliases (a few
lines can expand into millions of values) and recurses once per nesting level (RecursionError
with no file name): each is refused here with its line and field.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from digest.text import unsafe_character

MAX_DEPTH = 6  # a review's citation.authors list is 3 deep
STR = "tag:yaml.org,2002:str"
# The types front matter may use: no !!binary (bytes that pydantic would take as text), !!set,
# !!omap or !!pairs.
TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null",
                                            "timestamp", "seq", "map")}


class FrontMatterError(Exception):
    """A problem in the front matter, at a line (of the file) and a field."""

    def __init__(self, line: int | None, field: str | None, message: str) -> None:
        self.line, self.field, self.message = line, field, message
        super().__init__(message)


class _Loader(yaml.SafeLoader):
    """Safe YAML where an impossible date (2026-13-45) stays a string for pydantic to report."""


def _timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def _shape(head: str, offset: int) -> None:
    """Refuse nesting deeper than MAX_DEPTH, anchors and aliases, reading events only."""
    depth = 0
    for event in yaml.parse(head, Loader=_Loader):
        line = event.start_mark.line + offset if event.start_mark else None
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
            raise FrontMatterError(line, None, "anchors and aliases (& and *) are not allowed")
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise FrontMatterError(line, None,
                                       f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            depth -= 1


def _line(node: Node, offset: int) -> int | None:
    return node.start_mark.line + offset if node.start_mark else None


def _check(node: Node, path: list[str], offset: int) -> None:
    """Keys are words given once; text values hold no control character."""
    line = _line(node, offset)
    where = ".".join(path) or None
    if node.tag not in TAGS:
        raise FrontMatterError(line, where, f"the type {node.tag.rsplit(':', 1)[-1]!r} is not "
                               "allowed here: write plain text, numbers, dates and lists")
    if isinstance(node, MappingNode):
        seen: dict[str, int | None] = {}
        for key, value in node.value:
            key_line = _line(key, offset)
            if not isinstance(key, ScalarNode) or key.tag != STR or not key.value:
                raise FrontMatterError(key_line, where, "a key must be a field name, like title")
            if key.value in seen:
                raise FrontMatterError(key_line, ".".join([*path, key.value]),
                                       f"given twice (first on line {seen[key.value]})")
            seen[key.value] = key_line
            _check(value, [*path, key.value], offset)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _check(item, [*path, str(i)], offset)
    elif node.tag == STR and (problem := unsafe_character(str(node.value).strip())):
        # A value is one line (digest.text); a block scalar's final line break is not in it.
        raise FrontMatterError(line, where, f"{problem}: write it on one line, as plain text")


def parse(head: str, offset: int = 2) -> Any:
    """The front matter's value (None if empty); `offset` is the file line of its first line.

    Raises FrontMatterError for the rules above and yaml.YAMLError for invalid YAML.
    """
    _shape(head, offset)
    node = yaml.compose(head, Loader=_Loader)
    if node is None:
        return None
    _check(node, [], offset)
    return _Loader("").construct_document(node)
