"""How the MCP server authenticates itself to the zone's token endpoint.

``ClientSecret`` is client_secret_basic with the RFC 6749 section 2.3.1 form-encoding that
plain HTTP Basic omits; ``PrivateKeyJWT`` is RFC 7523 private_key_jwt with a fresh, short-lived
assertion per request; ``WorkloadIdentity`` sends a platform-issued JWT (a Kubernetes projected
service-account token) read from its file at every request, so no secret is stored at all.
None shows its secret in a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import quote_plus

import jwt
from cryptography.hazmat.primitives import serialization

from ._algorithms import SIGNING_ALGORITHMS, check_private_key
from ._protocol import CLIENT_ASSERTION_TYPE
from .errors import ConfigurationError

__all__ = [
    "ApplicationCredential",
    "ClientSecret",
    "PrivateKeyJWT",
    "WorkloadIdentity",
    "read_platform_token",
]

_MAX_PLATFORM_TOKEN_BYTES = 16 * 1024


@runtime_checkable
class ApplicationCredential(Protocol):
    """Adds client authentication to a token-endpoint request."""

    client_id: str

    def authenticate(self, form: dict[str, str], headers: dict[str, str], *, audience: str) -> None:
        """Add credentials to ``form`` or ``headers``. ``audience`` is the token endpoint URL,
        or the issuer for a credential whose ``assertion_audience`` is ``"issuer"``."""


class ClientSecret:
    """client_secret_basic: ``ClientSecret(("client_id", "client_secret"))``.

    A mapping ``{zone_id_or_url: (client_id, client_secret)}`` is accepted too; the
    ``AuthProvider`` picks the entry of its own zone and refuses to start without one, rather
    than silently sending no credentials as the original package did.
    """

    def __init__(self, credentials: tuple[str, str] | Mapping[str, tuple[str, str]]) -> None:
        if isinstance(credentials, Mapping):
            self._by_zone = {key: _pair(value) for key, value in credentials.items()}
            self.client_id = ""
            self._secret = ""
        else:
            self._by_zone = {}
            self.client_id, self._secret = _pair(credentials)

    def for_zone(self, *keys: str) -> ClientSecret:
        """The single-zone credential for the first of ``keys`` found (itself if single)."""
        if not self._by_zone:
            return self
        for key in keys:
            if key in self._by_zone:
                return ClientSecret(self._by_zone[key])
        raise ConfigurationError(
            "ClientSecret has no entry for this zone (looked for: " + ", ".join(keys) + ")",
            code="credential_zone",
        )

    def authenticate(self, form: dict[str, str], headers: dict[str, str], *, audience: str) -> None:
        if not self.client_id:
            raise ConfigurationError("multi-zone ClientSecret used without selecting a zone")
        # RFC 6749 2.3.1: form-encode both parts before base64; httpx's BasicAuth does not.
        raw = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:
        if self._by_zone:
            return f"ClientSecret(zones={sorted(self._by_zone)!r})"
        return f"ClientSecret(client_id={self.client_id!r}, client_secret='**********')"


class PrivateKeyJWT:
    """private_key_jwt (RFC 7523): a signed assertion per request instead of a shared secret.

    The assertion's ``aud`` is the token endpoint URL (RFC 7523 section 3), or with
    ``assertion_audience="issuer"`` the zone's issuer, as FAPI 2.0 and the RFC 7523 update
    require. ``lifetime`` is in seconds (1-300).
    """

    def __init__(
        self,
        client_id: str,
        private_key: str | bytes,
        *,
        key_id: str | None = None,
        algorithm: str = "RS256",
        lifetime: int = 60,
        assertion_audience: Literal["token_endpoint", "issuer"] = "token_endpoint",
    ) -> None:
        if not client_id:
            raise ConfigurationError("PrivateKeyJWT needs a client_id", code="credential_client_id")
        if algorithm not in SIGNING_ALGORITHMS:
            raise ConfigurationError(
                f"PrivateKeyJWT algorithm {algorithm!r} is not supported; use one of "
                + ", ".join(SIGNING_ALGORITHMS),
                code="credential_algorithm",
            )
        if not 0 < lifetime <= 300:
            raise ConfigurationError("assertion lifetime must be 1-300 seconds")
        if assertion_audience not in ("token_endpoint", "issuer"):
            raise ConfigurationError(
                "assertion_audience must be token_endpoint or issuer", code="credential_audience"
            )
        self.assertion_audience = assertion_audience
        pem = private_key.encode() if isinstance(private_key, str) else private_key
        try:
            self._key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "PrivateKeyJWT private_key is not an unencrypted PEM private key",
                code="credential_key",
            ) from exc
        try:
            check_private_key(self._key, algorithm)
        except ValueError as exc:
            raise ConfigurationError(
                f"PrivateKeyJWT private_key cannot sign {algorithm}: {exc}",
                code="credential_key",
            ) from None
        self.client_id = client_id
        self.key_id = key_id
        self.algorithm = algorithm
        self.lifetime = lifetime

    @classmethod
    def from_file(cls, client_id: str, path: str | Path, **kwargs: object) -> PrivateKeyJWT:
        """Load the PEM key from ``path``."""
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read private key file {str(path)!r}: {exc.strerror}",
                code="credential_key_file",
            ) from exc
        return cls(client_id, pem, **kwargs)  # type: ignore[arg-type]

    def authenticate(self, form: dict[str, str], headers: dict[str, str], *, audience: str) -> None:
        """Add a fresh assertion signed for ``audience`` (the exchanger passes the issuer when
        ``assertion_audience`` is ``"issuer"``)."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + self.lifetime,
        }
        header = {"kid": self.key_id} if self.key_id else None
        form["client_id"] = self.client_id
        form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        form["client_assertion"] = jwt.encode(claims, self._key, self.algorithm, headers=header)

    def __repr__(self) -> str:
        return (
            f"PrivateKeyJWT(client_id={self.client_id!r}, key_id={self.key_id!r}, "
            f"algorithm={self.algorithm!r})"
        )


class WorkloadIdentity:
    """Workload identity: a platform-issued JWT as the RFC 7523 section 2.2 client assertion.

    ``token_file`` holds the JWT (a Kubernetes projected service-account token, an Azure or
    GitHub federated token...); the platform rotates it, so it is read again at every
    request, never cached, and never logged. ``client_id`` is sent when given (zones that
    federate by subject do not need it). The zone trusts the platform's issuer and checks the
    assertion itself; this side only refuses, with ``ConfigurationError`` naming the file and
    never its content, a file that is missing, not a JWT, or past its own ``exp`` (codes
    ``credential_unreadable``, ``credential_malformed``, ``credential_expired``). ``clock``
    returns epoch seconds.
    """

    def __init__(
        self,
        token_file: str | Path,
        client_id: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if client_id is not None and not client_id:
            raise ConfigurationError("WorkloadIdentity client_id must not be empty")
        self.token_file = Path(token_file)
        self.client_id = client_id or ""
        self._clock = clock

    def authenticate(self, form: dict[str, str], headers: dict[str, str], *, audience: str) -> None:
        """Add the file's current JWT as ``client_assertion`` (``audience`` is the platform's
        to choose, so it is not used)."""
        token, expires_at = read_platform_token(self.token_file)
        if expires_at is not None and expires_at <= self._clock():
            raise ConfigurationError(
                f"the workload identity token in {str(self.token_file)!r} has expired; "
                "the platform should have rotated it",
                code="credential_expired",
            )
        if self.client_id:
            form["client_id"] = self.client_id
        form["client_assertion_type"] = CLIENT_ASSERTION_TYPE
        form["client_assertion"] = token

    def __repr__(self) -> str:
        return (
            f"WorkloadIdentity(token_file={str(self.token_file)!r}, client_id={self.client_id!r})"
        )


def read_platform_token(path: Path) -> tuple[str, float | None]:
    """The JWT in ``path`` and its ``exp`` (epoch seconds, None without one), unverified.

    Raises ``ConfigurationError`` (``credential_unreadable`` or ``credential_malformed``)
    naming the file, never its content.
    """
    try:
        with path.open("rb") as stream:
            data = stream.read(_MAX_PLATFORM_TOKEN_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the workload identity token file {str(path)!r}: "
            f"{exc.strerror or type(exc).__name__}",
            code="credential_unreadable",
        ) from None
    malformed = ConfigurationError(
        f"the workload identity token file {str(path)!r} does not hold a JWT",
        code="credential_malformed",
    )
    if len(data) > _MAX_PLATFORM_TOKEN_BYTES:
        raise malformed
    try:
        token = data.decode("ascii").strip()
        segments = token.split(".")
        if len(segments) != 3 or not all(segments[:2]):
            raise ValueError
        payload = json.loads(base64.urlsafe_b64decode(segments[1] + "=" * (-len(segments[1]) % 4)))
    except (ValueError, binascii.Error):
        raise malformed from None
    if not isinstance(payload, dict):
        raise malformed
    exp = payload.get("exp")
    valid_exp = isinstance(exp, int | float) and not isinstance(exp, bool)
    return token, float(exp) if valid_exp else None


def _pair(value: object) -> tuple[str, str]:
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not all(isinstance(part, str) and part for part in value)
    ):
        raise ConfigurationError(
            "ClientSecret expects a (client_id, client_secret) pair of non-empty strings",
            code="credential_pair",
        )
    return value[0], value[1]
