"""Other authorization servers' shapes, each serving a real call (issue 15).

The test authorization server mints Keycloak, Entra (v1 issuer, on-behalf-of), Okta, Auth0,
Cognito and Duende tokens and exchange answers (tests/authserver/README.md, "Other servers'
shapes"). Each example config in configs/ is launched as users launch it, pointed at that
zone, and a real MCP client calls its granted tool with a token of that server's shape; the
rows without an example (Duende, issued_token_type jwt or missing, FAPI assertion audience,
workload identity) are served by the library. Each also shows the default refusing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from examples.delegation import whoami
from fastmcp import Client, FastMCP
from jwt.algorithms import ECAlgorithm
from typer.testing import CliRunner

from keycard_serve import (
    AuthProvider,
    ClientSecret,
    ExchangeProfile,
    Grant,
    PrivateKeyJWT,
    WorkloadIdentity,
)
from keycard_serve.cli import app
from tests.support.authserver import AuthServer, basic_auth, run_authserver
from tests.support.launcher import ROOT, launch
from tests.support.mcp_server import RunningServer, serve_mcp
from tests.support.servers import free_port

TE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SECRET = secrets.token_urlsafe(16)
TENANT = "3f6b2c1e-test-tenant"
CALENDAR = "https://calendar.example.com/"
K8S = "https://kubernetes.default.svc"
SERVICE_ACCOUNT = "system:serviceaccount:tools:mcp"
AUTH0_TYPE = "urn:acme:mcp-access-token"


def user_client(client_id: str) -> dict[str, Any]:
    grants = ["client_credentials"]
    return {"client_id": client_id, "client_secret": SECRET, "grant_types": grants, "user": "alice"}


def exchanging_client(client_id: str, grant: str = TE) -> dict[str, Any]:
    return {"client_id": client_id, "client_secret": SECRET, "grant_types": [grant]}


@pytest.fixture(scope="module")
def signer() -> ec.EllipticCurvePrivateKey:
    """The key of the FAPI client and of the first Kubernetes service-account issuer."""
    return ec.generate_private_key(ec.SECP256R1())


def jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256"}


@pytest.fixture(scope="module")
def k8s_jwks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("k8s") / "jwks.json"


@pytest.fixture(scope="module")
def zone(signer, k8s_jwks: Path) -> Iterator[AuthServer]:
    """One test zone producing every shape of the table."""
    k8s_jwks.write_text(json.dumps({"keys": [jwk(signer, "k8s-1")]}))
    extra = {
        "audiences": {
            "mcp-server": "inbound",
            "api://mcp.example.com": "inbound",
            "api://default": "inbound",
            "https://acme.eu.auth0.test/userinfo": "inbound",  # Auth0's second aud
            "other-client": "inbound",
            "api://other": "inbound",
            "calendar-api": "downstream",
            "api://calendar-api": "downstream",
        },
        "clients": [
            *map(user_client, ("kc-alice", "entra-alice", "okta-alice", "auth0-alice")),
            *map(user_client, ("cognito-alice", "cognito-other", "duende-alice")),
            *map(user_client, ("kc-other", "entra-other", "okta-other", "auth0-other")),
            *map(user_client, ("kc-id-token", "cognito-id-token")),
            user_client("plain-alice"),  # no shape: RFC 9068, aud the resource as requested
            *map(exchanging_client, ("kc-mcp", "okta-mcp", "auth0-mcp", "duende-mcp")),
            *map(exchanging_client, ("jwt-mcp", "none-mcp")),
            exchanging_client("entra-mcp", JWT_BEARER),
            {
                "client_id": "fapi-mcp",
                "jwks": {"keys": [jwk(signer, "fapi-1")]},
                "grant_types": [TE],
                "assertion_audience": "issuer",
            },
            {
                "client_id": "wi-mcp",
                "grant_types": [TE],
                "federated": {
                    "issuer": K8S,
                    "subject": SERVICE_ACCOUNT,
                    "jwks_file": str(k8s_jwks),
                },
            },
        ],
        "shapes": [
            {"client_id": "kc-alice", "preset": "keycloak", "aud": ["mcp-server", "account"]},
            {"client_id": "kc-other", "preset": "keycloak", "aud": ["other-client", "account"]},
            {  # a Keycloak ID token for this server's client: typ JWT, aud a client id
                "client_id": "kc-id-token",
                "preset": "keycloak",
                "aud": "mcp-server",
                "claims": {"typ": "ID", "nonce": "n-1"},
            },
            {"client_id": "kc-mcp", "preset": "keycloak"},
            {
                "client_id": "entra-alice",
                "preset": "entra",
                "tenant": TENANT,
                "aud": "api://mcp.example.com",
                "claims": {"scp": "tools.read"},
            },
            {"client_id": "entra-mcp", "preset": "entra", "tenant": TENANT},
            {
                "client_id": "entra-other",
                "preset": "entra",
                "tenant": "another-tenant",
                "aud": "api://mcp.example.com",
                "claims": {"scp": "tools.read"},
            },
            {"client_id": "okta-alice", "preset": "okta", "aud": "api://default"},
            {"client_id": "okta-other", "preset": "okta", "aud": "api://other"},
            {
                "client_id": "auth0-alice",
                "preset": "auth0",
                "aud": ["{target}", "https://acme.eu.auth0.test/userinfo"],
                "claims": {"scope": "openid"},  # mcp:tools only in permissions (RBAC)
            },
            {
                "client_id": "auth0-other",
                "preset": "auth0",
                "aud": "https://acme.eu.auth0.test/userinfo",
            },
            {"client_id": "cognito-alice", "preset": "cognito"},
            {"client_id": "cognito-other", "preset": "cognito"},
            {
                "client_id": "cognito-id-token",
                "preset": "cognito",
                "claims": {"token_use": "id", "client_id": "cognito-alice"},
            },
            {"client_id": "duende-alice", "preset": "duende"},
        ],
        "exchange": {
            "kc-mcp": {"preset": "keycloak"},
            "okta-mcp": {"preset": "okta"},
            "auth0-mcp": {"preset": "auth0", "subject_token_types": [AUTH0_TYPE]},
            "duende-mcp": {"preset": "duende"},
            "jwt-mcp": {"preset": "issued-jwt"},
            "none-mcp": {"preset": "issued-none"},
        },
    }
    with run_authserver(extra=extra) as server:
        yield server


def token_for(zone: AuthServer, client_id: str, resource: str, scope: str = "mcp:tools") -> str:
    """A user token minted for ``client_id``, shaped as that client's rule says."""
    response = httpx.post(
        zone.token_endpoint,
        data={"grant_type": "client_credentials", "resource": resource, "scope": scope},
        auth=basic_auth(client_id, SECRET),
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    return header, jwt.decode(token, options={"verify_signature": False})


async def call(mcp_url: str, token: str, tool: str = "whoami") -> Any:
    async with Client(mcp_url, auth=token) as client:
        return (await client.call_tool(tool, {})).data


def refused(mcp_url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    return httpx.post(mcp_url, headers=headers, json=request).status_code


# --- the example configs, launched as users launch them ------------------------------------

EXAMPLES: dict[str, dict[str, Any]] = {
    "keycloak": {
        "env": {
            "KEYCLOAK_REALM_URL": "{issuer}",
            "KEYCLOAK_CLIENT_ID": "kc-mcp",
            "KEYCLOAK_CLIENT_SECRET": SECRET,
        },
        "user": "kc-alice",
        "id_token": "kc-id-token",  # typ JWT and aud mcp-server, like its access tokens
        "other": "kc-other",  # the same shape, meant for another server or tenant
        "shape": lambda header, claims: (
            header["typ"] == "JWT" and claims["aud"] == ["mcp-server", "account"]
        ),
        "banner": "  (audience calendar-api)",
        "downstream_aud": "calendar-api",
    },
    "entra": {
        "env": {
            "ENTRA_ISSUER": "{issuer}",
            "ENTRA_TENANT_ID": TENANT,
            "MCP_APP_ID": "entra-mcp",
            "ENTRA_CLIENT_SECRET": SECRET,
        },
        "user": "entra-alice",
        "other": "entra-other",  # the same shape, meant for another server or tenant
        "shape": lambda header, claims: (
            claims["iss"] == f"https://sts.windows.net/{TENANT}/"
            and claims["scp"] == "tools.read"
            and "scope" not in claims
        ),
        "banner": "  (audience api://calendar-api)",
        "downstream_aud": "api://calendar-api",
    },
    "okta": {
        "env": {
            "OKTA_ISSUER": "{issuer}",
            "OKTA_CLIENT_ID": "okta-mcp",
            "OKTA_CLIENT_SECRET": SECRET,
        },
        "user": "okta-alice",
        "other": "okta-other",  # the same shape, meant for another server or tenant
        "shape": lambda header, claims: "typ" not in header and claims["scp"] == ["mcp:tools"],
        "banner": "  (audience calendar-api)",
        "downstream_aud": "calendar-api",
    },
    "auth0": {
        "env": {
            "AUTH0_URL": "{issuer}",
            "AUTH0_CLIENT_ID": "auth0-mcp",
            "AUTH0_CLIENT_SECRET": SECRET,
        },
        "user": "auth0-alice",
        "other": "auth0-other",  # the same shape, meant for another server or tenant
        "shape": lambda header, claims: (
            header["typ"] == "JWT"
            and claims["permissions"] == ["mcp:tools"]
            and claims["scope"] == "openid"
        ),
        "banner": "",
        "downstream_aud": CALENDAR,
    },
}


@pytest.fixture(scope="module")
def launched(zone: AuthServer, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    def start(name: str, **env: str):
        base_url = f"http://127.0.0.1:{free_port()}/"
        settings = {key: value.format(issuer=zone.issuer) for key, value in env.items()}
        log = tmp_path_factory.mktemp(name) / "log.txt"
        return launch(
            [f"configs/{name}.yaml"],
            base_url=base_url,
            env={"PUBLIC_URL": base_url, **settings},
            log_path=log,
        )

    return start


@pytest.mark.parametrize("name", sorted(EXAMPLES))
async def test_example_config_serves_a_granted_call_with_that_servers_tokens(
    zone: AuthServer, launched: Callable[..., Any], name: str
) -> None:
    example = EXAMPLES[name]
    with launched(name, **example["env"]) as server:
        token = token_for(zone, example["user"], server.mcp_url)
        assert example["shape"](*claims_of(token))
        result = await call(server.mcp_url, token)
        assert result["status"] == "success", result
        delegated = result["tokens"][CALENDAR]
        assert (delegated["sub"], delegated["aud"]) == ("alice", example["downstream_aud"])
        # the setting accepts what it names and nothing else
        assert refused(server.mcp_url, token_for(zone, example["other"], server.mcp_url)) == 401
        if "id_token" in example:  # typ relaxed: ID-token claims still tell them apart
            id_token = token_for(zone, example["id_token"], server.mcp_url)
            assert refused(server.mcp_url, id_token) == 401
            assert "bearer token rejected: invalid_type" in server.log()
        assert SECRET not in server.log()
        assert f"-> {CALENDAR}{example['banner']}  (scope calendar.read)" in server.log()


async def test_cognito_config_binds_audienceless_tokens_to_its_app_client(
    zone: AuthServer, launched: Callable[..., Any]
) -> None:
    env = {"COGNITO_ISSUER": "{issuer}", "COGNITO_APP_CLIENT_ID": "cognito-alice"}
    with launched("cognito", **env) as server:
        token = token_for(zone, "cognito-alice", server.mcp_url)
        header, claims = claims_of(token)
        assert "aud" not in claims and "typ" not in header and claims["token_use"] == "access"
        assert await call(server.mcp_url, token, "ping") == "pong"
        # another app client's token, with no aud either, names no server: refused
        assert refused(server.mcp_url, token_for(zone, "cognito-other", server.mcp_url)) == 401
        # an ID token is not an access token, even from the listed client id
        id_token = token_for(zone, "cognito-id-token", server.mcp_url)
        assert refused(server.mcp_url, id_token) == 401
        assert "bearer token rejected: invalid_claim" in server.log()  # token_use id
        assert "zone.tokens_without_audience" in server.log()


# --- rows without an example config, served by the library ---------------------------------


def library_server(zone: AuthServer, **options: Any) -> Iterator[RunningServer]:
    grants = options.pop("grants", (Grant(CALENDAR, ("calendar.read",)),))

    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(zone_url=zone.issuer, mcp_base_url=base_url, **options)
        mcp = FastMCP("Library", auth=provider.get_remote_auth_provider())
        mcp.tool()(provider.grant(grants)(whoami))
        return mcp

    return serve_mcp(build)


async def test_duende_scope_array_and_exchange_by_resource_and_audience(zone: AuthServer) -> None:
    with library_server(
        zone,
        application_credential=ClientSecret(("duende-mcp", SECRET)),
        required_scopes=["mcp:tools", "read"],
        exchange=ExchangeProfile(target="both"),
        grants=(Grant(CALENDAR, ("calendar.read",), audience="calendar-api"),),
    ) as server:
        token = token_for(zone, "duende-alice", server.mcp_url, "mcp:tools read")
        assert claims_of(token)[1]["scope"] == ["mcp:tools", "read"]
        result = await call(server.mcp_url, token)
    assert result["status"] == "success", result
    assert result["tokens"][CALENDAR]["aud"] == [CALENDAR, "calendar-api"]


@pytest.mark.parametrize(
    ("client_id", "accepted"),
    [("jwt-mcp", ("access_token", "jwt")), ("none-mcp", ("access_token", None))],
)
async def test_issued_token_type_jwt_or_missing_only_when_accepted(
    zone: AuthServer, client_id: str, accepted: tuple[str | None, ...]
) -> None:
    for profile, status in (
        (ExchangeProfile(), "partial_error"),
        (
            ExchangeProfile(issued_token_types=accepted),
            "success",
        ),
    ):
        with library_server(
            zone, application_credential=ClientSecret((client_id, SECRET)), exchange=profile
        ) as server:
            result = await call(server.mcp_url, zone.user_token("alice", server.mcp_url))
        assert result["status"] == status, result
        if status == "partial_error":
            assert result["errors"][CALENDAR]["code"] == "invalid_response"


async def test_fapi_assertion_audience_is_the_issuer_when_asked(
    zone: AuthServer, signer: ec.EllipticCurvePrivateKey
) -> None:
    pem = signer.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for audience, status in (("token_endpoint", "partial_error"), ("issuer", "success")):
        credential = PrivateKeyJWT(
            "fapi-mcp", pem, key_id="fapi-1", algorithm="ES256", assertion_audience=audience
        )
        with library_server(zone, application_credential=credential) as server:
            result = await call(server.mcp_url, zone.user_token("alice", server.mcp_url))
        assert result["status"] == status, result
        if status == "partial_error":
            assert result["errors"][CALENDAR]["oauth_error"] == "invalid_client"


def service_account_token(key: ec.EllipticCurvePrivateKey, kid: str, issuer: str, life: int) -> str:
    now = int(time.time())
    claims = {"iss": K8S, "sub": SERVICE_ACCOUNT, "aud": issuer, "iat": now, "exp": now + life}
    return jwt.encode(claims, key, "ES256", headers={"kid": kid})


async def test_workload_identity_reads_the_rotated_token_file_at_every_exchange(
    zone: AuthServer,
    signer: ec.EllipticCurvePrivateKey,
    k8s_jwks: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_file = tmp_path / "token"
    first = service_account_token(signer, "k8s-1", zone.issuer, 600)
    token_file.write_text(first)
    credential = WorkloadIdentity(token_file, "wi-mcp")
    assert first not in repr(credential)
    with library_server(zone, application_credential=credential) as server:
        result = await call(server.mcp_url, zone.user_token("alice", server.mcp_url))
        assert result["status"] == "success", result
        assert result["tokens"][CALENDAR]["act"] == {"sub": "wi-mcp"}

        # The platform rotates its signing key and the kubelet the file: the zone now trusts
        # only the new key, so only a credential that re-reads the file still gets through.
        rotated = ec.generate_private_key(ec.SECP256R1())
        k8s_jwks.write_text(json.dumps({"keys": [jwk(rotated, "k8s-2")]}))
        token_file.write_text(service_account_token(rotated, "k8s-2", zone.issuer, 600))
        result = await call(server.mcp_url, zone.user_token("alice", server.mcp_url))
        assert result["status"] == "success", result

        # An expired file is not sent: the error names the file, never its content.
        expired = service_account_token(rotated, "k8s-2", zone.issuer, -5)
        token_file.write_text(expired)
        result = await call(server.mcp_url, zone.user_token("alice", server.mcp_url))
        error = result["errors"][CALENDAR]
        assert error["code"] == "credential_expired" and str(token_file) in error["message"]
        for text in (first, expired):
            assert text not in caplog.text and text not in json.dumps(result)


# --- validate --online --token: what a sample token's shape needs, seen from outside --------


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the project root, as the examples' comments assume (``examples`` importable)."""
    monkeypatch.chdir(ROOT)


def validate_with_token(zone: AuthServer, name: str, env: dict[str, str], token: str) -> Any:
    settings = {key: value.format(issuer=zone.issuer) for key, value in env.items()}
    arguments = ["validate", "--format", "json", "--token", token, f"configs/{name}.yaml"]
    result = CliRunner().invoke(app, arguments, env=settings)
    assert result.output.startswith("{"), (result.output, result.exception)
    assert token not in result.output
    return result.exit_code, json.loads(result.output)["files"][0]["issues"]


def by_field(issues: list[dict[str, Any]]) -> dict[str, str]:
    return {issue["path"]: issue["message"] for issue in issues}


def test_validate_token_accepts_the_shape_the_config_names(zone: AuthServer) -> None:
    token = token_for(zone, "kc-alice", "http://127.0.0.1:8000/mcp")
    code, issues = validate_with_token(zone, "keycloak", EXAMPLES["keycloak"]["env"], token)
    # only the credential probe's note (the zone answers it invalid_request), nothing on the token
    assert code == 0 and {issue["path"] for issue in issues} <= {"credentials"}


def test_validate_token_names_the_settings_another_shape_needs(zone: AuthServer) -> None:
    entra = token_for(zone, "entra-alice", "http://127.0.0.1:8000/mcp")
    code, issues = validate_with_token(zone, "keycloak", EXAMPLES["keycloak"]["env"], entra)
    found = by_field(issues)
    assert code == 1
    assert f"https://sts.windows.net/{TENANT}/" in found["zone.accepted_issuers"]
    assert zone.issuer in found["zone.accepted_issuers"]  # the discovery issuer it differs from
    assert "'api://mcp.example.com'" in found["zone.accepted_audiences"]
    assert "api://mcp.example.com/tools.read" not in found.get("tools[0].scopes", "")


def test_validate_token_accepts_this_servers_url_however_spelled(zone: AuthServer) -> None:
    # The verifier compares audiences in RFC 3986 canonical form; validate --token agrees.
    env = {**EXAMPLES["keycloak"]["env"], "PUBLIC_URL": "http://127.0.0.1:8000/"}
    for spelling in ("HTTP://127.0.0.1:8000/tools/../mcp", "http://127.0.0.1:8000"):
        spelled = token_for(zone, "plain-alice", spelling)
        assert claims_of(spelled)[1]["aud"] == spelling
        code, issues = validate_with_token(zone, "keycloak", env, spelled)
        # verified for real too: nothing on the token, only the credential probe's note
        assert code == 0 and {issue["path"] for issue in issues} <= {"credentials"}, issues
    other = token_for(zone, "plain-alice", "http://127.0.0.1:8001/mcp")
    code, issues = validate_with_token(zone, "keycloak", env, other)
    assert code == 1
    assert "'http://127.0.0.1:8001/mcp'" in by_field(issues)["zone.accepted_audiences"]


def test_validate_token_says_where_unread_scopes_sit(zone: AuthServer) -> None:
    auth0 = token_for(zone, "auth0-alice", "http://127.0.0.1:8000/mcp")
    env = {**EXAMPLES["okta"]["env"]}
    code, issues = validate_with_token(zone, "okta", env, auth0)
    assert code == 1
    found = by_field(issues)
    assert (
        "zone.scope_claims" in found["tools[0].scopes"]
        and "'permissions'" in (found["tools[0].scopes"])
    )
    assert "zone.accepted_token_types" in found


def test_validate_token_refuses_an_audienceless_token_of_another_client(zone: AuthServer) -> None:
    env = {"COGNITO_ISSUER": "{issuer}", "COGNITO_APP_CLIENT_ID": "cognito-alice"}
    other = token_for(zone, "cognito-other", "http://127.0.0.1:8000/mcp")
    code, issues = validate_with_token(zone, "cognito", env, other)
    assert code == 1 and "'cognito-other'" in by_field(issues)["zone.tokens_without_audience"]
    mine = token_for(zone, "cognito-alice", "http://127.0.0.1:8000/mcp")
    code, issues = validate_with_token(zone, "cognito", env, mine)
    assert code == 0 and [i["severity"] for i in issues] == ["warning"]  # the cost it accepts


def test_validate_token_verifies_a_well_shaped_token_for_real(zone: AuthServer) -> None:
    token = token_for(zone, "kc-alice", "http://127.0.0.1:8000/mcp")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    code, issues = validate_with_token(zone, "keycloak", EXAMPLES["keycloak"]["env"], forged)
    assert code == 1 and "signature" in by_field(issues)["zone"]
