"""Resolve ``package.module:attribute`` references and check the tools they name.

Checks that need the imported code: the object exists and is callable, a tool with grants
has a ``Context`` parameter to read its tokens from, every tool name is unique and valid, and
in ``app:`` mode every configured name is a tool of that app.

Modules are searched in the config file's directory first, then the current directory, then
the installed packages: both directories are put at the front of ``sys.path`` (and left
there, so the tools' own later imports resolve the same way).
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastmcp import FastMCP

from .._delegation import Grant
from .._signature import find_context_parameter
from ._locate import Finding
from ._types import check_tool_name
from .models import ServeConfig, ToolConfig

__all__ = ["ToolSpec", "resolve_tools"]

T = TypeVar("T")

_NO_CONTEXT = (
    "has grants but no Context parameter; add `ctx: Context` (from fastmcp) to read its tokens"
)


@dataclass(frozen=True)
class ToolSpec:
    """A tool ready to register: ``function`` is None in ``app:`` mode or without imports.

    ``description`` None means the function's docstring (FastMCP's default).
    """

    name: str
    function: Callable[..., Any] | None
    description: str | None
    scopes: tuple[str, ...]
    grants: tuple[Grant, ...]


class _ImportProblem(Exception):
    """A reference that cannot be resolved; the message is meant for the config's author."""


def resolve_tools(
    config: ServeConfig, base_dir: Path, *, check_imports: bool
) -> tuple[tuple[ToolSpec, ...], FastMCP | None, list[Finding]]:
    """The tools of ``config``, the imported app (if any), and the problems found."""
    findings: list[Finding] = []
    app, app_tools = None, None
    if check_imports:
        _search_path(base_dir)
    if config.app is not None and check_imports:
        try:
            app = _load_app(config.app)
            app_tools = _run(lambda: _list_tools(app))
        except _ImportProblem as exc:
            findings.append(Finding(("app",), str(exc)))
    specs: list[ToolSpec] = []
    names: dict[str, int] = {}
    for index, tool in enumerate(config.tools):
        if config.app is not None:
            spec = _app_tool(index, tool, config.app, app_tools, findings)
        else:
            spec = _function_tool(index, tool, check_imports, findings)
        if spec is None:
            continue
        if spec.name in names:
            where = ("tools", index, "name" if tool.name else "function")
            findings.append(
                Finding(
                    where,
                    f"tool name {spec.name!r} is already used by "
                    f"tools[{names[spec.name]}]; set a different name",
                )
            )
        names.setdefault(spec.name, index)
        specs.append(spec)
    return tuple(specs), app, findings


def _function_tool(
    index: int, tool: ToolConfig, check_imports: bool, findings: list[Finding]
) -> ToolSpec | None:
    if tool.function is None:
        return None  # reported by the rules
    path = ("tools", index, "function")
    function = None
    if check_imports:
        try:
            function = _import(tool.function)
        except _ImportProblem as exc:
            findings.append(Finding(path, str(exc)))
            return None
        if not callable(function):
            findings.append(Finding(path, f"is a {type(function).__name__}, not a function"))
            return None
        if tool.grants and not _has_context(function):
            findings.append(Finding(path, _NO_CONTEXT))
    name = tool.name or _default_name(tool.function, function)
    try:
        check_tool_name(name)
    except ValueError as exc:
        findings.append(Finding(path, f"{name!r} cannot be a tool name ({exc}); set name:"))
    return _spec(name, tool, function)


def _app_tool(
    index: int,
    tool: ToolConfig,
    app_ref: str,
    app_tools: dict[str, Any] | None,
    findings: list[Finding],
) -> ToolSpec | None:
    if tool.name is None:
        return None  # reported by the rules
    if app_tools is not None:
        found = app_tools.get(tool.name)
        if found is None:
            message = f"{app_ref} has no tool {tool.name!r}{_suggest(tool.name, app_tools)}"
            findings.append(Finding(("tools", index, "name"), message))
        elif tool.grants and callable(getattr(found, "fn", None)) and not _has_context(found.fn):
            findings.append(Finding(("tools", index, "name"), _NO_CONTEXT))
    return _spec(tool.name, tool, None)


def _spec(name: str, tool: ToolConfig, function: Callable[..., Any] | None) -> ToolSpec:
    grants = tuple(Grant(grant.resource, grant.scopes) for grant in tool.grants)
    return ToolSpec(name, function, tool.description, tool.scopes, grants)


def _default_name(reference: str, function: Any) -> str:
    if function is not None:
        return getattr(function, "__name__", type(function).__name__)
    return reference.rpartition(":")[2].rpartition(".")[2]


def _has_context(function: Callable[..., Any]) -> bool:
    try:
        return find_context_parameter(function) is not None
    except (TypeError, ValueError):  # no introspectable signature (builtins, C callables)
        return False


def _import(reference: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise _ImportProblem(
                f"module {module_name!r} not found (searched the config file's directory, the "
                "current directory and the installed packages)"
            ) from None
        raise _failed(f"importing {module_name}", exc) from None
    # The module is user code: any error is a config problem here, and so is an exit() that
    # argparse or click would make while being imported.
    except (Exception, SystemExit) as exc:
        raise _failed(f"importing {module_name}", exc) from None
    for part in attribute.split("."):
        owner = getattr(target, "__name__", module_name)
        try:
            target = getattr(target, part)
        except AttributeError:
            names = [name for name in dir(target) if not name.startswith("_")]
            raise _ImportProblem(
                f"{owner} has no attribute {part!r}{_suggest(part, names)}"
            ) from None
        except (Exception, SystemExit) as exc:  # a module __getattr__ or a descriptor
            raise _failed(f"reading {owner}.{part}", exc) from None
    return target


def _search_path(base_dir: Path) -> None:
    for directory in (os.getcwd(), str(base_dir)):
        if directory not in sys.path:
            sys.path.insert(0, directory)
    importlib.invalidate_caches()  # modules written since the last import must be found


def _load_app(reference: str) -> FastMCP:
    app = _import(reference)
    if not isinstance(app, FastMCP) and callable(app) and _takes_no_arguments(app):
        try:
            made = app()
            app = _run(lambda: made) if inspect.isawaitable(made) else made
        except (Exception, SystemExit) as exc:  # user code, as above
            raise _failed(f"calling {reference}", exc) from None
    if not isinstance(app, FastMCP):
        raise _ImportProblem(
            f"{reference} is a {type(app).__name__}; expected a FastMCP server or a "
            "function taking no arguments that returns one"
        )
    return app


def _takes_no_arguments(function: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    return all(
        parameter.default is not parameter.empty
        or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        for parameter in signature.parameters.values()
    )


async def _list_tools(app: FastMCP) -> dict[str, Any]:
    try:
        # The server's view includes mounted servers; the local provider adds tools that a
        # per-tool ``auth=`` check hides when, as here, no request is in flight.
        tools = [
            *await app.local_provider.list_tools(),
            *await app.list_tools(run_middleware=False),
        ]
    except (Exception, SystemExit) as exc:  # providers run user code
        raise _failed("listing the app's tools", exc) from None
    return {tool.name: tool for tool in tools}


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when a loop is already running."""

    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # A reload may call us from inside the server's loop, which cannot be re-entered.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _failed(what: str, exc: Exception) -> _ImportProblem:
    return _ImportProblem(f"{what} failed: {type(exc).__name__}: {exc}")


def _suggest(name: str, names: Any) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    listed = ", ".join(sorted(names)[:20])
    return f" (available: {listed})" if listed else ""
