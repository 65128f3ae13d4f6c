"""The tools a config declares, named: ``name:``, else the function's own name.

Naming needs no user code: without imports a tool is named after the last part of its
``function`` reference; once imported, after the function's ``__name__`` (FastMCP's own
default). Either way every name must be a valid MCP tool name and unique.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._grant import Grant
from ._locate import Locator
from ._types import check_tool_name
from .findings import Finding
from .models import ServeConfig

__all__ = ["ToolSpec", "tool_specs"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool ready to register.

    ``function`` is None in ``app:`` mode and until ``import_tools`` has run; ``description``
    None means the function's docstring (FastMCP's default); ``scopes`` are the inbound scopes
    a caller needs, ``grants`` the resources the tool gets delegated tokens for.
    """

    name: str
    function: Callable[..., Any] | None
    description: str | None
    scopes: tuple[str, ...]
    grants: tuple[Grant, ...]


def tool_specs(
    config: ServeConfig,
    where: Locator,
    functions: Mapping[int, Callable[..., Any]] | None = None,
) -> tuple[tuple[ToolSpec, ...], list[Finding]]:
    """The configured tools in file order, and the problems with their names.

    ``functions`` (after imports, function mode) maps a tool's index in ``tools`` to its
    imported function; a tool missing from it failed to import and is left out, as are tools
    the rules refused (no ``function`` without ``app:``, no ``name`` with it).
    """
    specs: list[ToolSpec] = []
    findings: list[Finding] = []
    names: dict[str, int] = {}
    for index, tool in enumerate(config.tools):
        if (tool.function if config.app is None else tool.name) is None:
            continue
        if functions is not None and index not in functions:
            continue
        function = functions.get(index) if functions is not None else None
        name = tool.name or _default_name(str(tool.function), function)
        where_named = ("tools", index, "name" if tool.name else "function")
        if tool.name is None:  # a name: in the file was checked by the schema
            try:
                check_tool_name(name)
            except ValueError as exc:
                message = f"{name!r} cannot be a tool name ({exc}); set name:"
                findings.append(where.at(where_named, message))
        if name in names:
            message = (
                f"tool name {name!r} is already used by tools[{names[name]}]; set a different name"
            )
            findings.append(where.at(where_named, message))
        names.setdefault(name, index)
        grants = tuple(
            Grant(grant.resource, grant.scopes, audience=grant.audience, target=grant.target)
            for grant in tool.grants
        )
        specs.append(ToolSpec(name, function, tool.description, tool.scopes, grants))
    return tuple(specs), findings


def _default_name(reference: str, function: Any) -> str:
    if function is not None:
        return getattr(function, "__name__", type(function).__name__)
    return reference.rpartition(":")[2].rpartition(".")[2]
