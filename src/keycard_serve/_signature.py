"""Find the FastMCP ``Context`` parameter of a tool function, however it is annotated."""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["find_context_parameter"]


def find_context_parameter(fn: Callable[..., Any]) -> str | None:
    """Name of ``fn``'s parameter annotated with ``Context``, or None.

    Accepts string annotations (``from __future__ import annotations``), ``Context | None``,
    ``Optional[Context]``, ``Annotated[Context, ...]`` and subclasses of ``Context``.
    """
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(inspect.unwrap(fn), include_extras=True)
    except Exception:
        # Unresolvable forward references elsewhere in the signature: fall back to the raw
        # annotations, which still resolve for the Context parameter in the common cases.
        hints = {}
    for name, parameter in signature.parameters.items():
        annotation = hints.get(name, parameter.annotation)
        if _is_context(annotation):
            return name
    return None


def _is_context(annotation: Any) -> bool:
    if isinstance(annotation, str):
        # An unresolved string annotation: match on the last dotted name.
        names = re.findall(r"[A-Za-z_][\w.]*", annotation)
        return any(name.rsplit(".", 1)[-1] == "Context" for name in names)
    if inspect.isclass(annotation):
        if "fastmcp" not in sys.modules:
            return False  # no class can derive from Context before FastMCP is imported
        from fastmcp import Context

        return issubclass(annotation, Context)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_context(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_context(arg) for arg in typing.get_args(annotation))
    return False
