"""The effective access a config grants, and what a change to it adds, removes or widens.

A grant change can then be reviewed like a diff: which tool reaches which API, asking which
scopes, behind which inbound scopes, and which broader scopes (``zone.scope_hierarchy``) also
let a caller in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .._scopes import ScopeHierarchy
from .loader import LoadedConfig

__all__ = ["Change", "ToolAccess", "access_table", "diff"]

Kind = Literal["add", "remove", "widen", "narrow"]


@dataclass(frozen=True)
class ToolAccess:
    """One row of the plan: a tool, the scopes its caller needs, what it may reach."""

    tool: str
    inbound_scopes: tuple[str, ...]
    grants: dict[str, tuple[str, ...]] = field(default_factory=dict)  # resource -> scopes
    # inbound scope -> the broader scopes that imply it (only scopes some scope implies)
    also_granted_by: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One difference between two plans; ``widen`` and ``add`` give a tool more access."""

    kind: Kind
    tool: str
    what: str

    @property
    def widens_access(self) -> bool:
        return self.kind in ("add", "widen")

    def format_text(self) -> str:
        sign = {"add": "+", "remove": "-", "widen": "~", "narrow": "~"}[self.kind]
        return f"{sign} {self.kind:<6} {self.tool}: {self.what}"


def access_table(loaded: LoadedConfig) -> list[ToolAccess]:
    """The plan of ``loaded``, one row per tool, in file order."""
    required = tuple(loaded.config.zone.required_scopes)
    hierarchy = ScopeHierarchy.of(loaded.config.zone.scope_hierarchy)
    rows = []
    for tool in loaded.tools:
        inbound = tuple(dict.fromkeys((*required, *tool.scopes)))
        broader = {scope: hierarchy.broader(scope) for scope in inbound}
        rows.append(
            ToolAccess(
                tool=tool.name,
                inbound_scopes=inbound,
                grants={grant.resource: grant.scopes for grant in tool.grants},
                also_granted_by={scope: found for scope, found in broader.items() if found},
            )
        )
    return rows


def diff(old: Iterable[ToolAccess], new: Iterable[ToolAccess]) -> list[Change]:
    """What going from ``old`` to ``new`` changes, tool by tool."""
    before = {row.tool: row for row in old}
    after = {row.tool: row for row in new}
    changes: list[Change] = []
    for name in [*before, *(n for n in after if n not in before)]:
        if name not in after:
            changes.append(Change("remove", name, "tool removed"))
        elif name not in before:
            changes.append(Change("add", name, "new tool"))
            changes += [
                Change("add", name, _grant(resource, scopes))
                for resource, scopes in after[name].grants.items()
            ]
        else:
            changes += _tool_changes(before[name], after[name])
    return changes


def _tool_changes(old: ToolAccess, new: ToolAccess) -> list[Change]:
    changes: list[Change] = []
    # Fewer inbound scopes means more callers get in: that widens access.
    dropped = [s for s in old.inbound_scopes if s not in new.inbound_scopes]
    added = [s for s in new.inbound_scopes if s not in old.inbound_scopes]
    if dropped:
        changes.append(Change("widen", new.tool, f"no longer requires scope {' '.join(dropped)}"))
    if added:
        changes.append(Change("narrow", new.tool, f"now requires scope {' '.join(added)}"))
    for scope in new.inbound_scopes:
        was = old.also_granted_by.get(scope, ()) if scope in old.inbound_scopes else ()
        now = new.also_granted_by.get(scope, ())
        if more := [s for s in now if s not in was]:
            what = f"{scope} now also granted by {' '.join(more)}"
            changes.append(Change("widen", new.tool, what))
    for resource, scopes in new.grants.items():
        if resource not in old.grants:
            changes.append(Change("add", new.tool, _grant(resource, scopes)))
            continue
        more = [s for s in scopes if s not in old.grants[resource]]
        fewer = [s for s in old.grants[resource] if s not in scopes]
        if more:
            changes.append(Change("widen", new.tool, f"{resource} scope +{' +'.join(more)}"))
        if fewer:
            changes.append(Change("narrow", new.tool, f"{resource} scope -{' -'.join(fewer)}"))
    changes += [
        Change("remove", new.tool, _grant(resource, scopes))
        for resource, scopes in old.grants.items()
        if resource not in new.grants
    ]
    return changes


def _grant(resource: str, scopes: tuple[str, ...]) -> str:
    return f"-> {resource}" + (f" (scope {' '.join(scopes)})" if scopes else "")
