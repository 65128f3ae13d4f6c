"""A sample token held against a config: which setting its zone's token shape needs.

``validate --online --token`` decodes a token the user got from their zone (without trusting
it: nothing here verifies a signature) and names every difference from what the config
accepts that can be seen from outside, each with the setting that would accept it: the
issuer against the discovery issuer (RFC 8414 section 3.3) and ``zone.accepted_issuers``,
``aud`` against this server's URLs and ``zone.accepted_audiences``, the ``typ`` header
(RFC 9068 section 2.1), where the scopes sit, and ID-token claims. The token itself never
appears in a finding.

Each rule is the verifier's own (``keycard_serve._verifier``: ``audience_matches``,
``audienceless_fault``, ``media_type``, ``looks_like_id_token``, ``read_scopes``), so a sample
token is reported exactly when the server would refuse it: an ``aud`` spelled differently
(``https://h:443/mcp``, ``HTTPS://H/mcp``) is this server's URL. The issuer is compared
exactly, as the verifier compares it once the zone's metadata is known.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any

from .._protocol import AT_JWT_MEDIA_TYPE
from .._urls import normalize_base_url
from .._verifier import (
    audience_matches,
    audienceless_fault,
    looks_like_id_token,
    media_type,
    read_scopes,
)
from ..errors import TokenError
from ._locate import Locator
from .findings import Finding
from .models import ServeConfig

__all__ = ["SampleToken", "decode_sample", "token_shape_findings"]

SampleToken = tuple[dict[str, Any], dict[str, Any]]
# Claims some servers put scopes in that are not read without zone.scope_claims.
_OTHER_SCOPE_CLAIMS = ("permissions", "roles", "scopes")


def decode_sample(token: str) -> SampleToken:
    """The JOSE header and payload of a compact JWS, unverified.

    Raises ``ValueError`` with a message that does not contain the token.
    """
    segments = token.strip().split(".")
    if len(segments) != 3:
        raise ValueError(f"the sample token is not a signed JWT ({len(segments)} segments, not 3)")
    try:
        header, payload = (
            json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in segments[:2]
        )
    except (ValueError, binascii.Error):
        raise ValueError("the sample token's header or payload is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("the sample token's header or payload is not a JSON object")
    return header, payload


def token_shape_findings(
    sample: SampleToken, config: ServeConfig, issuer: str, where: Locator
) -> list[Finding]:
    """Every mismatch between ``sample`` and what ``config`` accepts from ``issuer``."""
    header, payload = sample
    return [
        where.at(path, message, severity)
        for path, message, severity in (
            *_issuer(payload, config, issuer),
            *_audience(payload, config),
            *_type(header, payload, config),
            *_scopes(payload, config),
        )
    ]


_Problem = tuple[tuple[str | int, ...], str, str]


def _issuer(payload: dict[str, Any], config: ServeConfig, issuer: str) -> Iterator[_Problem]:
    iss = payload.get("iss")
    if iss == issuer or iss in config.zone.accepted_issuers:
        return
    if not isinstance(iss, str):
        yield (
            ("zone",),
            "the sample token has no iss claim; no access token is accepted without",
            "error",
        )
        return
    yield (
        ("zone", "accepted_issuers"),
        f"the sample token's iss {iss!r} is not the discovery issuer {issuer!r}; if the zone "
        "really issues it (Entra v1 tokens), add it to zone.accepted_issuers",
        "error",
    )


def _audience(payload: dict[str, Any], config: ServeConfig) -> Iterator[_Problem]:
    ours = (config.server.mcp_url, normalize_base_url(config.server.base_url))
    if "aud" not in payload:
        yield from _without_audience(payload, config)
        return
    aud = payload["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if aud in ("", []) or not isinstance(values, list):
        yield ("zone",), "the sample token's aud is empty or not a string or a list", "error"
        return
    if not all(isinstance(value, str) for value in values):
        yield ("zone",), "the sample token's aud lists a value that is not a string", "error"
        return
    if audience_matches(values, (*ours, *config.zone.accepted_audiences)):
        return
    named = ", ".join(repr(v) for v in values)
    yield (
        ("zone", "accepted_audiences"),
        f"the sample token's aud names {named}, not {ours[0]!r}; make the zone put this "
        "server's URL in aud, or add one of those values to zone.accepted_audiences (every "
        "server registered under that name then accepts the same tokens)",
        "error",
    )


def _without_audience(payload: dict[str, Any], config: ServeConfig) -> Iterator[_Problem]:
    fault = audienceless_fault(payload, config.zone.tokens_without_audience)
    if fault == "client_id":
        client_id = payload.get("client_id")
        yield (
            ("zone", "tokens_without_audience"),
            "the sample token has no aud (Amazon Cognito): it names no server; list its "
            f"client_id {client_id!r} in zone.tokens_without_audience only if that app client "
            "is dedicated to this server (any of its access tokens would be accepted)",
            "error",
        )
    elif fault == "token_use":
        yield (
            ("zone", "tokens_without_audience"),
            "the sample token has no aud, and one without is accepted only with token_use "
            "access (an Amazon Cognito access token): give an access token",
            "error",
        )


def _type(
    header: dict[str, Any], payload: dict[str, Any], config: ServeConfig
) -> Iterator[_Problem]:
    typ = header.get("typ")
    accepted = {media_type(t) for t in config.zone.accepted_token_types}
    if "typ" not in header:
        if not config.zone.allow_untyped_tokens:
            yield (
                ("zone", "allow_untyped_tokens"),
                "the sample token has no typ header (Okta, Cognito); set zone.allow_untyped_tokens",
                "error",
            )
    elif not isinstance(typ, str):
        yield ("zone",), "the sample token's typ header is not a string", "error"
    elif media_type(typ) not in accepted:
        yield (
            ("zone", "accepted_token_types"),
            f"the sample token's typ is {typ!r}; add it to zone.accepted_token_types",
            "error",
        )
    # Only a typ other than at+jwt leaves the claims to tell an ID token (as the verifier).
    marker = looks_like_id_token(payload)
    if marker is not None and not (isinstance(typ, str) and media_type(typ) == AT_JWT_MEDIA_TYPE):
        yield (
            ("zone",),
            f"the sample token is an ID token (its {marker} claim), not an access token: "
            "give an access token",
            "error",
        )


def _scopes(payload: dict[str, Any], config: ServeConfig) -> Iterator[_Problem]:
    zone = config.zone
    try:
        read = set(read_scopes(payload, zone.scope_claims, zone.scope_prefix or ""))
    except TokenError as exc:
        yield ("zone", "scope_claims"), f"the sample token is refused: {exc.message}", "error"
        return
    needs = [(("zone", "required_scopes"), zone.required_scopes, "every call", "error")]
    needs += [
        (("tools", index, "scopes"), tool.scopes, "calls of this tool", "warning")
        for index, tool in enumerate(config.tools)
    ]
    for path, scopes, who, severity in needs:
        missing = [scope for scope in scopes if scope not in read]
        if not missing:
            continue
        has = " ".join(sorted(read)) or "no scopes"
        message = f"the sample token lacks {' '.join(missing)} (read: {has}); {who} would get 403"
        elsewhere = [n for n in _OTHER_SCOPE_CLAIMS if n not in zone.scope_claims and n in payload]
        unread = [n for n in elsewhere if set(missing) <= set(read_scopes(payload, (n,)))]
        if unread:
            message += (
                f"; they are in {unread[0]!r}, which is not read: add it to zone.scope_claims "
                "if those rights (not consented scopes) should count"
            )
        yield path, message, severity
