"""The zone's authorization-server metadata mirrors during an outage, over real HTTP.

README "What the server serves": the zone's RFC 8414 metadata is mirrored at every URL older
clients probe on the MCP server, "503, never 404, while the zone is unreachable"; and "could
not check is never invalid": the 503 is ``temporarily_unavailable`` with ``Retry-After``
(exposed to browser clients through CORS), so clients wait instead of giving up. A failure is
remembered for 2 s, after which the next request tries the zone again: once it is back, every
mirror answers 200 with the zone's own document.

Two kinds of outage: a zone answering 5xx (the fake zone's handler) and a zone whose port
refuses connections (a socket bound but not yet listening, served later); two servers: the
library (``AuthProvider`` + FastMCP, endpoint ``/mcp``) and the YAML launcher with a base URL
under a path prefix (endpoint ``/tenant/mcp``, every mirror at its public path).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keycard_serve import AuthProvider
from tests.support.fake_zone import FakeZone, run_fake_zone
from tests.support.launcher import launch
from tests.support.mcp_server import serve_mcp
from tests.support.polling import poll
from tests.support.servers import bound_socket, free_port

# Every URL README lists for the mirror, for an MCP endpoint at /mcp...
MIRRORS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/mcp/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/mcp",
    "/mcp/.well-known/openid-configuration",
)
# ...and for one at /tenant/mcp (base URL https://host/tenant/).
TENANT_MIRRORS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/tenant/mcp",
    "/tenant/mcp/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/tenant/mcp",
    "/tenant/mcp/.well-known/openid-configuration",
)
LAUNCHER_CONFIG = """\
version: 1
server:
  name: Mirrors
  base_url: {base_url}
zone:
  url: {issuer}
credentials:
  client_id: mirrors
  client_secret: ${{TEST_CLIENT_SECRET}}
tools:
  - function: examples.weather:forecast
"""
BROWSER = {"Origin": "http://localhost:6274"}  # the MCP Inspector, allowed on loopback
# Discovery gives up within 5 s and a failure is remembered 2 s: room for a loaded machine.
RECOVERY_DEADLINE = 20.0


@dataclass
class Outage:
    """A zone that is down until ``end()``; ``zone()`` is the fake zone once it answers."""

    issuer: str
    end: Callable[[], None]
    zone: Callable[[], FakeZone]


async def _server_error(request: Request) -> Response:
    return JSONResponse({"error": "server_error"}, status_code=503)


@contextlib.contextmanager
def zone_answering_5xx() -> Iterator[Outage]:
    with run_fake_zone() as zone:
        zone.metadata_handler = zone.jwks_handler = _server_error

        def end() -> None:
            zone.metadata_handler = zone.jwks_handler = None

        yield Outage(zone.issuer, end, lambda: zone)


@contextlib.contextmanager
def zone_refusing_connections() -> Iterator[Outage]:
    sock = bound_socket()  # bound, not listening: every connection is refused
    served: list[FakeZone] = []
    with contextlib.ExitStack() as stack:
        stack.callback(sock.close)

        def end() -> None:
            served.append(stack.enter_context(run_fake_zone(sock)))

        yield Outage(f"http://127.0.0.1:{sock.getsockname()[1]}", end, lambda: served[0])


@pytest.fixture(params=[zone_answering_5xx, zone_refusing_connections], ids=["5xx", "refused"])
def outage(request) -> Iterator[Outage]:
    with request.param() as outage:
        yield outage


@dataclass(frozen=True)
class Mirrored:
    origin: str  # "http://127.0.0.1:PORT", where the server listens
    mirrors: tuple[str, ...]  # the paths of its mirrors of the zone's metadata


@contextlib.contextmanager
def library_server(outage: Outage, tmp_path: Path) -> Iterator[Mirrored]:
    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(zone_url=outage.issuer, mcp_base_url=base_url)
        return FastMCP("mirrors", auth=provider.get_remote_auth_provider())

    with serve_mcp(build) as running:
        yield Mirrored(running.base_url.rstrip("/"), MIRRORS)


@contextlib.contextmanager
def launcher_server(outage: Outage, tmp_path: Path) -> Iterator[Mirrored]:
    origin = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "mirrors.yaml"
    config.write_text(LAUNCHER_CONFIG.format(base_url=origin + "/tenant/", issuer=outage.issuer))
    with launch(
        [str(config)],
        base_url=origin + "/",
        env={"TEST_CLIENT_SECRET": "not-used"},
        log_path=tmp_path / "log",
        ready_path="healthz",
    ):
        yield Mirrored(origin, TENANT_MIRRORS)


@pytest.fixture(params=[library_server, launcher_server], ids=["library", "launcher"])
def server(request, outage: Outage, tmp_path: Path) -> Iterator[Mirrored]:
    with request.param(outage, tmp_path) as mirrored:
        yield mirrored


def get(server: Mirrored, mirror: str) -> httpx.Response:
    return httpx.get(server.origin + mirror, headers=BROWSER, timeout=30)


def test_every_mirror_answers_503_during_an_outage_and_200_once_the_zone_is_back(
    outage: Outage, server: Mirrored
):
    for mirror in server.mirrors:
        answer = get(server, mirror)
        assert answer.status_code == 503, (mirror, answer.status_code)
        assert answer.json()["error"] == "temporarily_unavailable", mirror
        assert int(answer.headers["retry-after"]) > 0, mirror
        # A browser client (the MCP Inspector) may read Retry-After to back off.
        assert answer.headers["access-control-allow-origin"] == BROWSER["Origin"], mirror
        exposed = answer.headers["access-control-expose-headers"].lower()
        assert "retry-after" in exposed, mirror

    outage.end()
    poll(
        lambda: get(server, server.mirrors[0]).status_code == 200,
        "the zone's return",
        RECOVERY_DEADLINE,
    )
    document = outage.zone().metadata()
    for mirror in server.mirrors:
        answer = get(server, mirror)
        assert answer.status_code == 200, (mirror, answer.status_code)
        assert answer.json() == document, mirror
