"""Client credentials refuse, at construction, what could never authenticate."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from keycard_serve import ConfigurationError, PrivateKeyJWT
from tests.support.keys import ec_key, rsa_key

TOKEN_ENDPOINT = "https://zone.test/token"


def pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("key", "algorithm", "reason"),
    [
        (lambda: ec_key(), "RS256", "needs an RSA key"),
        (lambda: ec_key("p384", "P-384"), "ES256", "curve P-256"),
        (lambda: ec_key(), "ES384", "curve P-384"),
        (lambda: rsa_key("small", 1024), "RS256", "1024 bits"),
        (lambda: rsa_key(), "ES256", "needs an EC key"),
        (lambda: rsa_key(), "HS256", "not supported"),
        (lambda: rsa_key(), "none", "not supported"),
    ],
)
def test_a_key_that_cannot_sign_with_its_algorithm_is_refused_at_construction(
    key, algorithm, reason
):
    with pytest.raises(ConfigurationError, match=reason) as raised:
        PrivateKeyJWT("mcp", pem(key()), algorithm=algorithm)
    assert raised.value.code in ("credential_key", "credential_algorithm")


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [
        (lambda: rsa_key(), "RS256"),
        (lambda: rsa_key(), "PS384"),
        (lambda: ec_key(), "ES256"),
        (lambda: ec_key("p384", "P-384"), "ES384"),
    ],
)
def test_a_fitting_key_signs_an_rfc7523_assertion(key, algorithm):
    private = key()
    credential = PrivateKeyJWT("mcp", pem(private), key_id="k1", algorithm=algorithm)
    form: dict[str, str] = {}
    credential.authenticate(form, {}, audience=TOKEN_ENDPOINT)
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assertion = form["client_assertion"]
    assert jwt.get_unverified_header(assertion) == {"alg": algorithm, "kid": "k1", "typ": "JWT"}
    claims = jwt.decode(
        assertion, private.public_key(), algorithms=[algorithm], audience=TOKEN_ENDPOINT
    )
    assert claims["iss"] == claims["sub"] == "mcp"
    assert claims["exp"] - claims["iat"] == 60
