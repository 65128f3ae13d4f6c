"""The configuration being served, as one immutable snapshot swapped whole.

Every tool call reads the snapshot once when it starts and uses it to the end, so a reload
never gives a call half of one configuration and half of another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .._grant import Binding, Grant
from ..config import LoadedConfig, ToolSpec
from ..provider import AuthProvider

__all__ = ["Runtime", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """A loaded config (tools imported), the provider built from it, and its tools by name."""

    loaded: LoadedConfig
    provider: AuthProvider
    tools: Mapping[str, ToolSpec]
    scoped: bool = False  # some tool needs inbound scopes beyond the zone's

    @classmethod
    def of(cls, loaded: LoadedConfig, provider: AuthProvider) -> Snapshot:
        """The snapshot of ``loaded`` served with ``provider``."""
        tools = {tool.name: tool for tool in loaded.tools}
        return cls(loaded, provider, tools, any(tool.scopes for tool in loaded.tools))

    def grants(self, tool: str) -> Sequence[Grant]:
        """The resources ``tool`` gets delegated tokens for; empty for an unknown tool."""
        spec = self.tools.get(tool)
        return spec.grants if spec is not None else ()

    def scopes(self, tool: str) -> Sequence[str]:
        """The inbound scopes a caller of ``tool`` needs beyond the zone's; empty if unknown."""
        spec = self.tools.get(tool)
        return spec.scopes if spec is not None else ()


class Runtime:
    """Holds the current snapshot; ``current`` is read once per call, ``swap`` replaces it."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.current = snapshot

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Serve ``snapshot`` from the next call on; returns the one it replaces."""
        previous, self.current = self.current, snapshot
        return previous

    def binding(self, tool: str) -> Binding:
        """The grant binding of ``tool``: at each call, the current provider's ``delegate`` and
        the current grants, so a reload reaches the next call without re-registering."""

        def bind():
            snapshot = self.current
            return snapshot.provider.delegate, snapshot.grants(tool)

        return bind
