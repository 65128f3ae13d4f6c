"""RFC 8693 token exchange as keycard-serve's MCP server performs it for each tool."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keycard_serve.devzone import DevZone

from .conftest import ZoneFactory
from .helpers import (
    ACCESS_TOKEN_TYPE,
    API_RESOURCE,
    DENIED_RESOURCE,
    MCP_RESOURCE,
    TOKEN_EXCHANGE,
    basic,
    login,
    oauth_error,
    serving,
    verify,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _user_token(http: httpx.AsyncClient) -> str:
    _, tokens = await login(http)
    return tokens["access_token"]


async def _exchange(
    http: httpx.AsyncClient,
    credentials: tuple[str, str],
    subject_token: str,
    *,
    post_auth: bool = False,
    **params: str | list[str],
) -> httpx.Response:
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": API_RESOURCE,
        **params,
    }
    client_id, secret = credentials
    if post_auth:
        return await http.post(
            "/token", data={**form, "client_id": client_id, "client_secret": secret}
        )
    return await http.post("/token", data=form, headers=basic(client_id, secret))


async def test_exchange_delegates_the_user_to_the_resource(
    zone: DevZone, http: httpx.AsyncClient
) -> None:
    response = await _exchange(http, zone.server_client, await _user_token(http), scope="repo")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "repo"
    assert "refresh_token" not in body
    claims = await verify(http, body["access_token"], audience=API_RESOURCE)
    assert claims["sub"] == "alice"
    assert claims["aud"] == API_RESOURCE
    assert claims["act"] == {"sub": zone.server_client[0]}
    assert claims["client_id"] == zone.server_client[0]
    assert claims["scope"] == "repo"


async def test_client_secret_post_works_too(zone: DevZone, http: httpx.AsyncClient) -> None:
    response = await _exchange(http, zone.server_client, await _user_token(http), post_auth=True)
    assert response.status_code == 200, response.text


async def test_exchanging_an_exchanged_token_nests_act(
    zone: DevZone, http: httpx.AsyncClient
) -> None:
    first = await _exchange(http, zone.server_client, await _user_token(http))
    second = await _exchange(
        http, zone.server_client, first.json()["access_token"], resource="https://b.example.test/"
    )
    claims = await verify(http, second.json()["access_token"], audience="https://b.example.test/")
    server = zone.server_client[0]
    assert claims["act"] == {"sub": server, "act": {"sub": server}}


async def test_wrong_secret_is_401_invalid_client(zone: DevZone, http: httpx.AsyncClient) -> None:
    client_id, _ = zone.server_client
    response = await _exchange(http, (client_id, "wrong"), await _user_token(http))
    oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    unknown = await _exchange(http, ("nobody", "x"), await _user_token(http))
    oauth_error(unknown, 401, "invalid_client")


async def test_two_auth_methods_at_once_are_refused(zone: DevZone, http: httpx.AsyncClient) -> None:
    client_id, secret = zone.server_client
    response = await http.post(
        "/token",
        data={"grant_type": TOKEN_EXCHANGE, "client_secret": secret},
        headers=basic(client_id, secret),
    )
    oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "resource",
    [
        DENIED_RESOURCE,
        "https://denied.example.test:443/",  # other spellings of the denied resource
        "HTTPS://DENIED.Example.Test/",
        "https://denied.example.test/a/../",
        "",  # none: token exchange has no default resource
        "http://api.example.test/",  # plain http off loopback
        "https://api.example.test/#frag",
        "relative/path",
        [API_RESOURCE, "https://other.example.test/"],  # one resource at a time
    ],
)
async def test_bad_resource_is_invalid_target(
    zone: DevZone, http: httpx.AsyncClient, resource: str | list[str]
) -> None:
    response = await _exchange(http, zone.server_client, await _user_token(http), resource=resource)
    oauth_error(response, 400, "invalid_target")


@pytest.mark.parametrize(
    "spelling", ["https://api.example.test:443/", "HTTPS://API.Example.test/", API_RESOURCE]
)
async def test_the_aud_is_minted_in_canonical_form(
    zone: DevZone, http: httpx.AsyncClient, spelling: str
) -> None:
    """Finding 5: a resource server compares its own canonical URL."""
    response = await _exchange(http, zone.server_client, await _user_token(http), resource=spelling)
    assert response.status_code == 200, response.text
    claims = await verify(http, response.json()["access_token"], audience=API_RESOURCE)
    assert claims["aud"] == API_RESOURCE


async def test_audience_must_agree_with_resource(zone: DevZone, http: httpx.AsyncClient) -> None:
    response = await _exchange(
        http, zone.server_client, await _user_token(http), audience="https://elsewhere.test/"
    )
    oauth_error(response, 400, "invalid_target")


def _foreign_token(issuer: str, kid: str) -> str:
    """Shaped like ours, same iss and kid, signed by a key the zone does not hold."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": "mallory",
        "aud": MCP_RESOURCE,
        "iat": now,
        "exp": now + 60,
        "jti": "x",
    }
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "at+jwt", "kid": kid})


async def test_subject_token_must_be_one_of_ours(zone: DevZone, http: httpx.AsyncClient) -> None:
    valid = zone.mint_access_token(user="alice", resource=MCP_RESOURCE)
    payload = jwt.decode(valid, options={"verify_signature": False})
    now = int(time.time())
    ours = {"typ": "at+jwt", "kid": zone.kid}
    cases = {
        "garbage": "not-a-jwt",
        "foreign key": _foreign_token(zone.issuer, zone.kid),
        "unsigned": jwt.encode(payload, None, algorithm="none", headers=ours),
        "HS256": jwt.encode(payload, "a-shared-secret-long-enough-for-hs256", "HS256", ours),
        "expired": zone._authority.key.sign({**payload, "iat": now - 120, "exp": now - 60}),
        "other issuer": zone._authority.key.sign({**payload, "iss": "http://127.0.0.1:1"}),
        "typ JWT": jwt.encode(
            payload,
            zone._authority.key._private_key,
            algorithm="ES256",
            headers={"typ": "JWT", "kid": zone.kid},
        ),
    }
    for name, token in cases.items():
        response = await _exchange(http, zone.server_client, token)
        assert response.status_code == 400, name
        assert response.json()["error"] == "invalid_request", name
    assert (await _exchange(http, zone.server_client, valid)).status_code == 200


async def test_subject_token_type_must_be_access_token(
    zone: DevZone, http: httpx.AsyncClient
) -> None:
    token = await _user_token(http)
    for params in (
        {"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"},
        {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
        {"actor_token": token, "actor_token_type": ACCESS_TOKEN_TYPE},
    ):
        response = await _exchange(http, zone.server_client, token, **params)
        oauth_error(response, 400, "invalid_request")


async def test_public_client_may_not_exchange(http: httpx.AsyncClient) -> None:
    client, tokens = await login(http)
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "client_id": client["client_id"],
        "subject_token": tokens["access_token"],
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": API_RESOURCE,
    }
    oauth_error(await http.post("/token", data=form), 400, "unauthorized_client")


async def test_basic_auth_is_form_decoded(zone: DevZone, http: httpx.AsyncClient) -> None:
    """RFC 6749 §2.3.1: a client id and secret with ':', '%', '+', '@' and spaces."""
    client_id, secret = "mcp:special client+1", "p@ss:w%rd+ /x"
    zone.register_client(client_id=client_id, client_secret=secret, grant_types=[TOKEN_EXCHANGE])
    response = await _exchange(http, (client_id, secret), await _user_token(http))
    assert response.status_code == 200, response.text
    claims = await verify(http, response.json()["access_token"], audience=API_RESOURCE)
    assert claims["act"] == {"sub": client_id}
    # Sent without the form-encoding, '+' and '%' mean something else: authentication fails.
    raw = await http.post(
        "/token",
        data={"grant_type": TOKEN_EXCHANGE},
        auth=httpx.BasicAuth(client_id, secret),
    )
    oauth_error(raw, 401, "invalid_client")


async def test_scope_policy_hook_can_refuse_scopes(make_zone: ZoneFactory) -> None:
    def only_read(client_id: str, resource: str, scopes: tuple[str, ...]) -> bool:
        return set(scopes) <= {"read"}

    zone = make_zone(scope_policy=only_read)
    async with serving(zone) as http:
        token = await _user_token(http)
        assert (await _exchange(http, zone.server_client, token, scope="read")).status_code == 200
        refused = await _exchange(http, zone.server_client, token, scope="read write")
        oauth_error(refused, 400, "invalid_scope")
