"""The Origin rule as pure logic: which page may talk to which server (no sockets)."""

from __future__ import annotations

import re

import pytest

from keycard_serve import AuthProvider, ConfigurationError
from keycard_serve._origin import OriginPolicy
from keycard_serve._urls import check_origin, is_loopback_origin, origin_of

LOOPBACK = ("127.0.0.1", 8000)
PUBLIC = ("10.1.2.3", 8000)


def test_default_policy_allows_the_own_origin_anywhere_and_loopback_pages_on_loopback() -> None:
    policy = OriginPolicy.of("https://MCP.example.com:443/base/", None)
    assert policy.allows("https://mcp.example.com", PUBLIC)
    assert policy.allows("https://mcp.example.com:443", PUBLIC)
    assert policy.allows("http://localhost:6274", LOOPBACK)
    assert policy.allows("http://[::1]:3000", ("::1", 8000))
    # A server reached over its public address does not take loopback pages on trust.
    assert not policy.allows("http://localhost:6274", PUBLIC)
    assert not policy.allows("http://localhost:6274", None)
    for origin in ("https://evil.example", "null", "http://mcp.example.com", "", "*"):
        assert not policy.allows(origin, LOOPBACK), origin


def test_explicit_origins_are_exact_and_drop_the_loopback_default() -> None:
    policy = OriginPolicy.of("https://mcp.example.com/", ["https://App.example.com:443"])
    assert policy.allows("https://app.example.com", PUBLIC)
    assert policy.allows("https://mcp.example.com", PUBLIC)
    assert not policy.allows("https://app.example.com:8443", PUBLIC)
    assert not policy.allows("http://localhost:6274", LOOPBACK)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://app.example.com/", "without a path"),
        ("https://app.example.com/ui", "without a path"),
        ("*", "absolute http(s) URL"),
        ("null", "absolute http(s) URL"),
        ("https://app.example.com?x", "?query"),
        ("https://user@app.example.com", "user name"),
    ],
)
def test_check_origin_says_what_is_wrong(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_origin(value)


def test_origin_spellings() -> None:
    assert check_origin("HTTPS://App.Example.com:443") == "https://app.example.com"
    assert origin_of("http://127.0.0.1:8000/mcp") == "http://127.0.0.1:8000"
    assert is_loopback_origin("http://localhost:6274")
    assert not is_loopback_origin("http://localhost.evil.example")
    assert not is_loopback_origin("null")


def test_auth_provider_checks_allowed_origins() -> None:
    provider = AuthProvider(
        zone_url="https://zone.example",
        mcp_base_url="https://mcp.example.com",
        allowed_origins=["https://App.example.com"],
    )
    assert provider.protected_resource.allowed_origins == ("https://app.example.com",)
    with pytest.raises(
        ConfigurationError, match=re.escape("allowed_origins: 'https://app.example.com/x'")
    ):
        AuthProvider(
            zone_url="https://zone.example",
            mcp_base_url="https://mcp.example.com",
            allowed_origins=["https://app.example.com/x"],
        )
