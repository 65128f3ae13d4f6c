"""Place findings on the line of the file they are about.

A ``Locator`` knows the file's name and where each key and value sits in it, so any stage
(schema, rules, imports, online checks) can report a problem by field path.

Pydantic reports a ``loc`` such as ``('credentials', 'client_secret', 'client_id')``: field
names, list indexes, and the tag of a discriminated union. Walking the models along the
``loc`` tells tags from keys and knows the keys a mapping allows, for "did you mean".
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ._yaml import Document, Key, Scalar
from .findings import Finding, Severity
from .models import ServeConfig

__all__ = ["Locator", "format_path", "validation_findings"]

_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "bool_type": "true or false",
    "int_type": "a number",
}


@dataclass(frozen=True)
class Locator:
    """Positions of the keys and values of one parsed file, named ``file`` in findings."""

    document: Document
    file: str

    def at(
        self, path: Key, message: str, severity: Severity = "error", *, key: bool = False
    ) -> Finding:
        """A finding at ``path``'s value (or key), else at its nearest ancestor, else at 1:1."""
        positions = self.document.keys if key else self.document.values
        position = positions.get(path)
        for depth in range(len(path) - 1, -1, -1):
            if position is not None:
                break
            prefix = path[:depth]
            position = self.document.keys.get(prefix) or self.document.values.get(prefix)
        line, column = position or (1, 1)
        return Finding(self.file, line, column, format_path(path), message, severity)


def validation_findings(error: ValidationError, where: Locator) -> list[Finding]:
    """One finding per pydantic error, placed in the file."""
    findings = []
    for detail in error.errors(include_url=False):
        path, owner = _walk(detail["loc"])
        kind = detail["type"]
        if kind == "union_tag_invalid":
            path = (*path, "type")
        message = _message(detail, path, owner)
        findings.append(where.at(path, message, key=kind == "extra_forbidden"))
    return findings


def format_path(path: Key) -> str:
    """``('tools', 1, 'grants', 0)`` as ``tools[1].grants[0]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _walk(loc: tuple[str | int, ...]) -> tuple[Key, type[BaseModel] | None]:
    """The YAML path for ``loc`` and the model owning its last key (None if unknown)."""
    path: list[str | int] = []
    annotation: Any = ServeConfig
    owner: type[BaseModel] | None = None
    for part in loc:
        options = _options(annotation)
        if isinstance(part, int):
            path.append(part)
            annotation = _item(options)
            continue
        models = [option for option in options if _is_model(option)]
        if len(models) > 1:  # a discriminated union: ``part`` is the tag, not a key
            annotation = next((model for model in models if _tag(model) == part), None)
            continue
        owner = models[0] if models else None
        path.append(part)
        field = owner.model_fields.get(part) if owner else None
        annotation = field.annotation if field else None
    return tuple(path), owner


def _options(annotation: Any) -> list[Any]:
    """The alternatives of a type, through Annotated, Optional and Union."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _options(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [option for arg in typing.get_args(annotation) for option in _options(arg)]
    return [] if annotation is type(None) else [annotation]


def _item(options: list[Any]) -> Any:
    for option in options:
        if typing.get_origin(option) in (tuple, list):
            return typing.get_args(option)[0]
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    return typing.get_args(field.annotation)[0] if field else None


def _message(detail: Any, path: Key, owner: type[BaseModel] | None) -> str:
    kind = detail["type"]
    name = path[-1] if path else ""
    if kind == "missing":
        return "required but missing"
    if kind == "extra_forbidden":
        return _unknown_key(str(name), list(owner.model_fields) if owner else [])
    if kind == "value_error":
        return str(detail["ctx"]["error"])
    if kind == "union_tag_invalid":
        return f"unknown type {detail['ctx']['tag']!r}; expected {detail['ctx']['expected_tags']}"
    if kind == "literal_error":
        return f"expected {detail['ctx']['expected']}"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty"
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_describe(detail['input'])}"
        return message + _glued_dash(detail["input"])
    return detail["msg"].replace("Input should be", "must be", 1)


def _unknown_key(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; allowed keys here: {', '.join(allowed)}"


def _glued_dash(value: Any) -> str:
    """A hint for ``-key: value``: a list item missing the space after its dash."""
    glued = [key for key in value if key.startswith("-")] if isinstance(value, dict) else []
    if not glued:
        return ""
    return f"; '{glued[0]}' needs a space after '-' to start a list item: - {glued[0][1:]}"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Scalar):  # a plain 42 or true, where the field wants text
        return f'the {value.kind} {value.text}; quote it if it is text: "{value.text}"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a single value"
