"""RFC 7591 dynamic client registration as MCP clients use it."""

from __future__ import annotations

import httpx
import pytest

from keycard_serve.devzone import DevZone

from .helpers import oauth_error, register

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_public_client_gets_no_secret(http: httpx.AsyncClient) -> None:
    client = await register(http, client_name="Claude Code", scope="tools")
    assert client["client_id"]
    assert "client_secret" not in client
    assert isinstance(client["client_id_issued_at"], int)
    assert client["token_endpoint_auth_method"] == "none"
    assert client["client_name"] == "Claude Code"
    assert client["scope"] == "tools"
    assert client["response_types"] == ["code"]


async def test_confidential_client_gets_a_secret(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/register",
        json={"grant_types": ["client_credentials"], "client_name": "worker"},
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    client = response.json()
    assert client["token_endpoint_auth_method"] == "client_secret_basic"  # RFC 7591 default
    assert len(client["client_secret"]) >= 32
    assert client["client_secret_expires_at"] == 0
    assert client["redirect_uris"] == []


@pytest.mark.parametrize(
    "redirect_uris",
    [
        ["http://127.0.0.1:33418", "https://vscode.dev/redirect"],  # VS Code
        ["https://claude.ai/api/mcp/auth_callback"],  # Claude connectors
        ["http://localhost:6274/oauth/callback"],  # MCP Inspector
        ["http://[::1]:9999/cb"],
        ["cursor://anysphere.cursor-retrieval/oauth/user-keycard/callback"],  # Cursor
        ["com.example.app:/oauth2redirect"],  # RFC 8252 reverse-domain scheme
    ],
)
async def test_accepts_loopback_http_https_and_app_scheme_redirects(
    http: httpx.AsyncClient, redirect_uris: list[str]
) -> None:
    client = await register(http, redirect_uris=redirect_uris)
    assert client["redirect_uris"] == redirect_uris


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.example.com/callback",
        "http://192.168.1.5:8080/cb",
        "https://app.example.com/cb#fragment",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "cursor://app/cb#fragment",
        "http://127.0.0.1:notaport/cb",
        "/relative/callback",
    ],
)
async def test_rejects_other_redirects(http: httpx.AsyncClient, redirect_uri: str) -> None:
    response = await http.post(
        "/register", json={"redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"}
    )
    oauth_error(response, 400, "invalid_redirect_uri")


@pytest.mark.parametrize(
    "metadata",
    [
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
        {"grant_types": ["password"]},
        {"grant_types": "authorization_code"},
        {"response_types": ["token"]},
        {"client_name": 42},
    ],
)
async def test_rejects_bad_metadata(http: httpx.AsyncClient, metadata: dict) -> None:
    response = await http.post(
        "/register", json={"redirect_uris": ["https://app.example.com/cb"], **metadata}
    )
    oauth_error(response, 400, "invalid_client_metadata")


async def test_rejects_a_body_that_is_not_a_json_object(http: httpx.AsyncClient) -> None:
    json_type = {"Content-Type": "application/json"}
    broken = await http.post("/register", content=b"{nope", headers=json_type)
    oauth_error(broken, 400, "invalid_client_metadata")
    oauth_error(await http.post("/register", json=["a"]), 400, "invalid_client_metadata")
    # An HTML form can post text/plain cross-site without a preflight; JSON cannot.
    form_trick = await http.post(
        "/register",
        content=b'{"redirect_uris": ["https://evil.example/cb"]}',
        headers={"Content-Type": "text/plain"},
    )
    oauth_error(form_trick, 400, "invalid_client_metadata")


async def test_authorization_code_client_needs_a_redirect(http: httpx.AsyncClient) -> None:
    response = await http.post("/register", json={"token_endpoint_auth_method": "none"})
    oauth_error(response, 400, "invalid_redirect_uri")


async def test_registrations_survive_a_restart(zone: DevZone, http: httpx.AsyncClient) -> None:
    client = await register(http)
    restarted = DevZone(port=zone.port, state_dir=zone.state_dir)
    assert restarted._authority.clients.get(client["client_id"]) is not None
