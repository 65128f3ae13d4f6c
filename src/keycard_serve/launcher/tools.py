"""The tools registered on the FastMCP server, kept in step with the current config.

Every tool with a ``Context`` parameter is wrapped once with a grant binding that reads the
current snapshot, so grants and scopes change without touching the server; only a new, removed
or re-imported function changes the registration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastmcp import FastMCP
from fastmcp.tools import FunctionTool, Tool

from .._grant import grant_decorator
from .._signature import find_context_parameter
from ..config import LoadedConfig
from .runtime import Runtime

__all__ = ["ToolChanges", "ToolRegistry"]


@dataclass(frozen=True)
class ToolChanges:
    """Tool names a reconcile added, removed, or replaced (a new function or description)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()

    @property
    def tool_list_changed(self) -> bool:
        """Whether clients must be told (``notifications/tools/list_changed``)."""
        return bool(self.added or self.removed or self.replaced)

    def describe(self) -> str:
        """One log line: ``tools added: a b, removed: c``."""
        parts = [("added", self.added), ("removed", self.removed), ("replaced", self.replaced)]
        return "tools " + ", ".join(f"{kind}: {' '.join(names)}" for kind, names in parts if names)


class ToolRegistry:
    """Registers a config's tools on ``mcp`` and reconciles them with later configs."""

    def __init__(self, mcp: FastMCP, runtime: Runtime) -> None:
        self._mcp = mcp
        self._runtime = runtime
        self._registered: dict[str, tuple[Callable[..., Any], str | None]] = {}

    async def adopt(self) -> None:
        """``app:`` mode: wrap each function tool of the app that takes a Context."""
        for tool in await self._mcp.list_tools(run_middleware=False):
            if isinstance(tool, FunctionTool) and find_context_parameter(tool.fn):
                wrapped = grant_decorator(self._runtime.binding(tool.name))(tool.fn)
                self._mcp.local_provider.remove_tool(tool.name)
                self._mcp.add_tool(tool.model_copy(update={"fn": wrapped}))

    def reconcile(self, loaded: LoadedConfig) -> ToolChanges:
        """Make the registered tools those of ``loaded`` (function mode)."""
        if loaded.app is not None:
            return ToolChanges()
        wanted = {spec.name: (spec.function, spec.description) for spec in loaded.tools}
        removed = tuple(name for name in self._registered if name not in wanted)
        for name in removed:
            self._mcp.local_provider.remove_tool(name)
            del self._registered[name]
        added, replaced = [], []
        for name, (function, description) in wanted.items():
            assert function is not None  # imports are checked by the loader
            current = self._registered.get(name)
            if current == (function, description):
                continue
            if current is not None:
                self._mcp.local_provider.remove_tool(name)
                replaced.append(name)
            else:
                added.append(name)
            self._mcp.add_tool(
                Tool.from_function(self._wrap(name, function), name=name, description=description)
            )
            self._registered[name] = (function, description)
        return ToolChanges(tuple(added), removed, tuple(replaced))

    def _wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        if find_context_parameter(function) is None:
            return function
        return grant_decorator(self._runtime.binding(name))(function)
