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
    return {**ENV, "KEYCARD_PRIVATE_KEY_FILE": str(key_file), "KEYCARD_KEY_ID": "key-1"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_config_loads_without_warnings(path: Path, in_repo: Path, environ: dict[str, str]) -> None:
    loaded = import_tools(load_config(path.relative_to(REPO), environ=environ))
    assert loaded.warnings == ()
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
