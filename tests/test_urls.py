"""The one URL module: validity rules and canonical spellings (pure, no socket)."""

from __future__ import annotations

import re

import pytest

from keycard_serve._urls import (
    canonical_url,
    check_http_url,
    endpoint_path,
    normalize_base_url,
    normalize_zone_url,
    resource_url,
    same_issuer,
    well_known_url,
)
from keycard_serve.devzone._loopback import is_https_or_loopback_url
from keycard_serve.errors import ConfigurationError


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://mcp.example.com:443/", "https://mcp.example.com/"),
        ("https://MCP.Example.COM", "https://mcp.example.com/"),
        ("HTTP://127.0.0.1:80", "http://127.0.0.1/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("https://mcp.example.com:80/", "https://mcp.example.com:80/"),
        ("https://h/a/./b/../c", "https://h/a/c/"),
        ("https://h/%7euser/%2f", "https://h/~user/%2F/"),
        ("https://[::1]:443/x", "https://[::1]/x/"),
        ("  https://h/tenant  ", "https://h/tenant/"),
    ],
)
def test_base_urls_have_one_spelling(given: str, canonical: str) -> None:
    assert normalize_base_url(given) == canonical
    assert normalize_base_url(canonical) == canonical  # idempotent


@pytest.mark.parametrize(
    "path", ["/mcp", "/mcp/", "mcp", "mcp/", "//mcp//", "/a/../mcp", "/./mcp", "/%6Dcp"]
)
def test_every_endpoint_path_spelling_is_one_endpoint(path: str) -> None:
    assert endpoint_path(path) == "/mcp"
    assert resource_url("https://h/", path) == "https://h/mcp"


@pytest.mark.parametrize("path", ["/", "", None, "/a/..", "//"])
def test_the_root_path_is_the_base_url(path: str | None) -> None:
    assert endpoint_path(path) == "/"
    assert resource_url("https://h/p/", path) == "https://h/p/"


def test_well_known_urls_insert_before_the_path() -> None:
    assert well_known_url("https://h/mcp", "oauth-protected-resource") == (
        "https://h/.well-known/oauth-protected-resource/mcp"
    )
    assert well_known_url("https://h/", "x") == "https://h/.well-known/x"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://h/ x", "spaces or control characters"),
        ("https://h/\x00", "spaces or control characters"),
        ("https://h/?", "?query"),
        ("https://h/?a=1", "?query"),
        ("https://h/#", "#fragment"),
        ("https://h/#top", "#fragment"),
        ("https://user:pw@h/", "user name or password"),
        ("https://user@h/", "user name or password"),
        ("https://h:99999/", "not a valid URL"),
        ("ftp://h/", "absolute http(s) URL"),
        ("/relative", "absolute http(s) URL"),
    ],
)
def test_one_set_of_rules_for_every_caller(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_http_url(url)
    with pytest.raises(ConfigurationError, match=re.escape(problem)) as caught:
        normalize_base_url(url.strip())
    assert caught.value.code == "invalid_mcp_base_url"
    assert not is_https_or_loopback_url(url) or problem == "?query"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:9/", True),
        ("http://[::1]/", True),
        ("http://localhost/", True),
        ("http://app.localhost/", True),
        ("http://example.com/", False),
        ("http://127.0.0.1.example.com/", False),
        ("https://example.com/", True),
    ],
)
def test_plain_http_only_on_loopback_where_tls_is_required(url: str, ok: bool) -> None:
    assert is_https_or_loopback_url(url) is ok
    if ok:
        assert check_http_url(url, require_tls=True) == url
    else:
        with pytest.raises(ValueError, match="plain http"):
            check_http_url(url, require_tls=True)
        with pytest.raises(ConfigurationError) as caught:
            normalize_zone_url(url)
        assert caught.value.code == "insecure_zone_url"


def test_zone_urls_are_canonical_without_a_trailing_slash() -> None:
    assert normalize_zone_url("https://Zone.Example.com:443/tenant/") == (
        "https://zone.example.com/tenant"
    )


@pytest.mark.parametrize(
    ("configured", "advertised", "same"),
    [
        ("https://z.example", "https://z.example/", True),
        ("https://z.example", "https://Z.EXAMPLE:443", True),
        ("https://z.example/t", "https://z.example/t/", True),
        ("https://z.example/t", "https://z.example/u", False),
        ("https://z.example", "https://z.example:8443", False),
        ("https://z.example", "https://z.example:bad", False),
    ],
)
def test_issuers_compare_as_urls(configured: str, advertised: str, same: bool) -> None:
    assert same_issuer(configured, advertised) is same


def test_canonical_url_keeps_query_and_fragment() -> None:
    assert canonical_url("HTTPS://H:443?q=1#f") == "https://h/?q=1#f"
