"""Every config in configs/ loads, with the environment its comments describe."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keycard_serve.config import (
    ClientSecretCredentials,
    PrivateKeyJWTCredentials,
    import_tools,
    load_config,
)

from .conftest import ENV, REPO

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "server.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_file, 0o600)
    return {
        **ENV,
        **OTHER_SERVERS_ENV,
        "KEYCARD_PRIVATE_KEY_FILE": str(key_file),
        "KEYCARD_KEY_ID": "key-1",
    }


# What configs/{keycloak,entra,okta,auth0,cognito}.yaml say to set, as the servers spell it.
OTHER_SERVERS_ENV = {
    "KEYCLOAK_REALM_URL": "https://keycloak.example.com/realms/acme",
    "KEYCLOAK_CLIENT_ID": "mcp-server",
    "KEYCLOAK_CLIENT_SECRET": "sentinel-secret-value",
    "ENTRA_ISSUER": "https://login.microsoftonline.com/3f6b2c1e-0000-4000-8000-000000000001/v2.0",
    "ENTRA_TENANT_ID": "3f6b2c1e-0000-4000-8000-000000000001",
    "MCP_APP_ID": "8d2e7a41-0000-4000-8000-000000000002",
    "ENTRA_CLIENT_SECRET": "sentinel-secret-value",
    "OKTA_ISSUER": "https://acme.okta.com/oauth2/default",
    "OKTA_CLIENT_ID": "0oa1mcpserver",
    "OKTA_CLIENT_SECRET": "sentinel-secret-value",
    "AUTH0_URL": "https://acme.eu.auth0.com/",
    "AUTH0_CLIENT_ID": "auth0-mcp-client",
    "AUTH0_CLIENT_SECRET": "sentinel-secret-value",
    "COGNITO_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI",
    "COGNITO_APP_CLIENT_ID": "4mcpappclient",
}
# The warnings a config is expected to carry, by file name: the cost it accepts knowingly.
EXPECTED_WARNINGS = {"cognito.yaml": ("zone.tokens_without_audience",)}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_config_loads_without_warnings(path: Path, in_repo: Path, environ: dict[str, str]) -> None:
    loaded = import_tools(load_config(path.relative_to(REPO), environ=environ))
    fields = tuple(warning.field for warning in loaded.warnings)
    assert fields == EXPECTED_WARNINGS.get(path.name, ())
    assert loaded.path == path


def test_minimal(in_repo: Path, environ: dict[str, str]) -> None:
    loaded = import_tools(load_config("configs/minimal.yaml", environ=environ))
    assert loaded.config.zone.id == "my-zone"
    assert isinstance(loaded.config.credentials, ClientSecretCredentials)
    assert [(tool.name, tool.function.__module__) for tool in loaded.tools] == [
        ("forecast", "examples.weather")
    ]
    minimal = (REPO / "configs/minimal.yaml").read_bytes()
    assert loaded.sha256 == hashlib.sha256(minimal).hexdigest()


def test_multi_resource_defaults_and_overrides(in_repo: Path, environ: dict[str, str]) -> None:
    default = load_config("configs/multi-resource.yaml", environ=environ).config
    assert (default.server.base_url, default.server.port, default.zone.url) == (
        "http://127.0.0.1:8000/",
        8000,
        "http://127.0.0.1:9400",
    )
    environ |= {"PUBLIC_URL": "https://mcp.example.com/", "PORT": "9000"}
    loaded = load_config("configs/multi-resource.yaml", environ=environ)
    assert (loaded.config.server.base_url, loaded.config.server.port) == (
        "https://mcp.example.com/",
        9000,
    )
    sync = loaded.tools[1]
    assert (sync.name, sync.scopes, [g.scopes for g in sync.grants]) == (
        "sync",
        ("calendar:write",),
        [(), ("mail.read",)],
    )


def test_private_key_jwt(in_repo: Path, environ: dict[str, str]) -> None:
    credentials = load_config("configs/private-key-jwt.yaml", environ=environ).config.credentials
    assert isinstance(credentials, PrivateKeyJWTCredentials)
    assert credentials.key_id == "key-1"


def test_adopt_app(in_repo: Path, environ: dict[str, str]) -> None:
    from examples.adopt_app import mcp

    loaded = import_tools(load_config("configs/adopt-app.yaml", environ=environ))
    assert loaded.app is mcp
    assert [(tool.name, tool.function) for tool in loaded.tools] == [("search_docs", None)]


def test_other_servers_configs_build_their_settings(in_repo: Path, environ: dict[str, str]) -> None:
    """What each example for another authorization server configures (issue 15)."""
    config = {
        name: load_config(f"configs/{name}.yaml", environ=environ).config
        for name in ("keycloak", "entra", "okta", "auth0", "cognito")
    }
    keycloak = config["keycloak"]
    assert keycloak.zone.accepted_audiences == ("mcp-server",)
    assert keycloak.zone.exchange.profile.target == "audience"
    assert keycloak.tools[0].grants[0].audience == "calendar-api"
    entra = config["entra"].zone
    tenant = OTHER_SERVERS_ENV["ENTRA_TENANT_ID"]
    assert entra.accepted_issuers == (f"https://sts.windows.net/{tenant}/",)
    assert entra.accepted_audiences == ("api://mcp.example.com", OTHER_SERVERS_ENV["MCP_APP_ID"])
    assert (entra.scope_prefix, entra.exchange.flavour) == (
        "api://mcp.example.com/",
        "on_behalf_of",
    )
    assert config["okta"].zone.allow_untyped_tokens
    auth0 = config["auth0"].zone
    assert auth0.scope_claims == ("scope", "permissions")
    assert auth0.exchange.profile.subject_token_type == "urn:acme:mcp-access-token"
    cognito = config["cognito"]
    assert cognito.zone.tokens_without_audience == ("4mcpappclient",)
    assert cognito.credentials is None and not any(tool.grants for tool in cognito.tools)
