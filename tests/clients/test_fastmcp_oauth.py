"""FastMCP's OAuth client signs in on its own: from a bare 401 to a granted tool call.

``HeadlessOAuth`` is fastmcp's own test helper: its "browser" is an HTTP GET of the authorize
URL, which the development zone auto-approves. Every request the client sends through its
transport is recorded, so the tests see the discovery chain itself, not only its outcome.
"""

from __future__ import annotations

import base64
import hashlib
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import jwt
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.utilities.tests import HeadlessOAuth

from tests.clients.devserver import USER, DevServer

MODES = ["auto", "legacy"]


class RecordingOAuth(HeadlessOAuth):
    """fastmcp's headless OAuth, keeping every authorization URL it was sent to."""

    def __init__(self, mcp_url: str) -> None:
        self.authorization_urls: list[str] = []
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using in-memory token storage")
            super().__init__(mcp_url, client_name="keycard-serve client test")

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorization_urls.append(authorization_url)
        await super().redirect_handler(authorization_url)

    def access_claims(self) -> dict[str, Any]:
        """The claims of the token the client holds now (read, not trusted: the server checks)."""
        tokens = self.context.current_tokens
        assert tokens is not None
        return jwt.decode(tokens.access_token, options={"verify_signature": False})


@dataclass
class Wire:
    """Every response the client's HTTP transport received, in order."""

    responses: list[httpx2.Response] = field(default_factory=list)

    def factory(self, **kwargs: Any) -> httpx2.AsyncClient:
        async def record(response: httpx2.Response) -> None:
            self.responses.append(response)

        kwargs.setdefault("event_hooks", {}).setdefault("response", []).append(record)
        return httpx2.AsyncClient(**kwargs)

    def lines(self) -> list[tuple[str, str, int]]:
        return [
            (r.request.method, str(r.request.url.copy_with(query=None)), r.status_code)
            for r in self.responses
        ]

    def to(self, url: str) -> list[httpx2.Response]:
        return [r for r in self.responses if str(r.request.url.copy_with(query=None)) == url]


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def _client(server: DevServer, mode: str) -> tuple[Client, RecordingOAuth, Wire]:
    oauth = RecordingOAuth(server.mcp_url)
    wire = Wire()
    transport = StreamableHttpTransport(
        server.mcp_url, auth=oauth, httpx_client_factory=wire.factory
    )
    return Client(transport, mode=mode), oauth, wire


@pytest.mark.parametrize("mode", MODES)
async def test_discovers_registers_and_signs_in_then_tools_get_exchanged_tokens(
    server: DevServer, expected_whoami: dict[str, Any], mode: str
) -> None:
    client, oauth, wire = _client(server, mode)
    async with client:
        whoami = await client.call_tool("whoami", {})
        sync = await client.call_tool("sync", {"days": 1})

    issuer = server.issuer
    assert wire.lines()[:6] == [
        ("POST", server.mcp_url, 401),
        ("GET", server.base_url + ".well-known/oauth-protected-resource/mcp", 200),
        ("GET", issuer + "/.well-known/oauth-authorization-server", 200),
        ("POST", issuer + "/register", 201),
        ("POST", issuer + "/token", 200),
        ("POST", server.mcp_url, 200),
    ]
    assert [line for line in wire.lines()[6:] if not line[1].startswith(server.mcp_url)] == []

    [registration] = wire.to(issuer + "/register")
    client_id = registration.json()["client_id"]
    [authorization_url] = oauth.authorization_urls
    assert authorization_url.startswith(issuer + "/authorize?")
    authorize = _query(authorization_url)
    assert authorize["client_id"] == client_id
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["resource"] == server.mcp_url
    assert authorize["scope"] == "calendar:write"  # the PRM's scopes_supported: no 401 scope

    [token_response] = wire.to(issuer + "/token")
    redeemed = dict(parse_qsl(token_response.request.content.decode()))
    assert redeemed["grant_type"] == "authorization_code"
    assert _s256(redeemed["code_verifier"]) == authorize["code_challenge"]
    assert redeemed["resource"] == server.mcp_url

    claims = oauth.access_claims()
    assert (claims["iss"], claims["sub"], claims["aud"]) == (issuer, USER, server.mcp_url)
    assert claims["client_id"] == client_id
    assert whoami.data == expected_whoami
    assert sync.data == {"ok": True, "days": 1, "tokens": True}


@pytest.mark.parametrize("mode", MODES)
async def test_steps_up_on_insufficient_scope_and_keeps_its_registration(
    scoped_server: DevServer, mode: str
) -> None:
    client, oauth, wire = _client(scoped_server, mode)
    async with client:
        whoami = await client.call_tool("whoami", {})
        assert oauth.access_claims()["scope"] == "mcp:tools"  # what the 401 challenge asked
        sync = await client.call_tool("sync", {"days": 2})

    [refused] = [r for r in wire.responses if r.status_code == 403]
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="mcp:tools calendar:write"' in challenge
    assert len(wire.to(scoped_server.issuer + "/register")) == 1
    first, second = oauth.authorization_urls
    assert _query(first)["client_id"] == _query(second)["client_id"]
    assert _query(second)["scope"] == "mcp:tools calendar:write"
    assert oauth.access_claims()["scope"] == "mcp:tools calendar:write"
    assert whoami.data == scoped_server.expected_whoami()
    assert sync.data == {"ok": True, "days": 2, "tokens": True}
