"""Refresh-token rotation and the client_credentials grant."""

from __future__ import annotations

import httpx
import pytest

from .helpers import API_RESOURCE, MCP_RESOURCE, basic, login, oauth_error, verify

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _refresh(http: httpx.AsyncClient, client_id: str, token: str, **params: str):
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    return await http.post("/token", data={**form, **params})


async def test_refresh_rotates_and_the_old_token_dies(http: httpx.AsyncClient) -> None:
    client, first = await login(http)
    response = await _refresh(http, client["client_id"], first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = await verify(http, second["access_token"], audience=MCP_RESOURCE)
    assert (claims["sub"], claims["client_id"]) == ("alice", client["client_id"])

    reused = await _refresh(http, client["client_id"], first["refresh_token"])
    oauth_error(reused, 400, "invalid_grant")
    assert (await _refresh(http, client["client_id"], second["refresh_token"])).status_code == 200


async def test_refresh_token_is_bound_to_client_and_resource(http: httpx.AsyncClient) -> None:
    _, tokens = await login(http)
    other, _ = await login(http)
    stolen = await _refresh(http, other["client_id"], tokens["refresh_token"])
    oauth_error(stolen, 400, "invalid_grant")

    owner, tokens = await login(http)
    moved = await _refresh(http, owner["client_id"], tokens["refresh_token"], resource=API_RESOURCE)
    oauth_error(moved, 400, "invalid_target")


async def test_refresh_may_narrow_scope_but_not_widen_it(http: httpx.AsyncClient) -> None:
    client, tokens = await login(http, scope="read write")
    assert tokens["scope"] == "read write"
    narrowed = await _refresh(http, client["client_id"], tokens["refresh_token"], scope="read")
    assert narrowed.json()["scope"] == "read"
    # The rotated refresh token keeps the original grant.
    full = await _refresh(http, client["client_id"], narrowed.json()["refresh_token"])
    assert full.json()["scope"] == "read write"
    wider = await _refresh(http, client["client_id"], full.json()["refresh_token"], scope="admin")
    oauth_error(wider, 400, "invalid_scope")


async def test_no_refresh_token_for_a_client_without_the_grant(http: httpx.AsyncClient) -> None:
    _, tokens = await login(http, grant_types=["authorization_code"])
    assert "refresh_token" not in tokens


async def test_client_credentials_for_a_confidential_client(http: httpx.AsyncClient) -> None:
    registered = await http.post("/register", json={"grant_types": ["client_credentials"]})
    client = registered.json()
    response = await http.post(
        "/token",
        data={"grant_type": "client_credentials", "resource": API_RESOURCE, "scope": "jobs"},
        headers=basic(client["client_id"], client["client_secret"]),
    )
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    claims = await verify(http, response.json()["access_token"], audience=API_RESOURCE)
    assert claims["sub"] == claims["client_id"] == client["client_id"]
    assert claims["scope"] == "jobs"


async def test_client_credentials_refused_to_public_and_unauthenticated_clients(
    http: httpx.AsyncClient,
) -> None:
    public, _ = await login(http)
    form = {"grant_type": "client_credentials", "resource": API_RESOURCE}
    response = await http.post("/token", data={**form, "client_id": public["client_id"]})
    oauth_error(response, 400, "unauthorized_client")
    anonymous = await http.post("/token", data=form)
    oauth_error(anonymous, 401, "invalid_client")


async def test_token_endpoint_rejects_malformed_requests(http: httpx.AsyncClient) -> None:
    oauth_error(await http.post("/token", data={}), 400, "invalid_request")
    oauth_error(
        await http.post("/token", data={"grant_type": "password"}), 400, "unsupported_grant_type"
    )
    as_json = await http.post("/token", json={"grant_type": "client_credentials"})
    oauth_error(as_json, 400, "invalid_request")
    twice = await http.post(
        "/token",
        content=b"grant_type=a&grant_type=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    oauth_error(twice, 400, "invalid_request")
