"""Run the user code a loaded config names: import its tools or its app.

``load_config`` never imports anything; ``import_tools`` is the separate step that does, for
the commands that serve or fully validate. It checks what needs the imported code: the object
exists and is callable, a tool with grants has a ``Context`` parameter to read its tokens
from, tool names (from the functions' own names) are unique, and in ``app:`` mode every
configured name is a tool of that app.

Modules are searched in the config file's directory first, then the current directory, then
the installed packages: both directories are put at the front of ``sys.path`` (and left
there, so the tools' own later imports resolve the same way). App factories and coroutines
are run here too.
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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .._signature import find_context_parameter
from ._tools import tool_specs
from .findings import ConfigError, Finding
from .loader import LoadedConfig

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["import_tools", "run_sync"]

T = TypeVar("T")

_NO_CONTEXT = (
    "has grants but no Context parameter; add `ctx: Context` (from fastmcp) to read its tokens"
)


class _ImportProblem(Exception):
    """A reference that cannot be resolved; the message is meant for the config's author."""


def import_tools(loaded: LoadedConfig) -> LoadedConfig:
    """``loaded`` with its tool functions (or its app) imported and checked.

    Raises ``ConfigError`` naming file, line and field of every problem (with the config's
    warnings), so a failed import reads like any other config error.
    """
    config = loaded.config
    findings: list[Finding] = []
    _search_path(loaded.path.parent)
    app, tools = None, loaded.tools
    if config.app is not None:
        try:
            app = _load_app(config.app)
            findings += _check_app_tools(loaded, run_sync(lambda: _list_tools(app)))
        except _ImportProblem as exc:
            findings.append(loaded.locator.at(("app",), str(exc)))
    else:
        functions = {}
        for index in range(len(config.tools)):
            function = _function(loaded, index)
            if isinstance(function, Finding):
                findings.append(function)
            elif function is not None:
                functions[index] = function
        tools, name_findings = tool_specs(config, loaded.locator, functions)
        findings += name_findings
    if any(finding.severity == "error" for finding in findings):
        raise ConfigError([*loaded.warnings, *findings])
    return replace(loaded, tools=tools, app=app, warnings=(*loaded.warnings, *findings))


def _function(loaded: LoadedConfig, index: int) -> Callable[..., Any] | Finding | None:
    """The imported function of ``tools[index]``, or the finding that says why it is unusable."""
    tool = loaded.config.tools[index]
    path = ("tools", index, "function")
    if tool.function is None:
        return None  # refused by the rules
    try:
        function = _import(tool.function)
    except _ImportProblem as exc:
        return loaded.locator.at(path, str(exc))
    if not callable(function):
        return loaded.locator.at(path, f"is a {type(function).__name__}, not a function")
    if tool.grants and not _has_context(function):
        return loaded.locator.at(path, _NO_CONTEXT)
    return function


def _check_app_tools(loaded: LoadedConfig, app_tools: dict[str, Any]) -> list[Finding]:
    findings = []
    for index, tool in enumerate(loaded.config.tools):
        if tool.name is None:
            continue  # refused by the rules
        path = ("tools", index, "name")
        found = app_tools.get(tool.name)
        if found is None:
            suggestion = _suggest(tool.name, app_tools)
            message = f"{loaded.config.app} has no tool {tool.name!r}{suggestion}"
            findings.append(loaded.locator.at(path, message))
        elif tool.grants and callable(getattr(found, "fn", None)) and not _has_context(found.fn):
            findings.append(loaded.locator.at(path, _NO_CONTEXT))
    return findings


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
    from fastmcp import FastMCP  # imported with the user's code, not with the loader

    app = _import(reference)
    if not isinstance(app, FastMCP) and callable(app) and _takes_no_arguments(app):
        try:
            made = app()
            app = run_sync(lambda: made) if inspect.isawaitable(made) else made
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


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
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
