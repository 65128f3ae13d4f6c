"""Scope hierarchies as pure logic: implication is transitive and a cycle is refused."""

from __future__ import annotations

import pytest

from keycard_serve import AuthProvider, ConfigurationError
from keycard_serve._scopes import ScopeHierarchy, find_cycle

HIERARCHY = {"mcp:all": ["tools:admin"], "tools:admin": ["tools:read", "tools:write"]}


def test_expand_adds_everything_a_scope_implies_transitively() -> None:
    hierarchy = ScopeHierarchy.of(HIERARCHY)
    assert hierarchy.expand(["mcp:all"]) == ("mcp:all", "tools:admin", "tools:read", "tools:write")
    assert hierarchy.expand(["tools:read", "other"]) == ("tools:read", "other")
    assert hierarchy.broader("tools:read") == ("mcp:all", "tools:admin")
    assert hierarchy.broader("mcp:all") == ()
    assert not ScopeHierarchy.of(None)


@pytest.mark.parametrize(
    ("implies", "cycle"),
    [
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
        ({"x": ["a"], "a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        (HIERARCHY, None),
    ],
)
def test_find_cycle(implies: dict[str, list[str]], cycle: list[str] | None) -> None:
    assert find_cycle(implies) == cycle


def test_auth_provider_refuses_a_cycle() -> None:
    with pytest.raises(ConfigurationError, match="cycle: a -> b -> a"):
        AuthProvider(
            zone_url="https://zone.example",
            mcp_base_url="https://mcp.example.com",
            scope_hierarchy={"a": ["b"], "b": ["a"]},
        )
