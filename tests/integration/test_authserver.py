"""The test authorization server itself, over real HTTP: the other integration tests rely on it."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest

from tests.support import authserver as authserver_module
from tests.support.authserver import (
    ACCESS_TOKEN_TYPE,
    SPECIAL_CLIENT,
    TOKEN_EXCHANGE_GRANT,
    AuthServer,
    basic_auth,
    run_authserver,
)

MCP = "http://127.0.0.1:8931/mcp"
API = "https://api.example.test/"


def exchange(server: AuthServer, auth: httpx.Auth | None = None, **params: Any) -> httpx.Response:
    data = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": API,
        **params,
    }
    return httpx.post(server.token_endpoint, data=data, auth=auth)


def mcp_server_auth(server: AuthServer) -> httpx.BasicAuth:
    return basic_auth(*server.clients["mcp-server"])


def verify(server: AuthServer, token: str, audience: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a token against the published JWKS; return (header, claims)."""
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWKSet.from_dict(httpx.get(server.jwks_uri).json())[header["kid"]]
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=server.issuer)
    return header, claims


def pkjwt_assertion(server: AuthServer) -> str:
    now = int(time.time())
    claims = {
        "iss": server.pkjwt_client_id,
        "sub": server.pkjwt_client_id,
        "aud": server.token_endpoint,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode(
        claims, server.pkjwt_private_key_pem, algorithm="RS256", headers={"kid": server.pkjwt_kid}
    )


def assert_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_discovery_documents_are_identical(authserver: AuthServer) -> None:
    oauth = httpx.get(f"{authserver.issuer}/.well-known/oauth-authorization-server").json()
    oidc = httpx.get(f"{authserver.issuer}/.well-known/openid-configuration").json()
    assert oauth == oidc
    assert oauth["issuer"] == authserver.issuer
    assert oauth["token_endpoint"] == authserver.token_endpoint
    assert oauth["jwks_uri"] == authserver.jwks_uri
    assert TOKEN_EXCHANGE_GRANT in oauth["grant_types_supported"]
    assert {"client_secret_basic", "private_key_jwt"} <= set(
        oauth["token_endpoint_auth_methods_supported"]
    )


def test_jwks_publishes_public_rs256_keys(authserver: AuthServer) -> None:
    keys = httpx.get(authserver.jwks_uri).json()["keys"]
    assert keys
    for key in keys:
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        assert key["kid"]
        assert "d" not in key


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_user_token_is_rfc9068_jwt_for_the_user(authserver: AuthServer, user: str) -> None:
    token = authserver.user_token(user, MCP, scopes=("mcp:tools", "read"))
    header, claims = verify(authserver, token, MCP)
    assert header["typ"] == "at+jwt"
    assert claims["sub"] == user
    assert claims["aud"] == MCP
    assert claims["client_id"] == f"user-{user}"
    assert claims["scope"].split() == ["mcp:tools", "read"]


def test_token_exchange_with_client_secret_basic(authserver: AuthServer) -> None:
    subject = authserver.user_token("alice", MCP)
    client_id, secret = authserver.clients["mcp-server"]
    auth = httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))
    response = exchange(authserver, auth, subject_token=subject, scope="mail.read calendar.write")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == "mail.read calendar.write"
    header, claims = verify(authserver, body["access_token"], API)
    assert header["typ"] == "at+jwt"
    assert claims["aud"] == API
    assert claims["sub"] == "alice"
    assert claims["act"] == {"sub": "mcp-server"}
    assert claims["client_id"] == "mcp-server"
    assert claims["scope"] == "mail.read calendar.write"
    assert claims["exp"] - claims["iat"] == 300


def test_exchange_without_scope_omits_scope(authserver: AuthServer) -> None:
    subject = authserver.user_token("bob", MCP)
    response = exchange(authserver, mcp_server_auth(authserver), subject_token=subject)
    assert response.status_code == 200, response.text
    assert "scope" not in response.json()
    _, claims = verify(authserver, response.json()["access_token"], API)
    assert "scope" not in claims
    assert claims["sub"] == "bob"


def test_special_client_works_only_form_encoded(authserver: AuthServer) -> None:
    subject = authserver.user_token("alice", MCP)
    client_id, secret = SPECIAL_CLIENT
    form_encoded = httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))
    encoded = exchange(authserver, form_encoded, subject_token=subject)
    assert encoded.status_code == 200, encoded.text
    raw = exchange(authserver, httpx.BasicAuth(client_id, secret), subject_token=subject)
    assert raw.status_code in (400, 401)
    assert raw.json()["error"] in ("invalid_request", "invalid_client")


def test_private_key_jwt_and_assertion_replay(authserver: AuthServer) -> None:
    subject = authserver.user_token("alice", MCP)
    assertion = {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": pkjwt_assertion(authserver),
    }
    first = exchange(authserver, subject_token=subject, **assertion)
    assert first.status_code == 200, first.text
    _, claims = verify(authserver, first.json()["access_token"], API)
    assert claims["act"] == {"sub": authserver.pkjwt_client_id}
    assert_error(exchange(authserver, subject_token=subject, **assertion), 401, "invalid_client")


@pytest.mark.parametrize(
    "resource",
    [
        ["https://denied.example.test/"],
        [MCP],
        ["ftp://files.example.test/"],
        [API, "https://other.example.test/"],
        [],
    ],
    ids=["denied", "inbound", "not-http", "two", "none"],
)
def test_exchange_needs_one_downstream_resource(
    authserver: AuthServer, resource: list[str]
) -> None:
    subject = authserver.user_token("alice", MCP)
    response = exchange(
        authserver, mcp_server_auth(authserver), subject_token=subject, resource=resource
    )
    assert_error(response, 400, "invalid_target")


def test_user_token_for_denied_resource_is_invalid_target(authserver: AuthServer) -> None:
    client_id, secret = authserver.clients["user-alice"]
    response = httpx.post(
        authserver.token_endpoint,
        data={"grant_type": "client_credentials", "resource": "https://denied.example.test/"},
        auth=basic_auth(client_id, secret),
    )
    assert_error(response, 400, "invalid_target")


def test_bad_secret_is_invalid_client(authserver: AuthServer) -> None:
    subject = authserver.user_token("alice", MCP)
    response = exchange(authserver, basic_auth("mcp-server", "wrong"), subject_token=subject)
    assert_error(response, 401, "invalid_client")


def test_unusable_subject_tokens_are_rejected(authserver: AuthServer) -> None:
    auth = mcp_server_auth(authserver)
    assert_error(exchange(authserver, auth, subject_token="garbage"), 400, "invalid_request")
    downstream = exchange(authserver, auth, subject_token=authserver.user_token("alice", MCP))
    reused = exchange(authserver, auth, subject_token=downstream.json()["access_token"])
    assert_error(reused, 400, "invalid_request")
    wrong_type = exchange(
        authserver,
        auth,
        subject_token=authserver.user_token("alice", MCP),
        subject_token_type="urn:ietf:params:oauth:token-type:id_token",
    )
    assert_error(wrong_type, 400, "invalid_request")


def test_scope_escalation_is_invalid_scope(authserver: AuthServer) -> None:
    subject = authserver.user_token("alice", MCP)
    response = exchange(
        authserver, mcp_server_auth(authserver), subject_token=subject, scope="mail.read admin"
    )
    assert_error(response, 400, "invalid_scope")


def test_client_without_the_grant_cannot_exchange(authserver: AuthServer) -> None:
    subject = authserver.user_token("alice", MCP)
    response = exchange(
        authserver, basic_auth(*authserver.clients["no-exchange"]), subject_token=subject
    )
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "unauthorized_client")


def test_stats_count_exchanges_jwks_and_metadata(authserver: AuthServer) -> None:
    subject = authserver.user_token("alice", MCP)
    authserver.reset_stats()
    assert authserver.stats() == {"token_exchange": 0, "jwks": 0, "metadata": 0}
    exchange(authserver, mcp_server_auth(authserver), subject_token=subject)
    exchange(authserver, basic_auth("mcp-server", "wrong"), subject_token=subject)
    httpx.get(authserver.jwks_uri)
    httpx.get(f"{authserver.issuer}/.well-known/oauth-authorization-server")
    httpx.get(f"{authserver.issuer}/.well-known/openid-configuration")
    assert authserver.stats() == {"token_exchange": 2, "jwks": 1, "metadata": 2}


def test_rotate_key_signs_with_new_kid_and_keeps_old_published(authserver: AuthServer) -> None:
    before = authserver.user_token("alice", MCP)
    old_kid = jwt.get_unverified_header(before)["kid"]
    new_kid = authserver.rotate_key()
    after = authserver.user_token("alice", MCP)
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    assert {old_kid, new_kid} <= {
        key["kid"] for key in httpx.get(authserver.jwks_uri).json()["keys"]
    }
    verify(authserver, before, MCP)
    response = exchange(authserver, mcp_server_auth(authserver), subject_token=before)
    assert response.status_code == 200, response.text
    assert jwt.get_unverified_header(response.json()["access_token"])["kid"] == new_kid


def test_missing_node_modules_is_an_error_not_a_skip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(authserver_module, "AUTHSERVER_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="npm ci --prefix tests/authserver"), run_authserver():
        pass
