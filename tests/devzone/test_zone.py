"""The DevZone object: loopback-only configuration, persisted state, offline minting, serving."""

from __future__ import annotations

import json
import logging
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from keycard_serve.devzone import DevZone
from keycard_serve.devzone._authority import Policy
from keycard_serve.errors import ConfigurationError
from tests.support.servers import free_port

from .conftest import ZoneFactory
from .helpers import API_RESOURCE, serving, verify


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.com", "app.localhost", ""]
)
def test_refuses_non_loopback_hosts(host: str, state_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="not for production") as caught:
        DevZone(port=9000, state_dir=state_dir, _host=host)
    assert caught.value.code == "devzone_not_loopback"
    assert not state_dir.exists()  # refused before touching anything


@pytest.mark.parametrize(
    ("host", "issuer"),
    [
        ("127.0.0.1", "http://127.0.0.1:9000"),
        ("127.0.0.2", "http://127.0.0.2:9000"),
        ("localhost", "http://localhost:9000"),
        ("::1", "http://[::1]:9000"),
        ("[::1]", "http://[::1]:9000"),
    ],
)
def test_accepts_loopback_hosts(host: str, issuer: str, state_dir: Path) -> None:
    assert DevZone(port=9000, state_dir=state_dir, _host=host).issuer == issuer


@pytest.mark.parametrize(
    "options",
    [
        {"port": 0},
        {"port": 70000},
        {"_policy": Policy(token_ttl=0)},
        {"user": " "},
        {"default_resource": "http://api.example.test/"},  # plain http off loopback
        {"default_resource": "https://api.example.test/#frag"},
        {"scopes": "read write"},
    ],
)
def test_rejects_bad_options(options: dict, state_dir: Path) -> None:
    options = {"port": 9000, **options}
    with pytest.raises(ConfigurationError):
        DevZone(state_dir=state_dir, **options)


def test_repr_shows_no_secret_or_key(make_zone: ZoneFactory, caplog) -> None:
    zone = make_zone()
    _, secret = zone.server_client
    key_pem = (zone.state_dir / "signing-key.pem").read_text()
    text = repr(zone) + repr(zone._authority) + repr(zone._authority.clients.server_client)
    assert secret not in text
    assert "PRIVATE KEY" not in text and key_pem not in text
    with caplog.at_level(logging.INFO, logger="keycard_serve.devzone"):
        token = zone.mint_access_token(user="alice", resource=API_RESOURCE)
    assert token not in caplog.text
    assert all("development zone — not for production" in r.getMessage() for r in caplog.records)


def test_state_files_are_private(make_zone: ZoneFactory) -> None:
    zone = make_zone()
    zone.register_client(redirect_uris=["https://vscode.dev/redirect"])
    assert stat.S_IMODE(zone.state_dir.stat().st_mode) == 0o700
    for name in ("signing-key.pem", "server-client.json", "clients.json"):
        assert stat.S_IMODE((zone.state_dir / name).stat().st_mode) == 0o600, name


def test_state_survives_a_restart(make_zone: ZoneFactory) -> None:
    first = make_zone()
    registered = first.register_client(
        redirect_uris=["http://127.0.0.1:33418"], token_endpoint_auth_method="none"
    )
    second = make_zone()
    assert second.kid == first.kid
    assert second.server_client == first.server_client
    assert second._authority.clients.get(registered.client_id) == registered


async def test_minted_token_verifies_against_the_served_jwks(make_zone: ZoneFactory) -> None:
    offline = make_zone()  # e.g. `keycard-serve token`, in another process, before the server
    token = offline.mint_access_token(
        user="bob", resource=API_RESOURCE, scopes=["read", "write"], ttl=120
    )
    async with serving(make_zone()) as http:
        claims = await verify(http, token, audience=API_RESOURCE)
    assert claims["sub"] == "bob"
    assert claims["client_id"] == "keycard-serve-dev-cli"
    assert claims["scope"] == "read write"
    assert claims["exp"] - claims["iat"] == 120
    assert claims["iss"] == offline.issuer == str(http.base_url).rstrip("/")


_MINT_IN_ANOTHER_PROCESS = """
import json, sys
from pathlib import Path
from keycard_serve.devzone import DevZone
zone = DevZone(port=int(sys.argv[1]), state_dir=Path(sys.argv[2]))
token = zone.mint_access_token(user="dave", resource=sys.argv[3])
print(json.dumps({"kid": zone.kid, "server": zone.server_client, "token": token}))
"""


async def test_processes_starting_together_share_one_key_and_server_client(
    state_dir: Path,
) -> None:
    """The launcher and `keycard-serve token` may create the state directory at the same time."""
    port = free_port()
    command = [sys.executable, "-c", _MINT_IN_ANOTHER_PROCESS, str(port), str(state_dir)]
    running = [subprocess.Popen([*command, API_RESOURCE], stdout=subprocess.PIPE) for _ in "ab"]
    results = [json.loads(process.communicate(timeout=30)[0]) for process in running]
    assert results[0]["kid"] == results[1]["kid"]
    assert results[0]["server"] == results[1]["server"]
    async with serving(DevZone(port=port, state_dir=state_dir)) as http:
        for result in results:
            claims = await verify(http, result["token"], audience=API_RESOURCE)
            assert claims["sub"] == "dave"


def test_mint_rejects_a_bad_resource(make_zone: ZoneFactory) -> None:
    with pytest.raises(ConfigurationError):
        make_zone().mint_access_token(user="alice", resource="not a uri")


async def test_serve_stops_cleanly_and_frees_the_port(make_zone: ZoneFactory) -> None:
    zone = make_zone()
    async with zone.serve(), httpx.AsyncClient() as http:
        assert (await http.get(f"{zone.issuer}/jwks")).status_code == 200
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", zone.port), timeout=1)
    async with zone.serve():  # the port can be bound again at once
        pass


async def test_serve_reports_a_taken_port(make_zone: ZoneFactory) -> None:
    zone = make_zone()
    with (
        socket.create_server(("127.0.0.1", zone.port)),
        pytest.raises(OSError, match="cannot listen"),
    ):
        async with zone.serve():
            pass


def test_issued_token_header_and_kid(make_zone: ZoneFactory) -> None:
    zone = make_zone()
    header = jwt.get_unverified_header(zone.mint_access_token(user="a", resource=API_RESOURCE))
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": zone.kid}
