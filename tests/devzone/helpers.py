"""Hand-driven OAuth steps against a served DevZone, with httpx and nothing cleverer."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import httpx
import jwt

from keycard_serve.devzone import DevZone

REDIRECT_URI = "http://127.0.0.1:33418/callback"
MCP_RESOURCE = "http://127.0.0.1:8000/mcp"
API_RESOURCE = "https://api.example.test/"
DENIED_RESOURCE = "https://denied.example.test/"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@contextlib.asynccontextmanager
async def serving(zone: DevZone) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``zone`` and yield a client for it."""
    async with zone.serve(), httpx.AsyncClient(base_url=zone.issuer) as http:
        yield http


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An RFC 6749 §2.3.1 Authorization header: form-urlencode each part, then base64."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def register(http: httpx.AsyncClient, **metadata: Any) -> dict[str, Any]:
    metadata.setdefault("redirect_uris", [REDIRECT_URI])
    metadata.setdefault("token_endpoint_auth_method", "none")
    metadata.setdefault("grant_types", ["authorization_code", "refresh_token"])
    response = await http.post("/register", json=metadata)
    assert response.status_code == 201, response.text
    return response.json()


async def authorize(
    http: httpx.AsyncClient, client_id: str, challenge: str, **params: str
) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "state-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": MCP_RESOURCE,
        **params,
    }
    return await http.get("/authorize", params=query)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    """The query the zone put on the client's redirect URI."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query))


async def redeem(
    http: httpx.AsyncClient, client_id: str, code: str, verifier: str, **params: str
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
        "resource": MCP_RESOURCE,
        **params,
    }
    return await http.post("/token", data=form)


async def login(http: httpx.AsyncClient, **register_metadata: Any) -> tuple[dict, dict]:
    """DCR, /authorize (auto-approved), /token: the (client, token response) pair."""
    client = await register(http, **register_metadata)
    verifier, challenge = pkce()
    code = redirect_params(await authorize(http, client["client_id"], challenge))["code"]
    response = await redeem(http, client["client_id"], code, verifier)
    assert response.status_code == 200, response.text
    return client, response.json()


async def verify(http: httpx.AsyncClient, token: str, *, audience: str) -> dict[str, Any]:
    """Claims of ``token`` checked the way a resource server would, against the served JWKS."""
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    jwks = jwt.PyJWKSet.from_dict((await http.get(metadata["jwks_uri"])).json())
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    return jwt.decode(
        token,
        jwks[header["kid"]].key,
        algorithms=["ES256"],
        audience=audience,
        issuer=metadata["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]},
    )


def oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    assert body["error_description"]
    return body
