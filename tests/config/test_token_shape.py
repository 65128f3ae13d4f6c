"""``validate --online --token``'s shape check against the verifier's own rules, no socket.

Every sample token here is also handed to a ``JWTVerifier`` set up as the config sets up the
server's: the shape check reports a token exactly when the verifier refuses it (for the rules
a token's face shows), so ``validate --token`` and the running server cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest

from keycard_serve._urls import normalize_base_url
from keycard_serve._verifier import JWTVerifier
from keycard_serve.config import LoadedConfig, load_config
from keycard_serve.config.token_shape import decode_sample, token_shape_findings
from keycard_serve.errors import TokenError
from tests.support.keys import public_jwk, rsa_key, sign

ISSUER = "https://zone.test"
MCP_URL = "https://mcp.example.com/mcp"
NOW = 1_800_000_000
RSA = rsa_key()

CONFIG = """\
version: 1
server: {name: t, base_url: "https://mcp.example.com/"}
zone:
  url: https://zone.test
  accepted_audiences: [api://mcp-app]
%s
credentials:
  client_id: c
  client_secret: ${SECRET}
tools: [{function: "examples.weather:forecast"}]
"""
# Keycloak and Cognito shapes: typ JWT or none, and audienceless tokens of one app client.
RELAXED = """\
  accepted_token_types: [at+jwt, JWT]
  allow_untyped_tokens: true
  tokens_without_audience: [app-client]
"""


@pytest.fixture
def strict(write: Callable[..., Path]) -> LoadedConfig:
    return load_config(write(CONFIG % ""), environ={"SECRET": "s"})


@pytest.fixture
def relaxed(write: Callable[..., Path]) -> LoadedConfig:
    return load_config(write(CONFIG % RELAXED), environ={"SECRET": "s"})


def token(header_typ: str | None = "at+jwt", drop: tuple[str, ...] = (), **changes: Any) -> str:
    claims = {
        "iss": ISSUER,
        "aud": MCP_URL,
        "sub": "alice",
        "iat": NOW - 10,
        "exp": NOW + 300,
        "scope": "mcp:tools",
        "client_id": "app-client",
        **changes,
    }
    return sign({k: v for k, v in claims.items() if k not in drop}, RSA, typ=header_typ)


def shape(loaded: LoadedConfig, sample: str) -> dict[str, str]:
    """The shape check's findings, field to message."""
    found = token_shape_findings(decode_sample(sample), loaded.config, ISSUER, loaded.locator)
    assert all(finding.severity == "error" for finding in found)
    return {finding.field: finding.message for finding in found}


async def verifier_accepts(loaded: LoadedConfig, sample: str) -> bool:
    """What the running server answers, from the settings ``_provider`` gives it."""
    zone, server = loaded.config.zone, loaded.config.server
    verifier = JWTVerifier(
        issuer=(ISSUER, *zone.accepted_issuers),
        audiences=(server.mcp_url, normalize_base_url(server.base_url), *zone.accepted_audiences),
        key_resolver=_key,
        accepted_types=(*zone.accepted_token_types, *([None] if zone.allow_untyped_tokens else [])),
        tokens_without_audience=zone.tokens_without_audience,
        clock=lambda: NOW,
    )
    try:
        await verifier.verify(sample)
    except TokenError:
        return False
    return True


async def _key(header: Mapping[str, Any]) -> jwt.PyJWK:
    return jwt.PyJWK(public_jwk(RSA, "rsa-1", alg="RS256"))


@pytest.mark.parametrize(
    "aud",
    [
        MCP_URL,
        "https://mcp.example.com:443/mcp",  # the default port
        "HTTPS://MCP.Example.COM/mcp",  # scheme and host are case-insensitive
        "https://mcp.example.com/a/../mcp",  # dot segments
        "https://mcp.example.com/./mcp",
        "https://mcp.example.com/%6Dcp",  # an unreserved character percent-encoded
        "https://mcp.example.com",  # the base URL: an empty path is "/"
        "HTTPS://mcp.example.com:443/",
        ["account", "https://MCP.example.com:443/mcp"],  # one of several
        "api://mcp-app",  # zone.accepted_audiences, not a URL: as it is
    ],
)
async def test_every_spelling_of_this_servers_url_is_its_audience(
    strict: LoadedConfig, aud: str | list[str]
) -> None:
    sample = token(aud=aud)
    assert shape(strict, sample) == {}
    assert await verifier_accepts(strict, sample)


@pytest.mark.parametrize(
    "aud",
    [
        "https://mcp.example.com/other",
        "https://mcp.example.com/mcp/",  # a trailing slash is another path (RFC 3986 6.2.3)
        "https://mcp.example.com:8443/mcp",
        "http://mcp.example.com/mcp",
        "https://other.example.com/mcp",
        "API://mcp-app",  # not a URL: compared as it is, so case counts
        ["account", "api://other"],
    ],
)
async def test_a_different_audience_is_named_with_its_setting(
    strict: LoadedConfig, aud: str | list[str]
) -> None:
    sample = token(aud=aud)
    found = shape(strict, sample)
    assert list(found) == ["zone.accepted_audiences"]
    named = aud if isinstance(aud, str) else aud[-1]
    assert (
        repr(named) in found["zone.accepted_audiences"]
        and repr(MCP_URL) in (found["zone.accepted_audiences"])
    )
    assert not await verifier_accepts(strict, sample)


@pytest.mark.parametrize("aud", ["", [], ["https://mcp.example.com/mcp", 7]])
async def test_an_empty_or_garbled_audience_is_refused(relaxed: LoadedConfig, aud: Any) -> None:
    sample = token(aud=aud, token_use="access")
    assert list(shape(relaxed, sample)) == ["zone"]  # tokens_without_audience cannot help
    assert not await verifier_accepts(relaxed, sample)


@pytest.mark.parametrize(
    ("marker", "claims"),
    [
        ("nonce", {"nonce": "n-1"}),
        ("at_hash", {"at_hash": "h"}),
        ("c_hash", {"c_hash": "h"}),
        ("typ", {"typ": "ID"}),  # Keycloak
        ("token_use", {"token_use": "id"}),  # Amazon Cognito
        ("token_use", {"token_use": "refresh"}),
    ],
)
async def test_each_id_token_marker_is_named_unless_typ_says_access_token(
    relaxed: LoadedConfig, marker: str, claims: dict[str, str]
) -> None:
    for typ in ("JWT", None):
        sample = token(header_typ=typ, **claims)
        found = shape(relaxed, sample)
        assert list(found) == ["zone"] and "ID token" in found["zone"]
        assert f"its {marker} claim" in found["zone"]
        assert not await verifier_accepts(relaxed, sample)
    # typ at+jwt says what the token is (RFC 9068 section 2.1): the claims are not looked at
    sample = token(**claims)
    assert shape(relaxed, sample) == {}
    assert await verifier_accepts(relaxed, sample)


async def test_an_unaccepted_typ_is_named_with_the_id_token_it_also_is(
    strict: LoadedConfig,
) -> None:
    sample = token(header_typ="JWT", nonce="n-1")
    found = shape(strict, sample)
    assert "'JWT'" in found["zone.accepted_token_types"] and "nonce" in found["zone"]
    assert not await verifier_accepts(strict, sample)
    # RFC 7515 4.1.9: "application/" may be omitted and case is ignored
    sample = token(header_typ="application/AT+JWT")
    assert shape(strict, sample) == {}
    assert await verifier_accepts(strict, sample)


async def test_an_audienceless_token_needs_a_listed_client_and_token_use_access(
    strict: LoadedConfig, relaxed: LoadedConfig
) -> None:
    cognito = token(header_typ=None, drop=("aud",), token_use="access")
    assert shape(relaxed, cognito) == {}
    assert await verifier_accepts(relaxed, cognito)
    # not listed (the strict config lists nobody): the client id is named with the cost
    found = shape(strict, cognito)["zone.tokens_without_audience"]
    assert "'app-client'" in found and "any of its access tokens" in found
    assert not await verifier_accepts(strict, cognito)
    other = token(header_typ=None, drop=("aud",), token_use="access", client_id="other-client")
    assert "'other-client'" in shape(relaxed, other)["zone.tokens_without_audience"]
    assert not await verifier_accepts(relaxed, other)
    # listed, but not said to be an access token
    unsaid = token(header_typ=None, drop=("aud",))
    assert "token_use access" in shape(relaxed, unsaid)["zone.tokens_without_audience"]
    assert not await verifier_accepts(relaxed, unsaid)
    # a token WITH an audience still has to name this server
    elsewhere = token(header_typ=None, aud="https://other.example.com/mcp", token_use="access")
    assert list(shape(relaxed, elsewhere)) == ["zone.accepted_audiences"]
    assert not await verifier_accepts(relaxed, elsewhere)


@pytest.mark.parametrize("iss", [ISSUER + "/", "HTTPS://zone.test", "https://zone.test:443"])
async def test_the_issuer_is_compared_exactly_as_the_verifier_does(
    strict: LoadedConfig, iss: str
) -> None:
    # Unlike audiences: once the zone's metadata is known, iss must be its issuer, verbatim.
    sample = token(iss=iss)
    assert repr(iss) in shape(strict, sample)["zone.accepted_issuers"]
    assert not await verifier_accepts(strict, sample)
