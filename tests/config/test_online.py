"""``validate --online`` checks, against the fake zone in memory (no socket).

The real authorization server's answers are tested end to end in tests/launcher; here are
the answers it will not give: 5xx pages, RFC 6749's ``unauthorized_client``, a zone without
token exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from typer.testing import CliRunner

from keycard_serve.cli import app
from keycard_serve.config import load_config
from keycard_serve.config.online import check_online
from tests.support.fake_zone import in_memory_zone

CONFIG = """\
version: 1
server: {name: t, base_url: "http://127.0.0.1:8000/"}
zone:
  url: https://zone.test
credentials:
  client_id: c
  client_secret: ${SECRET}
tools: [{function: "examples.weather:forecast"}]
"""


def _answer(status: int, body: dict | None = None) -> Callable[[Request], Response]:
    async def token(request: Request) -> Response:
        if body is None:
            return PlainTextResponse("<html>bad gateway</html>", status_code=status)
        return JSONResponse(body, status_code=status)

    return token


async def _check(write: Callable[..., Path], zone_setup: Callable) -> list[tuple]:
    zone, transport = in_memory_zone()
    zone_setup(zone)
    loaded = load_config(write(CONFIG), environ={"SECRET": "s3cret-SENTINEL"})
    findings = await check_online(loaded, transport=transport)
    assert all("SENTINEL" not in f.message for f in findings)
    return [(f.line, f.field, f.severity, f.message) for f in findings]


async def test_good_credentials_get_the_probe_refused(write: Callable[..., Path]) -> None:
    def setup(zone):
        zone.token_handler = _answer(400, {"error": "invalid_grant"})

    assert await _check(write, setup) == []


async def test_refused_credentials_are_an_error_on_the_credentials_line(
    write: Callable[..., Path],
) -> None:
    def setup(zone):
        zone.token_handler = _answer(401, {"error": "invalid_client"})

    assert await _check(write, setup) == [
        (5, "credentials", "error", "the zone refused the client credentials (invalid_client)")
    ]


async def test_a_client_without_the_grant_is_named(write: Callable[..., Path]) -> None:
    def setup(zone):
        zone.token_handler = _answer(
            400, {"error": "unauthorized_client", "error_description": "no token exchange"}
        )

    assert await _check(write, setup) == [
        (5, "credentials", "error", "this client may not use token exchange: no token exchange")
    ]


async def test_a_failing_token_endpoint_is_could_not_check_never_refused(
    write: Callable[..., Path],
) -> None:
    def setup(zone):
        zone.token_handler = _answer(502)

    ((line, field, severity, message),) = await _check(write, setup)
    assert (line, field, severity) == (5, "credentials", "error")
    assert message.startswith("could not check the credentials: ")
    assert "refused" not in message


async def test_a_zone_without_token_exchange(write: Callable[..., Path]) -> None:
    def setup(zone):
        metadata = {**zone.metadata(), "grant_types_supported": ["authorization_code"]}
        zone.metadata_handler = _answer(200, metadata)
        zone.token_handler = _answer(400, {"error": "invalid_grant"})

    assert await _check(write, setup) == [
        (3, "zone", "error", "the zone does not list the token-exchange grant")
    ]


async def test_failed_discovery_is_placed_on_the_zone(write: Callable[..., Path]) -> None:
    def setup(zone):
        zone.metadata_handler = _answer(503)

    ((line, field, severity, message),) = await _check(write, setup)
    assert (line, field, severity) == (3, "zone", "error")
    assert message.startswith("discovery failed: ")


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            {"error": "invalid_request", "error_description": "bad subject"},
            "invalid_request (bad subject)",
        ),
        ({"error": "access_denied"}, "access_denied"),
    ],
)
async def test_an_ambiguous_refusal_is_reported_without_vouching_for_the_credentials(
    write: Callable[..., Path], answer: dict, said: str
) -> None:
    def setup(zone):
        zone.token_handler = _answer(400, answer)

    ((line, field, severity, message),) = await _check(write, setup)
    assert (line, field, severity) == (5, "credentials", "warning")
    assert message == (
        f"the zone refused the probe: {said}; the credentials were not refused as "
        "invalid_client, but this answer does not confirm them"
    )


def test_validate_online_says_a_dev_zone_was_not_checked(write: Callable[..., Path]) -> None:
    config = write(
        'version: 1\nserver: {name: t, base_url: "http://127.0.0.1:8000/"}\nzone:\n  dev: true\n'
        'tools: [{function: "examples.weather:forecast"}]\n'
    )
    result = CliRunner().invoke(app, ["validate", "--online", str(config)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{config}:4:8: warning: zone.dev: online checks skipped: a development zone runs "
        f"inside the launcher\n{config}: valid\n"
    )


async def test_an_entra_like_zone_is_told_to_use_on_behalf_of(write: Callable[..., Path]) -> None:
    jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def setup(zone):
        metadata = {**zone.metadata(), "grant_types_supported": ["authorization_code", jwt_bearer]}
        zone.metadata_handler = _answer(200, metadata)
        zone.token_handler = _answer(400, {"error": "invalid_grant"})

    ((line, field, severity, message),) = await _check(write, setup)
    assert (line, field, severity) == (3, "zone", "error")
    assert message.endswith("for Microsoft Entra ID set zone.exchange.flavour: on_behalf_of")
    on_behalf_of = CONFIG.replace("zone:\n", "zone:\n  exchange: {flavour: on_behalf_of}\n")
    zone, transport = in_memory_zone()
    setup(zone)
    loaded = load_config(write(on_behalf_of), environ={"SECRET": "s3cret-SENTINEL"})
    assert await check_online(loaded, transport=transport) == []
