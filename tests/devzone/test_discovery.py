"""What clients fetch before anything else: metadata, keys, CORS, and the dev-zone warning."""

from __future__ import annotations

import httpx
import pytest

from keycard_serve.devzone import DevZone

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_both_discovery_documents_are_identical_and_complete(
    zone: DevZone, http: httpx.AsyncClient
) -> None:
    oauth = await http.get("/.well-known/oauth-authorization-server")
    oidc = await http.get("/.well-known/openid-configuration")
    assert oauth.status_code == oidc.status_code == 200
    assert oauth.json() == oidc.json()
    document = oauth.json()
    issuer = f"http://127.0.0.1:{zone.port}"
    assert document["issuer"] == zone.issuer == issuer
    assert document["authorization_endpoint"] == f"{issuer}/authorize"
    assert document["token_endpoint"] == f"{issuer}/token"
    assert document["registration_endpoint"] == f"{issuer}/register"
    assert document["jwks_uri"] == f"{issuer}/jwks"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert set(document["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["client_id_metadata_document_supported"] is True  # test_cimd.py
    assert "scopes_supported" in document
    assert "not for production" in document["keycard_serve_development_zone"]


async def test_jwks_publishes_one_es256_signing_key(zone: DevZone, http: httpx.AsyncClient) -> None:
    keys = (await http.get("/jwks")).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kid"] == zone.kid
    assert (keys[0]["kty"], keys[0]["crv"], keys[0]["alg"], keys[0]["use"]) == (
        "EC",
        "P-256",
        "ES256",
        "sig",
    )
    assert "d" not in keys[0]


async def test_cors_for_loopback_pages_on_fetched_endpoints_not_on_authorize(
    http: httpx.AsyncClient,
) -> None:
    inspector = "http://localhost:6274"
    origin = {"Origin": inspector}
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        response = await http.get(path, headers=origin)
        assert response.headers["access-control-allow-origin"] == inspector
    jwks = await http.get("/jwks", headers={"Origin": "http://127.0.0.1:5173"})
    assert jwks.headers["access-control-allow-origin"] == "http://127.0.0.1:5173"
    for path in ("/token", "/register"):
        preflight = await http.options(
            path,
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == inspector
    # Errors keep their CORS headers, so a browser client can read why it failed.
    failed = await http.post("/token", data={"grant_type": "password"}, headers=origin)
    assert failed.status_code == 400
    assert failed.headers["access-control-allow-origin"] == inspector
    page = await http.get("/authorize", params={"client_id": "nobody"}, headers=origin)
    assert "access-control-allow-origin" not in page.headers
    # A page on the internet gets no CORS access to a zone that hands out tokens.
    foreign = await http.get("/jwks", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


async def test_refuses_requests_addressed_to_other_host_names(http: httpx.AsyncClient) -> None:
    """DNS rebinding: a page at evil.example resolving to 127.0.0.1 is same-origin to itself."""
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io"):
        response = await http.get("/jwks", headers={"Host": host})
        assert response.status_code == 421, host
        assert "not for production" in response.text
    for host in ("localhost:1234", "127.0.0.1", "[::1]:80"):
        assert (await http.get("/jwks", headers={"Host": host})).status_code == 200, host


async def test_every_page_says_development_zone(http: httpx.AsyncClient) -> None:
    index = await http.get("/")
    assert "development zone — not for production" in index.text
    error = await http.get("/authorize", params={"client_id": "nobody"})
    assert error.status_code == 400
    assert "development zone — not for production" in error.text
    assert error.headers["x-frame-options"] == "DENY"
