"""Scope hierarchies: a broader scope implies narrower ones (MCP 2026-07-28 authorization).

``{"tools:admin": ["tools:read", "tools:write"]}`` says a token granted ``tools:admin`` may do
whatever needs ``tools:read`` or ``tools:write``. Implication is transitive, and a hierarchy
must have no cycle (two scopes implying each other are one scope under two names). Every
decision "does this token suffice" reads the token's scopes through ``ScopeHierarchy.expand``;
what the server asks for (challenges, metadata) stays the narrow scopes it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ScopeHierarchy", "find_cycle"]


def find_cycle(implies: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of ``implies`` as the scopes along it (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(scope: str, path: list[str]) -> list[str] | None:
        state[scope] = 1
        path.append(scope)
        for narrower in implies.get(scope, ()):
            if state.get(narrower) == 1:
                return [*path[path.index(narrower) :], narrower]
            if narrower not in state and (cycle := visit(narrower, path)):
                return cycle
        path.pop()
        state[scope] = 2
        return None

    for scope in implies:
        if scope not in state and (cycle := visit(scope, [])):
            return cycle
    return None


@dataclass(frozen=True)
class ScopeHierarchy:
    """Which scopes each scope implies, transitively closed; empty means flat scopes.

    ``ScopeHierarchy.of(mapping)`` raises ``ValueError`` naming the cycle if there is one.
    """

    _closure: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)

    @classmethod
    def of(cls, implies: Mapping[str, Sequence[str]] | None) -> ScopeHierarchy:
        """The hierarchy where each key implies its listed scopes (and what they imply)."""
        implies = {broad: tuple(narrow) for broad, narrow in (implies or {}).items()}
        if (cycle := find_cycle(implies)) is not None:
            raise ValueError("scope hierarchy has a cycle: " + " -> ".join(cycle))
        closure: dict[str, frozenset[str]] = {}

        def implied(scope: str) -> frozenset[str]:
            if scope not in closure:
                found: set[str] = set()
                for narrower in implies.get(scope, ()):
                    found |= {narrower, *implied(narrower)}
                closure[scope] = frozenset(found)
            return closure[scope]

        for scope in implies:
            implied(scope)
        return cls({scope: scopes for scope, scopes in closure.items() if scopes})

    def __bool__(self) -> bool:
        return bool(self._closure)

    def expand(self, granted: Iterable[str]) -> tuple[str, ...]:
        """``granted`` followed by every scope it implies, each once, in a stable order."""
        granted = tuple(granted)
        implied = sorted({s for g in granted for s in self._closure.get(g, ())} - set(granted))
        return tuple(dict.fromkeys(granted)) + tuple(implied)

    def broader(self, scope: str) -> tuple[str, ...]:
        """The scopes that imply ``scope``, sorted: what else lets a caller in."""
        return tuple(sorted(b for b, narrower in self._closure.items() if scope in narrower))

    def as_dict(self) -> dict[str, list[str]]:
        """Each scope and everything it implies (transitively), sorted."""
        return {scope: sorted(implied) for scope, implied in sorted(self._closure.items())}
