"""The authorization-code flow with PKCE, done by hand the way an MCP client does it."""

from __future__ import annotations

import re

import httpx
import pytest

from keycard_serve.devzone import DevZone

from .conftest import ZoneFactory
from .helpers import (
    API_RESOURCE,
    DENIED_RESOURCE,
    MCP_RESOURCE,
    REDIRECT_URI,
    authorize,
    login,
    oauth_error,
    pkce,
    redeem,
    redirect_params,
    register,
    serving,
    verify,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_full_flow_issues_an_audience_bound_user_token(
    zone: DevZone, http: httpx.AsyncClient
) -> None:
    client = await register(http, client_name="VS Code")
    verifier, challenge = pkce()
    response = await authorize(http, client["client_id"], challenge, scope="tools:read tools")
    assert response.status_code == 302
    redirected = redirect_params(response)
    assert redirected["state"] == "state-123"
    assert redirected["iss"] == zone.issuer  # RFC 9207

    tokens = await redeem(http, client["client_id"], redirected["code"], verifier)
    assert tokens.status_code == 200
    assert tokens.headers["cache-control"] == "no-store"
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "tools:read tools"
    assert body["refresh_token"]

    claims = await verify(http, body["access_token"], audience=MCP_RESOURCE)
    assert claims["sub"] == "alice"
    assert claims["aud"] == MCP_RESOURCE
    assert claims["client_id"] == client["client_id"]
    assert claims["scope"] == "tools:read tools"
    assert claims["exp"] - claims["iat"] == 3600
    assert "act" not in claims


async def test_code_is_single_use(http: httpx.AsyncClient) -> None:
    client = await register(http)
    verifier, challenge = pkce()
    code = redirect_params(await authorize(http, client["client_id"], challenge))["code"]
    assert (await redeem(http, client["client_id"], code, verifier)).status_code == 200
    oauth_error(await redeem(http, client["client_id"], code, verifier), 400, "invalid_grant")


async def test_wrong_verifier_is_refused_and_spends_the_code(http: httpx.AsyncClient) -> None:
    client = await register(http)
    verifier, challenge = pkce()
    code = redirect_params(await authorize(http, client["client_id"], challenge))["code"]
    other_verifier, _ = pkce()
    oauth_error(await redeem(http, client["client_id"], code, other_verifier), 400, "invalid_grant")
    oauth_error(await redeem(http, client["client_id"], code, verifier), 400, "invalid_grant")


async def test_mismatched_redirect_uri_at_token_is_refused(http: httpx.AsyncClient) -> None:
    client = await register(http, redirect_uris=[REDIRECT_URI, "http://127.0.0.1:1234/cb"])
    verifier, challenge = pkce()
    code = redirect_params(await authorize(http, client["client_id"], challenge))["code"]
    response = await redeem(
        http, client["client_id"], code, verifier, redirect_uri="http://127.0.0.1:1234/cb"
    )
    oauth_error(response, 400, "invalid_grant")


async def test_code_of_another_client_is_refused(http: httpx.AsyncClient) -> None:
    owner, thief = await register(http), await register(http)
    verifier, challenge = pkce()
    code = redirect_params(await authorize(http, owner["client_id"], challenge))["code"]
    oauth_error(await redeem(http, thief["client_id"], code, verifier), 400, "invalid_grant")


async def test_resource_at_token_must_match_the_code(http: httpx.AsyncClient) -> None:
    client = await register(http)
    verifier, challenge = pkce()
    code = redirect_params(await authorize(http, client["client_id"], challenge))["code"]
    response = await redeem(http, client["client_id"], code, verifier, resource=API_RESOURCE)
    oauth_error(response, 400, "invalid_target")


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),  # absent means plain (RFC 7636)
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"resource": ""}, "invalid_target"),  # none sent and no default configured
        ({"resource": DENIED_RESOURCE}, "invalid_target"),
        ({"resource": "https://api.example.test/#frag"}, "invalid_target"),
        ({"scope": "bad\\scope"}, "invalid_scope"),
    ],
)
async def test_bad_requests_are_sent_back_to_the_client(
    zone: DevZone, http: httpx.AsyncClient, params: dict[str, str], error: str
) -> None:
    client = await register(http)
    _, challenge = pkce()
    redirected = redirect_params(await authorize(http, client["client_id"], challenge, **params))
    assert redirected["error"] == error
    assert redirected["error_description"]
    assert redirected["state"] == "state-123"
    assert redirected["iss"] == zone.issuer
    assert "code" not in redirected


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": "unknown"},
        {"redirect_uri": "http://127.0.0.1:9/elsewhere"},
        {"redirect_uri": REDIRECT_URI + "/"},  # exact match only
        {"redirect_uri": ""},
    ],
)
async def test_untrusted_client_or_redirect_gets_a_page_not_a_redirect(
    http: httpx.AsyncClient, params: dict[str, str]
) -> None:
    client = await register(http)
    params = {"client_id": client["client_id"], **params}
    _, challenge = pkce()
    response = await authorize(http, params.pop("client_id"), challenge, **params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not for production" in response.text


async def test_default_resource_applies_when_the_client_sends_none(
    make_zone: ZoneFactory,
) -> None:
    async with serving(make_zone(default_resource=MCP_RESOURCE)) as http:
        client = await register(http)
        verifier, challenge = pkce()
        response = await authorize(http, client["client_id"], challenge, resource="")
        code = redirect_params(response)["code"]
        tokens = await redeem(http, client["client_id"], code, verifier, resource="")
        claims = await verify(http, tokens.json()["access_token"], audience=MCP_RESOURCE)
    assert claims["aud"] == MCP_RESOURCE


async def test_consent_page_then_approve(make_zone: ZoneFactory) -> None:
    async with serving(make_zone(auto_approve=False, user="carol")) as http:
        client = await register(http, client_name="Cursor <dev>")
        verifier, challenge = pkce()
        page = await authorize(http, client["client_id"], challenge, scope="tools")
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        for shown in (
            "carol",
            "Cursor &lt;dev&gt;",
            client["client_id"],
            MCP_RESOURCE,
            "tools",
            "Approve",
            "not for production",
        ):
            assert shown in page.text
        ticket = re.search(r'name="consent" value="([^"]+)"', page.text).group(1)

        approved = await http.post("/authorize", data={"consent": ticket, "decision": "approve"})
        assert approved.status_code == 303
        redirected = redirect_params(approved)
        assert redirected["state"] == "state-123"
        tokens = await redeem(http, client["client_id"], redirected["code"], verifier)
        claims = await verify(http, tokens.json()["access_token"], audience=MCP_RESOURCE)
        assert claims["sub"] == "carol"

        again = await http.post("/authorize", data={"consent": ticket, "decision": "approve"})
        assert again.status_code == 400  # a consent is answered once


async def test_consent_page_then_deny(make_zone: ZoneFactory) -> None:
    zone = make_zone(auto_approve=False)
    async with serving(zone) as http:
        client = await register(http)
        page = await authorize(http, client["client_id"], pkce()[1])
        ticket = re.search(r'name="consent" value="([^"]+)"', page.text).group(1)
        denied = await http.post("/authorize", data={"consent": ticket, "decision": "deny"})
        redirected = redirect_params(denied)
    assert redirected["error"] == "access_denied"
    assert redirected["iss"] == zone.issuer


async def test_login_helper_round_trip(http: httpx.AsyncClient) -> None:
    client, tokens = await login(http)
    claims = await verify(http, tokens["access_token"], audience=MCP_RESOURCE)
    assert claims["client_id"] == client["client_id"]
