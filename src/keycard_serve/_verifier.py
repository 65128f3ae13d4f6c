"""Verification of RFC 9068 JWT access tokens; pure, with the key supplied by a resolver.

Checks run cheapest first and, where they can, before any key lookup: a size cap before any
decoding, a strict parse of the compact form (no padding, no duplicate JSON members), the
algorithm allow-list and the ``typ``/``crit``/``cty`` headers, then the unverified ``exp``,
``nbf``/``iat``, ``iss`` and ``aud`` (``screen``); only then the key and the signature. So a
token that is bad on its face is refused even while the keys cannot be fetched. Audiences are
compared in canonical form (``audience_matches``): ``https://h:443/mcp`` is ``https://h/mcp``.
Every refusal is a ``TokenError`` whose ``code`` names the problem; messages never echo the
token or claim values.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NoReturn

import jwt
from jwt.exceptions import InvalidJTIError, InvalidSubjectError
from jwt.types import Options

from ._algorithms import VERIFYING_ALGORITHMS
from ._protocol import AT_JWT, AT_JWT_MEDIA_TYPE
from ._urls import canonical_url
from ._verified_cache import VerifiedEntry, VerifiedTokenCache, token_digest
from .errors import JWKSError, TokenError

__all__ = [
    "JWTVerifier",
    "VerifiedToken",
    "audience_matches",
    "audienceless_fault",
    "looks_like_id_token",
    "matching_audience",
    "media_type",
    "read_scopes",
]

_log = logging.getLogger(__name__)

# Key-resolver errors that are the token's fault; any other JWKSError means "could not check".
_BAD_KEY_REFERENCE = frozenset({"jwks_no_matching_key", "jwks_invalid_kid"})
_MAX_LEEWAY = 300.0  # RFC 9068 §4 allows "a few minutes" of clock skew at most
_MAX_NUMERIC_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z: beyond it a date is garbage
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

# pyjwt reads the wall clock itself, so exp/iat/nbf are checked against our injected clock.
_DECODE_OPTIONS: Options = {
    "require": ["exp", "iat", "iss", "aud", "sub"],
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
    "verify_aud": False,  # compared in canonical form by _check_audience, before the key
    "enforce_minimum_key_length": True,
}

# For a token without ``aud`` admitted through ``tokens_without_audience`` (Amazon Cognito).
_NO_AUDIENCE_OPTIONS: Options = {
    **_DECODE_OPTIONS,
    "require": ["exp", "iat", "iss", "sub"],
}
# Claims only OpenID Connect ID tokens carry (OIDC Core sections 2 and 3.1.3.6), or that say so.
_ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")

# What each refusal a zone's own shape can cause costs to accept, and the setting that does.
_HINTS = {
    "invalid_issuer": (
        "if the zone signs with the same keys under another issuer name (Entra v1 tokens: "
        "https://sts.windows.net/{tenant}/), add that exact issuer to zone.accepted_issuers "
        "(cost: tokens of that issuer are accepted too, so name your own tenant exactly)"
    ),
    "invalid_audience": (
        "if the zone names this server differently (a client id, api://..., a GUID), add that "
        "value to zone.accepted_audiences (cost: every server registered under that name "
        "accepts the same tokens); better, make the zone put this server's URL in aud"
    ),
    "missing_audience": (
        "a token without aud names no resource; to accept such tokens (Amazon Cognito) from "
        "chosen app clients, list them in zone.tokens_without_audience (cost: ANY access token "
        "of those clients is accepted, whatever server it was meant for)"
    ),
    "missing_sub": (
        "delegation needs a subject; Keycloak omits sub when the client lacks the basic "
        "client scope: add it"
    ),
    "invalid_type": (
        "if the zone types access tokens differently (Keycloak, Entra, Auth0: JWT), add it to "
        "zone.accepted_token_types, or set zone.allow_untyped_tokens for none (Okta, Cognito); "
        "cost: typ no longer tells access tokens from ID tokens, so ID-token claims are refused"
    ),
}

# Most specific first: InvalidSignatureError is a kind of DecodeError.
_PYJWT_CODES: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.InvalidSignatureError, "invalid_signature", "the token's signature does not verify"),
    (jwt.InvalidIssuerError, "invalid_issuer", "the token was not issued by the expected issuer"),
    (jwt.InvalidAudienceError, "invalid_audience", "the token is not meant for this resource"),
    (jwt.InvalidAlgorithmError, "unsupported_algorithm", "the key does not serve the token's alg"),
    (jwt.InvalidKeyError, "invalid_key", "the signing key is unusable or too weak"),
    (InvalidSubjectError, "invalid_claim", "the sub claim is not a string"),
    (InvalidJTIError, "invalid_claim", "the jti claim is not a string"),
)


@dataclass(frozen=True)
class VerifiedToken:
    """What a verified access token grants. It never holds the token, so its repr is safe."""

    subject: str
    issuer: str
    audience: tuple[str, ...]
    scopes: tuple[str, ...]
    client_id: str | None
    expires_at: int
    claims: Mapping[str, Any] = field(repr=False, hash=False)


class JWTVerifier:
    """Verifies RFC 9068 access tokens from ``issuer`` for any of ``audiences``.

    ``key_resolver`` maps the JOSE header to a key bound to its algorithm (for instance
    ``RemoteJWKSet.get_signing_key``); its ``jwks_no_matching_key`` and ``jwks_invalid_kid``
    become a ``TokenError`` with the same code, any other ``JWKSError`` propagates. ``leeway``
    is in seconds (0 to 300), ``clock`` returns epoch seconds. ``audiences`` are compared in
    RFC 3986 canonical form (default port, case of scheme and host, dot segments) and a token
    passes when its ``aud`` contains one of them. ``accepted_types``
    is the complete list of allowed ``typ`` values, compared as RFC 7515 §4.1.9 says; it is
    also the escape hatch for authorization servers that omit or mislabel ``typ`` (``""`` or
    ``None`` admits a token without one), and the first token admitted through it is logged
    as a warning; a token admitted that way is refused when it carries ID-token claims
    (``nonce``, ``at_hash``, ``c_hash``, a ``typ`` claim ``ID``, or a
    ``token_use`` other than ``access``), since ``typ`` no longer tells the two apart.

    ``issuer`` is one exact string or several (the discovery issuer first, then the zone's
    other names for itself, such as Entra's v1 issuer). ``tokens_without_audience`` lists
    client ids whose tokens may have no ``aud`` at all (Amazon Cognito): such a token is
    accepted only with a ``client_id`` claim in that list and ``token_use`` ``access``.
    Scopes are read from every claim in ``scope_claims`` (a space-separated string or a
    JSON array of strings each; RFC 9068 section 2.2.3 ``scope``, Okta and Entra ``scp``),
    and ``scope_prefix`` is put in front of each one that lacks it (Entra puts ``tools.read``
    in ``scp`` for the scope ``api://app/tools.read``). Symmetric algorithms and ``none``
    are refused at construction with ``ValueError``, as are bad numbers.

    An accepted token's verdict is remembered (``keycard_serve._verified_cache``, keyed by the
    token's SHA-256) from its ``iat``/``nbf`` minus ``leeway`` until its ``exp``, and serves
    a later call only while ``key_resolver`` returns the same key object for its header; every
    other case runs every check again. A new verifier starts with no verdicts.
    """

    def __init__(
        self,
        *,
        issuer: str | Sequence[str],
        audiences: Sequence[str],
        key_resolver: Callable[[Mapping[str, Any]], Awaitable[jwt.PyJWK]],
        algorithms: Sequence[str] = VERIFYING_ALGORITHMS,
        accepted_types: Sequence[str | None] = (AT_JWT,),
        leeway: float = 30.0,
        max_token_bytes: int = 16_384,
        clock: Callable[[], float] = time.time,
        tokens_without_audience: Sequence[str] = (),
        scope_claims: Sequence[str] = ("scope", "scp"),
        scope_prefix: str = "",
    ) -> None:
        issuers = (issuer,) if isinstance(issuer, str) else tuple(issuer)
        if not issuers or not all(isinstance(name, str) and name for name in issuers):
            raise ValueError("issuer must be a non-empty string or a sequence of them")
        for name, values in (
            ("tokens_without_audience", tokens_without_audience),
            ("scope_claims", scope_claims),
        ):
            if isinstance(values, str) or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"{name} must be a sequence of non-empty strings")
        if not isinstance(scope_prefix, str):
            raise ValueError("scope_prefix must be a string")
        if isinstance(audiences, str) or not audiences:
            raise ValueError("audiences must be a non-empty sequence of strings")
        if not all(isinstance(audience, str) and audience for audience in audiences):
            raise ValueError("every audience must be a non-empty string")
        if not _is_number(leeway) or not 0 <= leeway <= _MAX_LEEWAY:
            raise ValueError(f"leeway must be a number of seconds from 0 to {_MAX_LEEWAY:g}")
        if not _is_number(max_token_bytes, int) or max_token_bytes <= 0:
            raise ValueError("max_token_bytes must be a positive integer")
        self._issuers = issuers
        self._without_audience = frozenset(tokens_without_audience)
        self._scope_claims = tuple(scope_claims)
        self._scope_prefix = scope_prefix
        self._audiences = list(audiences)
        self._key_resolver = key_resolver
        self._algorithms = _check_algorithms(algorithms)
        self._types, self._typ_optional = _check_types(accepted_types)
        self._leeway = float(leeway)
        self._max_token_bytes = max_token_bytes
        self._clock = clock
        self._warned = False
        self._verified: VerifiedTokenCache[VerifiedToken] = VerifiedTokenCache()
        self._hinted: set[str] = set()

    async def verify(self, token: str) -> VerifiedToken:
        """Verify ``token`` and return what it grants.

        Raises ``TokenError`` when the token was checked and refused, with ``code``:
        ``malformed``, ``token_too_large``, ``unsupported_algorithm``, ``invalid_type``,
        ``unsupported_crit``, ``unsupported_cty``, ``jwks_no_matching_key``,
        ``jwks_invalid_kid``, ``invalid_signature``, ``invalid_issuer``, ``invalid_audience``,
        ``invalid_key``, ``missing_claim``, ``invalid_claim``, ``expired`` (``exp`` more than
        ``leeway`` seconds ago) or ``not_yet_valid`` (``iat``/``nbf`` more than ``leeway``
        seconds ahead). Raises the resolver's ``JWKSError`` (``jwks_unavailable``,
        ``jwks_http_status``, ``jwks_timeout``...) when the keys could not be had: the token
        was not checked, and callers must not report it as invalid.
        """
        self._check_size(token)
        digest = token_digest(token)
        cached = self._verified.get(digest, self._clock())
        if cached is not None:
            # Still the very key that verified it: a key gone from the JWKS (or a new key set)
            # sends the token through every check again.
            try:
                key = await self._resolve_key(cached.header)
            except TokenError:
                self._verified.discard(digest)
                raise
            if key is cached.key:
                return cached.verdict
            self._verified.discard(digest)
        header, payload, alg, typ_note = self.screen(token, self._issuers.__contains__)
        key = await self._resolve_key(header)
        self._check_signature(token, key, alg, payload)
        if typ_note:
            _refuse_id_token(payload)
        not_before, exp = self._check_times(payload)
        verified = _verified(payload, exp, self._read_scopes(payload))
        if typ_note and not self._warned:
            self._warned = True
            _log.warning(
                "accepted an access token %s through accepted_types; RFC 9068 requires "
                "typ at+jwt, so ask the authorization server to set it",
                typ_note,
            )
        entry = VerifiedEntry(header, key, verified, not_before - self._leeway, exp)
        self._verified.put(digest, entry, self._clock())
        return verified

    def screen(
        self, token: str, issuer_ok: Callable[[str], bool]
    ) -> tuple[dict[str, Any], dict[str, Any], str, str | None]:
        """The checks that need neither the signing key nor the zone's metadata.

        Size, compact form, headers, then the unverified ``exp``/``iat``/``nbf`` (with
        leeway), ``iss`` (``issuer_ok(iss)``, for instance "the same URL as the zone" before
        discovery) and ``aud``. Returns ``(header, payload, alg, typ_note)``; raises
        ``TokenError`` (the codes of ``verify``). A token that passes is not yet trusted.
        """
        self._check_size(token)
        header, payload = self._decode(token)
        alg, typ_note = self._check_header(header)
        self._check_times(payload)
        issuer = payload.get("iss")
        if isinstance(issuer, str) and not issuer_ok(issuer):
            raise self._refusal(
                "the token was not issued by the expected issuer",
                "invalid_issuer",
                "invalid_issuer",
            )
        if "aud" in payload:
            self._check_audience(payload["aud"])
        return header, payload, alg, typ_note

    def _check_size(self, token: str) -> None:
        """Before any decoding or hashing, so an oversized token costs nothing (pyjwt sets no
        limit)."""
        if not isinstance(token, str):
            raise TokenError("the token is not a string", code="malformed")
        if len(token) > self._max_token_bytes:
            raise TokenError(
                f"the token is longer than {self._max_token_bytes} bytes", code="token_too_large"
            )

    def _check_audience(self, audience: object) -> None:
        if audience in ("", []):
            raise self._refusal(
                "the token lacks the aud claim", "missing_claim", "missing_audience"
            )
        values = [audience] if isinstance(audience, str) else audience
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise TokenError("the token is not meant for this resource", code="invalid_audience")
        if not audience_matches(values, self._audiences):
            raise self._refusal(
                "the token is not meant for this resource", "invalid_audience", "invalid_audience"
            )

    async def _resolve_key(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        try:
            return await self._key_resolver(header)
        except JWKSError as exc:
            if exc.code not in _BAD_KEY_REFERENCE:
                raise  # the keys could not be had: the token was not checked
            raise TokenError(f"no signing key for the token: {exc.message}", code=exc.code) from exc

    def _decode(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        segments = token.split(".")
        if len(segments) != 3:
            raise TokenError(
                f"a signed JWT has 3 segments, not {len(segments)} (JWE is not accepted)",
                code="malformed",
            )
        header = _json_object(_base64url(segments[0], "header"), "header")
        payload = _json_object(_base64url(segments[1], "payload"), "payload")
        _base64url(segments[2], "signature")
        return header, payload

    def _check_header(self, header: dict[str, Any]) -> tuple[str, str | None]:
        """Return the alg and, for a typ admitted only through the escape hatch, a note."""
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise TokenError("the token's alg is not allowed", code="unsupported_algorithm")
        typ_note = self._check_type(header)
        # We understand no JWS extension, so any crit (even an empty one) is refused.
        if "crit" in header:
            raise TokenError(
                "the token has a crit header and no extension is supported", code="unsupported_crit"
            )
        if "cty" in header:
            raise TokenError("nested tokens (cty header) are not accepted", code="unsupported_cty")
        return alg, typ_note

    def _check_type(self, header: dict[str, Any]) -> str | None:
        if "typ" not in header:
            if not self._typ_optional:
                raise self._refusal(
                    "the token has no typ header; access tokens are typed at+jwt",
                    "invalid_type",
                    "invalid_type",
                )
            return "without a typ header"
        typ = header["typ"]
        typ_media = media_type(typ) if isinstance(typ, str) else None
        if typ_media not in self._types:
            raise self._refusal(
                "the token's typ is not an accepted type", "invalid_type", "invalid_type"
            )
        return None if typ_media == AT_JWT_MEDIA_TYPE else f"with typ {typ_media}"

    def _check_signature(
        self, token: str, key: jwt.PyJWK, alg: str, payload: Mapping[str, Any]
    ) -> None:
        without_audience = "aud" not in payload and bool(self._without_audience)
        try:
            jwt.decode(
                token,
                key,
                algorithms=[alg],
                options=_NO_AUDIENCE_OPTIONS if without_audience else _DECODE_OPTIONS,
                issuer=self._issuers[0] if len(self._issuers) == 1 else self._issuers,
            )
        except jwt.MissingRequiredClaimError as exc:
            hint = {"aud": "missing_audience", "sub": "missing_sub"}.get(exc.claim)
            raise self._refusal(
                f"the token lacks the {exc.claim} claim", "missing_claim", hint
            ) from exc
        except jwt.PyJWTError as exc:
            code, message = next(
                ((code, message) for kind, code, message in _PYJWT_CODES if isinstance(exc, kind)),
                ("malformed", "the token could not be decoded"),
            )
            raise self._refusal(message, code, code) from exc
        if without_audience:
            self._check_audienceless(payload)

    def _check_audienceless(self, payload: Mapping[str, Any]) -> None:
        """A token without ``aud``: only from a listed client, and only an access token."""
        fault = audienceless_fault(payload, self._without_audience)
        if fault == "client_id":
            raise self._refusal(
                "the token has no aud claim and its client_id is not in "
                "zone.tokens_without_audience",
                "missing_claim",
                "missing_audience",
            )
        if fault == "token_use":
            raise TokenError(
                "a token without aud is accepted only with token_use access",
                code="invalid_claim",
            )

    def _read_scopes(self, payload: Mapping[str, Any]) -> tuple[str, ...]:
        return read_scopes(payload, self._scope_claims, self._scope_prefix)

    def _refusal(self, message: str, code: str, hint: str | None) -> TokenError:
        """A ``TokenError``; when the zone's shape may be the cause, the message names the
        setting that accepts it and its cost, and the first such refusal per cause is logged
        (never the token)."""
        advice = _HINTS.get(hint) if hint else None
        if advice is None:
            return TokenError(message, code=code)
        if hint not in self._hinted:
            self._hinted.add(hint)  # type: ignore[arg-type]
            _log.warning("refused a bearer token: %s; %s", message, advice)
        return TokenError(f"{message}; {advice}", code=code)

    def _check_times(self, payload: dict[str, Any]) -> tuple[float, float]:
        """Check exp, iat and nbf against the clock with leeway; return (max(iat, nbf), exp)."""
        now = self._clock()
        exp = _numeric_date(payload, "exp")
        not_before = _numeric_date(payload, "iat")
        if "nbf" in payload:
            not_before = max(not_before, _numeric_date(payload, "nbf"))
        if exp <= now - self._leeway:
            raise TokenError("the token has expired", code="expired")
        if not_before > now + self._leeway:
            raise TokenError("the token is not valid yet", code="not_yet_valid")
        return not_before, exp


def audience_matches(token_audiences: Sequence[str], accepted: Sequence[str]) -> bool:
    """True when one of the token's ``aud`` values names one of ``accepted``, both compared in
    RFC 3986 section 6.2.2 canonical form (``https://h:443/mcp`` is ``https://h/mcp``; a value
    that is not a URL, such as ``api://app`` or a client id, is compared as it is)."""
    return matching_audience(token_audiences, accepted) is not None


def matching_audience(token_audiences: Sequence[str], accepted: Sequence[str]) -> str | None:
    """The first of ``accepted`` that one of the token's ``aud`` values names (compared as in
    ``audience_matches``), or None. Same strings are found without parsing any URL."""
    if isinstance(token_audiences, str):  # one value, never a substring search
        token_audiences = (token_audiences,)
    for audience in accepted:
        if audience in token_audiences:
            return audience
    named = {_canonical_audience(value) for value in token_audiences}
    return next((a for a in accepted if _canonical_audience(a) in named), None)


def _canonical_audience(value: str) -> str:
    if not value.lower().startswith(("http://", "https://")):
        return value
    try:
        return canonical_url(value)
    except ValueError:
        return value


def _check_algorithms(algorithms: Sequence[str]) -> frozenset[str]:
    if isinstance(algorithms, str) or not algorithms:
        raise ValueError("algorithms must be a non-empty sequence of names")
    for name in algorithms:
        if not isinstance(name, str):
            raise ValueError("algorithm names must be strings")
        # Key confusion (CVE-2015-9235): an HMAC "secret" would be the AS's public key.
        if name.upper().startswith("HS") or name.lower() == "none":
            raise ValueError(f"{name} is refused: only asymmetric algorithms can be allowed")
        if name not in VERIFYING_ALGORITHMS:
            raise ValueError(f"{name} is not supported; choose from {VERIFYING_ALGORITHMS}")
    return frozenset(algorithms)


def _check_types(accepted_types: Sequence[str | None]) -> tuple[frozenset[str], bool]:
    if isinstance(accepted_types, str) or not accepted_types:
        raise ValueError("accepted_types must be a non-empty sequence")
    types: set[str] = set()
    optional = False
    for entry in accepted_types:
        if entry is None or entry == "":
            optional = True
        elif isinstance(entry, str):
            types.add(media_type(entry))
        else:
            raise ValueError("accepted_types entries must be strings or None")
    return frozenset(types), optional


def media_type(typ: str) -> str:
    """A ``typ`` header value as the media type it names, lower-case: RFC 7515 §4.1.9 lets
    ``application/`` be omitted and compares ignoring case (``"AT+JWT"`` gives
    ``"application/at+jwt"``)."""
    return (typ if "/" in typ else f"application/{typ}").lower()


def _base64url(segment: str, part: str) -> bytes:
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenError(f"the token's {part} is not unpadded base64url", code="malformed")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    # Non-zero spare bits would let two encodings carry the same bytes.
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise TokenError(f"the token's {part} is not canonical base64url", code="malformed")
    return data


def _json_object(data: bytes, part: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_unique_members, parse_constant=_no_constant
        )
    except (ValueError, RecursionError):
        # Not chained: a JSONDecodeError keeps the whole decoded text on its ``doc``.
        raise TokenError(f"the token's {part} is not valid UTF-8 JSON", code="malformed") from None
    if not isinstance(value, dict):
        raise TokenError(f"the token's {part} is not a JSON object", code="malformed")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate members are refused: parsers disagree on which one wins (RFC 8725 §3.7)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise TokenError("the token repeats a JSON member name", code="malformed")
    return members


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _numeric_date(payload: Mapping[str, Any], name: str) -> float:
    if payload.get(name) is None:
        raise TokenError(f"the token lacks the {name} claim", code="missing_claim")
    value = payload[name]
    if not _is_number(value) or not 0 <= value <= _MAX_NUMERIC_DATE:
        raise TokenError(f"the {name} claim is not a NumericDate", code="invalid_claim")
    return float(value)


def _is_number(value: object, kind: type | tuple[type, ...] = (int, float)) -> bool:
    """JSON numbers only: ``True`` is an int to Python but not a date or a duration."""
    return isinstance(value, kind) and not isinstance(value, bool)


def _refuse_id_token(payload: Mapping[str, Any]) -> None:
    """With ``typ`` relaxed, an ID token whose ``aud`` is an accepted client id would pass."""
    marker = looks_like_id_token(payload)
    if marker is not None:
        raise TokenError(
            f"the token looks like an ID token (its {marker} claim), not an access token",
            code="invalid_type",
        )


def looks_like_id_token(payload: Mapping[str, Any]) -> str | None:
    """The name of the claim that marks ``payload`` as an OpenID Connect ID token, or None.

    The markers: ``nonce``, ``at_hash`` or ``c_hash`` present (claims only ID tokens carry,
    OIDC Core sections 2 and 3.1.3.6), a ``typ`` claim ``ID`` (Keycloak) or a ``token_use``
    other than ``access`` (Amazon Cognito). ``JWTVerifier`` refuses a token so marked when its
    ``typ`` header is not ``at+jwt`` (RFC 9068 section 2.1), the one thing that otherwise
    tells an access token from an ID token.
    """
    marker = next((name for name in _ID_TOKEN_CLAIMS if name in payload), None)
    if marker is None and payload.get("typ") == "ID":
        marker = "typ"
    if marker is None and payload.get("token_use", "access") != "access":
        marker = "token_use"
    return marker


def audienceless_fault(payload: Mapping[str, Any], client_ids: Collection[str]) -> str | None:
    """Why a token without ``aud`` is refused when ``client_ids`` may send one
    (``tokens_without_audience``), as the claim at fault, or None when it is accepted:
    ``"client_id"`` when its ``client_id`` is not one of them, ``"token_use"`` when its
    ``token_use`` is not ``access`` (Amazon Cognito's access tokens say so; RFC 9068 section
    4 requires an ``aud``, so only such a token may do without)."""
    client_id = payload.get("client_id")
    if not isinstance(client_id, str) or client_id not in client_ids:
        return "client_id"
    if payload.get("token_use") != "access":
        return "token_use"
    return None


def _verified(payload: dict[str, Any], exp: float, scopes: tuple[str, ...]) -> VerifiedToken:
    subject = payload["sub"]
    if not subject:
        raise TokenError("the sub claim is empty", code="invalid_claim")
    audience = payload.get("aud", ())
    return VerifiedToken(
        subject=subject,
        issuer=payload["iss"],
        audience=(audience,) if isinstance(audience, str) else tuple(audience),
        scopes=scopes,
        client_id=_client_id(payload),
        expires_at=int(exp),
        claims=MappingProxyType(payload),
    )


def read_scopes(
    payload: Mapping[str, Any], names: Sequence[str], prefix: str = ""
) -> tuple[str, ...]:
    """The union of the scopes in each claim of ``names``: a space-separated string (RFC 9068
    section 2.2.3) or a JSON array of strings (Okta's ``scp``, Duende's ``scope``), with
    ``prefix`` put before each that lacks it. ``TokenError`` (``invalid_claim``) for a claim
    of another type."""
    scopes: list[str] = []
    for name in names:
        value = payload.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            scopes += value.split(" ")
        elif isinstance(value, list) and all(isinstance(s, str) and " " not in s for s in value):
            scopes += value
        else:
            raise TokenError(f"the {name} claim has the wrong type", code="invalid_claim")
    named = (s if s.startswith(prefix) else prefix + s for s in scopes if s)
    return tuple(dict.fromkeys(named))


def _client_id(payload: Mapping[str, Any]) -> str | None:
    """RFC 9068 ``client_id``, else OIDC ``azp`` (Keycloak, Auth0, Entra v2), Okta's ``cid``
    or Entra v1's ``appid``."""
    for name in ("client_id", "azp", "cid", "appid"):
        if name in payload:
            if not isinstance(payload[name], str):
                raise TokenError(f"the {name} claim is not a string", code="invalid_claim")
            return payload[name]
    return None
