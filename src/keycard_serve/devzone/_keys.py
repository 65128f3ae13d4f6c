"""The zone's one ES256 signing key: kept in the state directory, published as a JWKS.

The key lives in a 0600 PEM file so tokens stay valid across restarts and another process
(``keycard-serve token``) can mint tokens offline that the running zone's JWKS verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .._algorithms import check_private_key
from .._protocol import AT_JWT, AT_JWT_MEDIA_TYPE
from ..errors import ConfigurationError
from ._oauth import log
from ._state import write_once

__all__ = ["ALGORITHM", "SigningKey"]

ALGORITHM = "ES256"  # the JWS alg of every token the zone signs (RFC 7518 section 3.4)
_KEY_FILE = "signing-key.pem"
_MAX_TOKEN_LENGTH = 16 * 1024  # characters; a longer subject token is refused unread


class SigningKey:
    """Signs RFC 9068 access tokens and verifies the zone's own tokens.

    ``kid`` is the key's RFC 7638 thumbprint, so it stays the same across restarts;
    ``public_jwk`` is the RFC 7517 public key with ``kid``, ``alg`` and ``use``.
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._private_key = private_key
        self._public_key = private_key.public_key()
        public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(self._public_key, as_dict=True)
        self.kid = _thumbprint(public_jwk)
        self.public_jwk = {**public_jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    @classmethod
    def load_or_create(cls, state_dir: Path) -> SigningKey:
        """The key in ``state_dir``, generated on first use.

        Raises ``ConfigurationError`` if the file is not a PEM private key that can sign
        ES256 (a P-256 EC key, the ``_algorithms`` table's rule).
        """
        path = state_dir / _KEY_FILE
        if not path.exists():
            generated = ec.generate_private_key(ec.SECP256R1())
            pem = generated.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_once(path, pem)
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("dev zone key %s was readable by others; mode set to 0600", path)
            path.chmod(0o600)
        try:
            private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise ConfigurationError(f"dev zone key {path} is not a PEM private key") from exc
        try:
            check_private_key(private_key, ALGORITHM)
        except ValueError as exc:
            raise ConfigurationError(f"dev zone key {path}: {exc}") from exc
        return cls(cast(ec.EllipticCurvePrivateKey, private_key))

    def jwks(self) -> dict[str, Any]:
        """The RFC 7517 JWK Set the zone publishes at ``/jwks``: this one public key."""
        return {"keys": [self.public_jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        """``claims`` as a compact JWS with the RFC 9068 header ``typ: at+jwt`` and our kid."""
        return jwt.encode(
            claims,
            self._private_key,
            algorithm=ALGORITHM,
            headers={"typ": AT_JWT, "kid": self.kid},
        )

    def verify(self, token: str, *, issuer: str) -> dict[str, Any]:
        """Claims of one of our own unexpired access tokens; ``jwt.InvalidTokenError`` if not.

        ``aud`` is not checked here: the token exchange accepts a subject token of any of
        the zone's audiences (RFC 8693 section 2.1).
        """
        if len(token) > _MAX_TOKEN_LENGTH:
            raise jwt.InvalidTokenError("token too long")
        header = jwt.get_unverified_header(token)
        if str(header.get("typ", "")).lower() not in (AT_JWT, AT_JWT_MEDIA_TYPE):
            raise jwt.InvalidTokenError("not an at+jwt access token")
        if header.get("kid") != self.kid:
            raise jwt.InvalidTokenError("signed by a key this zone does not hold")
        return jwt.decode(
            token,
            self._public_key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={
                "require": ["iss", "sub", "aud", "exp", "iat", "jti"],
                "verify_aud": False,
            },
        )


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint, so the kid is stable for a given key."""
    members = {name: public_jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
