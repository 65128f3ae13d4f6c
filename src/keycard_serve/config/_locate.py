"""Turn pydantic errors and rule violations into issues that point at a line of the file.

Pydantic reports a ``loc`` such as ``('credentials', 'client_secret', 'client_id')``: field
names, list indexes, and the tag of a discriminated union. Walking the models along the
``loc`` tells tags from keys and knows the keys a mapping allows, for "did you mean".
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from ._yaml import Document, Key
from .issues import ConfigIssue, Severity
from .models import ServeConfig

__all__ = ["Finding", "format_path", "locate", "locate_all", "validation_issues"]

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


class Finding(NamedTuple):
    """A problem found on validated data, by path; ``locate_all`` adds file and line."""

    path: Key
    message: str
    severity: Severity = "error"


def locate_all(findings: list[Finding], document: Document, file: str) -> list[ConfigIssue]:
    """Issues for ``findings`` at their positions in ``document``."""
    return [locate(document, file, *finding) for finding in findings]


def validation_issues(error: ValidationError, document: Document, file: str) -> list[ConfigIssue]:
    """One issue per pydantic error, located in ``document``."""
    issues = []
    for detail in error.errors(include_url=False):
        path, owner = _walk(detail["loc"])
        kind = detail["type"]
        if kind == "union_tag_invalid":
            path = (*path, "type")
        message = _message(detail, path, owner)
        issues.append(locate(document, file, path, message, key=kind == "extra_forbidden"))
    return issues


def locate(
    document: Document,
    file: str,
    path: Key,
    message: str,
    severity: Severity = "error",
    *,
    key: bool = False,
) -> ConfigIssue:
    """An issue at ``path``'s value (or key), else at its nearest ancestor in the file."""
    position = (document.keys if key else document.values).get(path)
    for depth in range(len(path) - 1, -1, -1):
        if position is not None:
            break
        prefix = path[:depth]
        position = document.keys.get(prefix) or document.values.get(prefix)
    line, column = position or (None, None)
    return ConfigIssue(file, line, column, format_path(path), message, severity)


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
        return f"expected {_EXPECTED[kind]}, got {_describe(detail['input'])}"
    return detail["msg"].replace("Input should be", "must be", 1)


def _unknown_key(name: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; allowed keys here: {', '.join(allowed)}"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a single value"
