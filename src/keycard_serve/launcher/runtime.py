"""The configuration being served, as one immutable snapshot swapped whole.

Every tool call reads the snapshot once when it starts and uses it to the end, so a reload
never gives a call half of one configuration and half of another.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .._delegation import Grant
from .._grant import Binding
from ..config import LoadedConfig, ToolSpec
from ..provider import AuthProvider

__all__ = ["Runtime", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """A loaded config, the provider built from it, and its tools by name."""

    loaded: LoadedConfig
    provider: AuthProvider
    tools: Mapping[str, ToolSpec]
    loaded_at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, loaded: LoadedConfig, provider: AuthProvider) -> Snapshot:
        return cls(loaded, provider, {tool.name: tool for tool in loaded.tools})

    def grants(self, tool: str) -> Sequence[Grant]:
        spec = self.tools.get(tool)
        return spec.grants if spec is not None else ()

    def scopes(self, tool: str) -> Sequence[str]:
        spec = self.tools.get(tool)
        return spec.scopes if spec is not None else ()


class Runtime:
    """Holds the current snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.current = snapshot

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Serve ``snapshot`` from the next call on; returns the one it replaces."""
        previous, self.current = self.current, snapshot
        return previous

    def binding(self, tool: str) -> Binding:
        """The grant binding of ``tool``, following whatever snapshot is current."""

        def bind():
            snapshot = self.current
            return snapshot.provider.delegate, snapshot.grants(tool)

        return bind
