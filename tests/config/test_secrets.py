"""Secrets: only from the environment or files, held as SecretStr, never shown."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keycard_serve.config import ClientSecretCredentials, PrivateKeyJWTCredentials

from .conftest import ENV, VALID, error_text, load

SENTINEL = ENV["KEYCARD_CLIENT_SECRET"]

PRIVATE_KEY_JWT = VALID.replace(
    """  client_secret: ${KEYCARD_CLIENT_SECRET}""",
    """  type: private_key_jwt
  private_key_file: keys/server.pem
  key_id: key-1
  algorithm: ALGORITHM""",
)


def _pem(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None
) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.fixture
def rsa_pem() -> bytes:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_secret_never_appears_in_repr_dump_or_errors(
    write: Callable[..., Path], in_repo: Path
) -> None:
    loaded = load(write(VALID))
    credentials = loaded.config.credentials
    assert isinstance(credentials, ClientSecretCredentials)
    assert credentials.secret.get_secret_value() == SENTINEL
    for shown in (repr(loaded), str(loaded.config), loaded.config.model_dump_json()):
        assert SENTINEL not in shown
    broken = write(VALID.replace("id: my-zone", "id: Not A Zone"), "broken.yaml")
    assert SENTINEL not in error_text(broken)


def test_client_secret_file_is_relative_to_the_config(
    write: Callable[..., Path], tmp_path: Path, in_repo: Path
) -> None:
    write("file-secret\n", "secrets/client")
    os.chmod(tmp_path / "secrets/client", 0o600)
    path = write(
        VALID.replace(
            "client_secret: ${KEYCARD_CLIENT_SECRET}", "client_secret_file: secrets/client"
        )
    )
    loaded = load(path)
    assert loaded.config.credentials.secret.get_secret_value() == "file-secret"
    assert loaded.config.credentials.client_secret_file.path == tmp_path / "secrets/client"
    assert loaded.warnings == ()


def test_readable_secret_file_warns(write: Callable[..., Path], in_repo: Path) -> None:
    secret = write("file-secret", "client-secret.txt")
    os.chmod(secret, 0o644)
    path = write(
        VALID.replace(
            "client_secret: ${KEYCARD_CLIENT_SECRET}", "client_secret_file: client-secret.txt"
        )
    )
    (warning,) = load(path).warnings
    assert warning.format_text() == (
        f"{path}:9:23: warning: credentials.client_secret_file: the file is readable by group "
        "or others (mode 0644); chmod 600 it"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"\n", "is empty"),
        (b"\xff\xfe", "is not UTF-8 text"),
        (b"tab\tinside", "may only contain printable ASCII characters"),
    ],
)
def test_unusable_secret_file(
    write: Callable[..., Path], content: bytes | None, message: str
) -> None:
    if content is not None:
        write(content, "secret")
    path = write(
        VALID.replace("client_secret: ${KEYCARD_CLIENT_SECRET}", "client_secret_file: secret")
    )
    text = error_text(path)
    assert f"{path}:9:23: error: credentials.client_secret_file: " in text
    assert message in text


def test_client_credentials_must_be_printable_ascii(write: Callable[..., Path]) -> None:
    # RFC 6749 appendix A: VSCHAR only, so the form-encoded Basic header is well defined.
    path = write(VALID)
    text = error_text(
        path, {**ENV, "KEYCARD_CLIENT_ID": "caf\u00e9", "KEYCARD_CLIENT_SECRET": "s\u00e9cret"}
    )
    assert f"{path}:8:14: error: credentials.client_id: may only contain printable ASCII" in text
    assert (
        f"{path}:9:18: error: credentials.client_secret: may only contain printable ASCII" in text
    )
    assert "s\u00e9cret" not in text


def test_private_key_jwt(
    write: Callable[..., Path], tmp_path: Path, in_repo: Path, rsa_pem: bytes
) -> None:
    write(rsa_pem, "keys/server.pem")
    os.chmod(tmp_path / "keys/server.pem", 0o600)
    loaded = load(write(PRIVATE_KEY_JWT.replace("ALGORITHM", "PS256")))
    credentials = loaded.config.credentials
    assert isinstance(credentials, PrivateKeyJWTCredentials)
    assert (credentials.key_id, credentials.algorithm) == ("key-1", "PS256")
    assert credentials.private_key.get_secret_value().encode() == rsa_pem.rstrip(b"\n")
    assert "PRIVATE KEY" not in repr(loaded)


@pytest.mark.parametrize(
    ("algorithm", "key", "message"),
    [
        (
            "RS256",
            lambda: _pem(ec.generate_private_key(ec.SECP256R1())),
            "algorithm RS256 needs an RSA key",
        ),
        (
            "ES384",
            lambda: _pem(ec.generate_private_key(ec.SECP256R1())),
            "algorithm ES384 needs an EC key on curve P-384",
        ),
        (
            "RS256",
            lambda: _pem(rsa.generate_private_key(65537, 2048), b"pw"),
            "the private key is encrypted",
        ),
        (
            "RS256",
            lambda: _pem(rsa.generate_private_key(65537, 1024)),
            "the RSA key has 1024 bits; use at least 2048",
        ),
        (
            "RS256",
            lambda: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "the file does not hold a PEM private key",
        ),
    ],
)
def test_private_key_must_fit_the_algorithm(
    write: Callable[..., Path], algorithm: str, key: Callable[[], bytes], message: str
) -> None:
    write(key(), "keys/server.pem")
    path = write(PRIVATE_KEY_JWT.replace("ALGORITHM", algorithm))
    assert f"{path}:10:21: error: credentials.private_key_file: {message}" in error_text(path)


def test_es256_with_a_p256_key_loads(write: Callable[..., Path], in_repo: Path) -> None:
    write(_pem(ec.generate_private_key(ec.SECP256R1())), "keys/server.pem")
    assert (
        load(write(PRIVATE_KEY_JWT.replace("ALGORITHM", "ES256"))).config.credentials.algorithm
        == "ES256"
    )


def test_inline_key_material_is_refused(write: Callable[..., Path]) -> None:
    inline = PRIVATE_KEY_JWT.replace(
        "  private_key_file: keys/server.pem",
        "  private_key: |\n"
        "    -----BEGIN PRIVATE KEY-----\n    MIIE\n    -----END PRIVATE KEY-----",
    ).replace("ALGORITHM", "RS256")
    path = write(inline)
    text = error_text(path)
    hint = "unknown key; did you mean 'private_key_file'?"
    assert f"{path}:10:3: error: credentials.private_key: {hint}" in text
    assert f"{path}:7:1: error: credentials.private_key_file: required but missing" in text
    assert "MIIE" not in text
