# ruff: noqa: F811 - the fixtures of tests/test_verifier.py, imported to be shared
"""JWTVerifier and other authorization servers' token shapes (issue 15), no socket.

Each refusal of a shape the zone itself produces names the setting that accepts it and its
cost; each setting accepts only what it names.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from keycard_serve._verifier import JWTVerifier
from tests.support.keys import sign
from tests.test_verifier import (  # noqa: F401 - fixtures
    AUDIENCE,
    ISSUER,
    NOW,
    RSA,
    SECRET_SUB,
    claims,
    elsewhere,
    host,
    jwks,
    make,
    monotonic,
    pool,
    refused,
    served,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ENTRA_V1 = "https://sts.windows.net/7d3c1b2a-tenant/"


async def test_another_issuer_is_refused_naming_accepted_issuers(make: Any, caplog) -> None:
    token = sign(claims(iss=ENTRA_V1), RSA)
    with caplog.at_level(logging.WARNING, "keycard_serve._verifier"):
        error = await refused(make(), token)
    assert error.code == "invalid_issuer"
    assert "zone.accepted_issuers" in error.message and "cost" in error.message
    assert "zone.accepted_issuers" in caplog.text and token not in caplog.text


async def test_accepted_issuers_are_exact(jwks: Any) -> None:
    verifier = JWTVerifier(
        issuer=[ISSUER, ENTRA_V1],
        audiences=[AUDIENCE],
        key_resolver=jwks.get_signing_key,
        clock=lambda: NOW,
    )
    assert (await verifier.verify(sign(claims(iss=ENTRA_V1), RSA))).issuer == ENTRA_V1
    assert (await verifier.verify(sign(claims(), RSA))).issuer == ISSUER
    other_tenant = sign(claims(iss="https://sts.windows.net/other-tenant/"), RSA)
    assert (await refused(verifier, other_tenant)).code == "invalid_issuer"


async def test_a_client_id_audience_is_refused_naming_accepted_audiences(make: Any) -> None:
    error = await refused(make(), sign(claims(aud=["mcp-server", "account"]), RSA, typ="JWT"))
    # typ JWT is refused first, naming its own setting
    assert error.code == "invalid_type" and "zone.accepted_token_types" in error.message
    error = await refused(make(), sign(claims(aud="mcp-server"), RSA))
    assert error.code == "invalid_audience" and "zone.accepted_audiences" in error.message


async def test_extra_audiences_accept_exactly_those(make: Any) -> None:
    verifier = make(audiences=[AUDIENCE, "mcp-server"], accepted_types=["at+jwt", "JWT"])
    verified = await verifier.verify(sign(claims(aud=["mcp-server", "account"]), RSA, typ="JWT"))
    assert verified.audience == ("mcp-server", "account")
    assert (await refused(verifier, sign(claims(aud="account"), RSA))).code == "invalid_audience"


async def test_a_token_without_audience_is_refused_naming_the_setting_and_cost(
    make: Any,
) -> None:
    cognito = claims(drop=("aud",), client_id="app-client", token_use="access")
    for verifier in (make(), make(tokens_without_audience=["another-client"])):
        error = await refused(verifier, sign(cognito, RSA))
        assert error.code == "missing_claim"
        assert "zone.tokens_without_audience" in error.message and "ANY access token" in (
            error.message
        )


async def test_tokens_without_audience_need_a_listed_client_and_token_use_access(
    make: Any,
) -> None:
    verifier = make(tokens_without_audience=["app-client"], accepted_types=["at+jwt", None])
    cognito = claims(drop=("aud",), client_id="app-client", token_use="access")
    verified = await verifier.verify(sign(cognito, RSA, typ=None))
    assert (verified.audience, verified.client_id) == ((), "app-client")
    id_token = claims(drop=("aud",), client_id="app-client", token_use="id")
    assert (await refused(verifier, sign(id_token, RSA, typ=None))).code == "invalid_claim"
    untyped_use = claims(drop=("aud",), client_id="app-client")
    assert (await refused(verifier, sign(untyped_use, RSA))).code == "invalid_claim"
    # a client_id that is not a string is no listed client (refused, not a TypeError)
    listed = claims(drop=("aud",), client_id=["app-client"], token_use="access")
    assert (await refused(verifier, sign(listed, RSA))).code == "missing_claim"
    # a token WITH an audience still has to name this server
    wrong = claims(aud="elsewhere", client_id="app-client", token_use="access")
    assert (await refused(verifier, sign(wrong, RSA))).code == "invalid_audience"


@pytest.mark.parametrize(
    "marker",
    [{"nonce": "n"}, {"at_hash": "h"}, {"c_hash": "h"}, {"typ": "ID"}, {"token_use": "id"}],
)
async def test_with_typ_relaxed_id_tokens_are_refused(make: Any, marker: dict[str, Any]) -> None:
    verifier = make(audiences=[AUDIENCE, "mcp-server"], accepted_types=["at+jwt", "JWT", None])
    id_token = claims(aud="mcp-server", **marker)
    for typ in ("JWT", None):
        error = await refused(verifier, sign(id_token, RSA, typ=typ))
        assert error.code == "invalid_type" and "ID token" in error.message
    # at+jwt says what it is: the markers are not looked at (RFC 9068 section 2.1)
    assert (await verifier.verify(sign(id_token, RSA))).subject == SECRET_SUB


@pytest.mark.parametrize(
    ("extra", "scope_claims", "scopes"),
    [
        ({"scope": None, "scp": ["mcp:tools", "read"]}, ("scope", "scp"), ("mcp:tools", "read")),
        ({"scope": None, "scp": "mcp:tools read"}, ("scope", "scp"), ("mcp:tools", "read")),
        ({"scope": ["a", "b"]}, ("scope", "scp"), ("a", "b")),
        ({"scope": "a", "permissions": ["p:1"]}, ("scope", "scp"), ("a",)),
        ({"scope": "a", "permissions": ["p:1"]}, ("scope", "permissions"), ("a", "p:1")),
    ],
)
async def test_scopes_are_read_from_string_or_array_claims(
    make: Any, extra: dict[str, Any], scope_claims: tuple[str, ...], scopes: tuple[str, ...]
) -> None:
    dropped = tuple(name for name, value in extra.items() if value is None)
    kept = {name: value for name, value in extra.items() if value is not None}
    verifier = make(scope_claims=scope_claims)
    verified = await verifier.verify(sign(claims(drop=dropped, **kept), RSA))
    assert verified.scopes == scopes


async def test_scope_prefix_names_entra_short_scopes_in_full(make: Any) -> None:
    verifier = make(scope_prefix="api://mcp.example.com/")
    token = claims(drop=("scope",), scp="tools.read api://mcp.example.com/tools.write")
    verified = await verifier.verify(sign(token, RSA))
    assert verified.scopes == (
        "api://mcp.example.com/tools.read",
        "api://mcp.example.com/tools.write",
    )


async def test_missing_sub_says_how_keycloak_adds_it(make: Any) -> None:
    error = await refused(make(), sign(claims(drop=("sub",)), RSA))
    assert error.code == "missing_claim" and "basic" in error.message


@pytest.mark.parametrize(
    "options",
    [
        {"issuer": []},
        {"issuer": ["", ISSUER]},
        {"tokens_without_audience": "app"},
        {"scope_claims": [""]},
        {"scope_prefix": 3},
    ],
)
async def test_bad_shape_options_are_refused(options: dict[str, Any]) -> None:
    arguments = {"issuer": ISSUER, "audiences": [AUDIENCE], "key_resolver": None, **options}
    with pytest.raises(ValueError):
        JWTVerifier(**arguments)


@pytest.mark.parametrize("claim", ["azp", "cid", "appid"])
async def test_the_client_id_is_read_where_each_server_puts_it(make: Any, claim: str) -> None:
    token = sign(claims(drop=("client_id",), **{claim: "the-client"}), RSA)
    assert (await make().verify(token)).client_id == "the-client"
