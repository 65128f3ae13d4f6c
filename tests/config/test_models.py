"""What a loaded config holds: defaults, derived values, dev zones, immutability."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from keycard_serve._grant import Grant
from keycard_serve.config import DevZoneConfig, ServerConfig

from .conftest import VALID, error_text, load

DEV = VALID.replace("  id: my-zone", "  dev: true").split("credentials:")[0] + (
    "tools:\n  - function: examples.weather:forecast\n"
)


def test_defaults(write: Callable[..., Path], in_repo: Path) -> None:
    config = load(write(VALID)).config
    assert (config.server.path, config.server.transport, config.server.stateless) == (
        "/mcp",
        "streamable-http",
        False,
    )
    assert config.zone.required_scopes == ()
    assert config.zone.accepted_token_types == ("at+jwt",)
    assert config.credentials.type == "client_secret"
    assert config.log_level == "info"


@pytest.mark.parametrize(
    ("base_url", "host", "port", "expected"),
    [
        ("http://127.0.0.1:8000/", None, None, ("127.0.0.1", 8000)),
        ("https://mcp.example.com/", None, None, ("mcp.example.com", 443)),
        ("http://localhost/", None, None, ("localhost", 80)),
        ("https://mcp.example.com/", "0.0.0.0", 9000, ("0.0.0.0", 9000)),
    ],
)
def test_host_and_port_default_from_base_url(
    base_url: str, host: str | None, port: int | None, expected: tuple[str, int]
) -> None:
    server = ServerConfig(name="x", base_url=base_url, host=host, port=port)
    assert (server.effective_host, server.effective_port) == expected


@pytest.mark.parametrize(
    ("base_url", "path", "expected"),
    [
        ("http://127.0.0.1:8000", "/mcp", "http://127.0.0.1:8000/mcp"),
        ("HTTPS://MCP.Example.com/", "/mcp", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com/api", "/mcp", "https://mcp.example.com/api/mcp"),
    ],
)
def test_mcp_url_is_the_base_url_and_path_in_one_spelling(
    base_url: str, path: str, expected: str
) -> None:
    # The audience clients request and the server accepts; serve, dev, token and doctor use it.
    assert ServerConfig(name="x", base_url=base_url, path=path).mcp_url == expected


@pytest.mark.parametrize(
    ("path", "canonical"),
    [("//mcp", "/mcp"), ("/mcp//", "/mcp"), ("/a/../mcp", "/mcp"), ("/mcp/", "/mcp"), ("/", "/")],
)
def test_the_path_is_kept_in_its_canonical_spelling(path: str, canonical: str) -> None:
    """Finding 3: the launcher mounts the endpoint at ``server.path``; the URLs are built from
    the same value, so a POST to the advertised endpoint cannot 404."""
    server = ServerConfig(name="x", base_url="https://mcp.example.com:443/", path=path)
    assert server.path == canonical
    assert server.mcp_url == "https://mcp.example.com" + canonical


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("dev: true", DevZoneConfig()),
        ("dev: {user: bob, port: 9500}", DevZoneConfig(user="bob", port=9500)),
        ("dev: {}", DevZoneConfig()),
    ],
)
def test_dev_zone_needs_no_credentials(
    write: Callable[..., Path], in_repo: Path, zone: str, expected: DevZoneConfig
) -> None:
    config = load(write(DEV.replace("dev: true", zone))).config
    assert config.zone.dev == expected
    assert config.credentials is None


def test_dev_zone_allows_plain_http_on_a_public_host(
    write: Callable[..., Path], in_repo: Path
) -> None:
    path = write(DEV.replace("http://127.0.0.1:8000/", "http://devbox.internal:8000/"))
    assert load(path).config.server.base_url == "http://devbox.internal:8000/"


def test_dev_false_counts_as_no_zone(write: Callable[..., Path]) -> None:
    path = write(DEV.replace("dev: true", "dev: false"))
    assert f"{path}:5:1: error: zone: give exactly one of url, id or dev (found none)" in (
        error_text(path)
    )


def test_grants_are_normalised(write: Callable[..., Path], in_repo: Path) -> None:
    path = write(
        VALID.replace(
            "    grants: [https://api.weather.example/]",
            "    grants:\n      - https://a.example/\n"
            "      - {resource: https://b.example/, scopes: [read, write]}",
        )
    )
    (tool,) = load(path).tools
    assert tool.grants == (
        Grant("https://a.example/"),
        Grant("https://b.example/", ("read", "write")),
    )


def test_query_in_a_resource_is_a_warning(write: Callable[..., Path], in_repo: Path) -> None:
    path = write(
        VALID.replace("[https://api.weather.example/]", '["https://api.weather.example/?v=2"]')
    )
    loaded = load(path)
    assert loaded.tools[0].grants[0].resource == "https://api.weather.example/?v=2"
    assert [warning.format_text() for warning in loaded.warnings] == [
        f"{path}:12:14: warning: tools[0].grants[0].resource: has a ?query, which RFC 8707 "
        "advises against; the zone may refuse it"
    ]


def test_same_resource_twice_in_one_tool(write: Callable[..., Path]) -> None:
    path = write(
        VALID.replace("[https://api.weather.example/]", "[https://a.example/, https://a.example/]")
    )
    assert f"{path}:12:34: error: tools[0].grants[1].resource: already granted as grants[0]" in (
        error_text(path)
    )


def test_models_are_frozen(write: Callable[..., Path], in_repo: Path) -> None:
    config = load(write(VALID)).config
    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


def test_dev_zone_is_true_false_or_a_mapping(write: Callable[..., Path]) -> None:
    path = write(DEV.replace("dev: true", "dev: yes"))
    assert f"{path}:6:8: error: zone.dev: must be true, false or a mapping" in error_text(path)
    path = write(DEV.replace("dev: true", 'dev: "true"'))
    assert (
        f"{path}:6:8: error: zone.dev: must be true, false or a mapping of dev zone settings "
        "without quotes"
    ) in error_text(path)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1/", "is not a valid URL (Invalid IPv6 URL)"),
        ("http://h:99999/", "is not a valid URL (Port out of range 0-65535)"),
        ("https://mcp example.com/", "must not contain spaces or control characters"),
        ("mcp.example.com", "must be an absolute http(s) URL"),
        ("https://mcp.example.com/#top", "must not have a #fragment"),
        ("https://admin:pw@mcp.example.com/", "must not contain a user name or password"),
    ],
)
def test_base_url(write: Callable[..., Path], url: str, message: str) -> None:
    path = write(VALID.replace("http://127.0.0.1:8000/", f'"{url}"'))
    assert f"{path}:4:13: error: server.base_url: {message}" in error_text(path)
