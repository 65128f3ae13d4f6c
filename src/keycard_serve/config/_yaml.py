"""A YAML reader that returns plain data plus the position of every key and value.

PyYAML's safe loader is not safe enough for a config file (security-catalogue.md, section 0
items 5-6): it expands aliases, so a "billion laughs" file later hangs pydantic's error
rendering; it keeps the last of duplicate keys; and its YAML 1.1 resolver turns ``no`` into
False and ``0777`` into 511. So this module composes nodes with no constructor at all:

* anchors and aliases are refused when the parser meets them, before any data exists;
* the file is capped in size and nesting depth and must be UTF-8 without NUL bytes (UTF-16
  and UTF-32 files are named as such);
* scalars are read as YAML 1.2's core schema reads them, which is what editors check against
  the JSON Schema: quoted ones are strings; plain ``~``/``null``/empty are None; a plain
  scalar the core schema reads as a number or a boolean (``8000``, ``true``) becomes a
  ``Scalar`` that keeps its text, so the typed models decide strictly what it may be
  (``0777`` is no port) and a string field refuses it; every other plain scalar is a string
  (``no`` and ``1:20`` too: YAML 1.1's readings do not apply); explicit tags such as
  ``!!python/...`` are refused;
* a duplicate key is reported with both lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from yaml.composer import Composer
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from ._yaml_hints import explain, wrong_encoding

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "Document",
    "Key",
    "Scalar",
    "YamlError",
    "parse_yaml",
    "read_file",
]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32

Key = tuple[str | int, ...]  # a node's path from the root: mapping keys and sequence indexes
Position = tuple[int, int]

_STR = BaseResolver.DEFAULT_SCALAR_TAG
_SEQ = BaseResolver.DEFAULT_SEQUENCE_TAG
_MAP = BaseResolver.DEFAULT_MAPPING_TAG
_NULLS = {"", "~", "null", "Null", "NULL"}  # YAML 1.2 core schema, plain scalars only
# YAML 1.2 core schema (section 10.3.2): the plain scalars that are not strings.
_BOOLEAN = re.compile(r"true|True|TRUE|false|False|FALSE")
_NUMBER = re.compile(
    r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)


@dataclass(frozen=True)
class Scalar:
    """A plain scalar that YAML 1.2 reads as a number or a boolean, exactly as written."""

    text: str
    kind: Literal["number", "boolean"]

    def __str__(self) -> str:
        return self.text


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a config file may not use."""


class YamlError(Exception):
    """The file cannot be read as YAML at all; ``line``/``column`` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Document:
    """Parsed data with positions: ``values[path]`` for a value, ``keys[path]`` for its key.

    ``problems`` are (path, message, position) for faults that did not stop the parse, such
    as duplicate keys, so they are reported together with the schema errors.
    """

    data: Any
    values: dict[Key, Position] = field(default_factory=dict)
    keys: dict[Key, Position] = field(default_factory=dict)
    problems: list[tuple[Key, str, Position]] = field(default_factory=list)


def read_file(path: Path) -> bytes:
    """The file's bytes, refusing anything larger than ``MAX_BYTES`` before reading it all."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise YamlError("file not found") from None
    except IsADirectoryError:
        raise YamlError("is a directory, not a config file") from None
    except OSError as exc:
        raise YamlError(f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise YamlError(f"file is larger than {MAX_BYTES // 1024} KiB; refusing to parse it")
    return data


def parse_yaml(data: bytes) -> Document:
    """Compose ``data`` into a ``Document`` whose top level is a mapping."""
    encoding = wrong_encoding(data)
    if encoding is not None:
        raise YamlError(f"the file is {encoding} text; save it as UTF-8", 1, 1)
    nul = data.find(b"\0")
    if nul >= 0:
        raise YamlError("file contains a NUL byte; it is not a text file", *_position(data, nul))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError("file is not valid UTF-8", *_position(data, exc.start)) from None
    text = text.removeprefix("\ufeff")
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except _Refused as exc:
        mark = exc.problem_mark
        raise YamlError(str(exc.problem), mark.line + 1, mark.column + 1) from None
    except yaml.MarkedYAMLError as exc:
        explained = explain(exc, text)
        raise YamlError(explained.message, explained.line, explained.column) from None
    except yaml.reader.ReaderError as exc:
        raise YamlError(
            f"control character U+{exc.character:04X} is not allowed",
            *_position(text, exc.position),
        ) from None
    if root is None or _is_null(root):
        raise YamlError("file is empty; expected a mapping with version, server, zone and tools")
    if not isinstance(root, yaml.MappingNode):
        found = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        raise YamlError(
            f"the top level must be a mapping of keys such as version and server, not {found}",
            root.start_mark.line + 1,
            root.start_mark.column + 1,
        )
    document = Document(data=None)
    document.data = _convert(root, (), document)
    return document


class _Loader(Reader, Scanner, Parser, Composer, BaseResolver):
    """Reader to composer only: no constructor, and a resolver without implicit types."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        BaseResolver.__init__(self)
        self._depth = 0

    def get_single_node(self) -> yaml.Node | None:
        self.get_event()  # StreamStartEvent
        root = None if self.check_event(yaml.StreamEndEvent) else self.compose_document()
        if not self.check_event(yaml.StreamEndEvent):
            raise _Refused(
                problem="a config file holds one YAML document, but a second one starts here",
                problem_mark=self.peek_event().start_mark,
            )
        return root

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                problem="anchors and aliases (&name, *name, <<) are not allowed in a config file",
                problem_mark=event.start_mark,
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                problem=f"nesting is deeper than {MAX_DEPTH} levels",
                problem_mark=event.start_mark,
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _convert(node: yaml.Node, path: Key, document: Document) -> Any:
    document.values.setdefault(path, _mark(node))
    if node.tag not in (_STR, _SEQ, _MAP):
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        document.problems.append((path, f"YAML tag {tag} is not allowed; remove it", _mark(node)))
        return None
    if isinstance(node, yaml.ScalarNode):
        if node.style is not None:
            return node.value
        if node.value in _NULLS:
            return None
        if _BOOLEAN.fullmatch(node.value):
            return Scalar(node.value, "boolean")
        if _NUMBER.fullmatch(node.value):
            return Scalar(node.value, "number")
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), document) for i, item in enumerate(node.value)]
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
            document.problems.append((path, "keys must be plain names", _mark(key_node)))
            continue
        key = key_node.value
        child = (*path, key)
        if key in mapping:
            first = document.keys[child][0]
            message = f"duplicate key (first defined on line {first})"
            document.problems.append((child, message, _mark(key_node)))
            continue
        document.keys[child] = _mark(key_node)
        if _is_null(value_node) or getattr(value_node, "flow_style", None) is False:
            # An empty value or an indented block starting on the next line: the key's line
            # is where a reader looks.
            document.values[child] = _mark(key_node)
        mapping[key] = _convert(value_node, child, document)
    return mapping


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style is None and node.value in _NULLS


def _mark(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _position(data: bytes | str, offset: int) -> Position:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    line_start = data.rfind(newline, 0, offset) + 1  # type: ignore[arg-type]
    return data.count(newline, 0, offset) + 1, offset - line_start + 1  # type: ignore[arg-type]
