"""``POST /token``: client authentication, then authorization_code, refresh_token,
client_credentials or RFC 8693 token exchange.

Clients authenticate as RFC 6749 section 2.3 says. Confidential clients may use
``client_secret_basic`` or ``client_secret_post`` whichever they registered, which spares
developers a class of "wrong auth method" failures a development zone has no reason to
produce; public clients send only their ``client_id``.

A token exchange keeps the user as ``sub`` and names the exchanging client in ``act``
(RFC 8693 section 4.1), nesting any ``act`` the subject token already carried so delegation
chains stay visible.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

import jwt
from starlette.requests import Request
from starlette.responses import Response

from .._protocol import (
    ACCESS_TOKEN_TYPE,
    AUTHORIZATION_CODE_GRANT,
    CLIENT_CREDENTIALS_GRANT,
    REFRESH_TOKEN_GRANT,
    TOKEN_EXCHANGE_GRANT,
)
from ._authority import Access, Authority
from ._clients import RegisteredClient
from ._oauth import OAuthError, Params, parse_scope, read_form

__all__ = ["TokenEndpoint"]

# RFC 7636 section 4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")

_GrantHandler = Callable[[RegisteredClient, Params], Response]


class TokenEndpoint:
    """Authenticates the client, checks it may use the grant type, and runs the grant.

    Every refusal is an ``OAuthError`` (RFC 6749 section 5.2; ``invalid_target`` from
    RFC 8707), answered as JSON by the route.
    """

    def __init__(self, authority: Authority) -> None:
        self._authority = authority
        self._grants: dict[str, _GrantHandler] = {
            AUTHORIZATION_CODE_GRANT: self._authorization_code,
            REFRESH_TOKEN_GRANT: self._refresh_token,
            CLIENT_CREDENTIALS_GRANT: self._client_credentials,
            TOKEN_EXCHANGE_GRANT: self._token_exchange,
        }

    async def __call__(self, request: Request) -> Response:
        params = await read_form(request)
        grant_type = params.require("grant_type")
        handler = self._grants.get(grant_type)
        if handler is None:
            raise OAuthError(
                "unsupported_grant_type", f"grant_type {grant_type!r} is not supported"
            )
        client = await _authenticate_client(request, params, self._authority)
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client", f"client may not use grant_type {grant_type}")
        return handler(client, params)

    def _authorization_code(self, client: RegisteredClient, params: Params) -> Response:
        # Taken before any check: a code presented once, rightly or not, is spent.
        authorization = self._authority.codes.take(params.require("code"))
        if authorization is None or authorization.access.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown, expired or already used code")
        if params.get("redirect_uri") != authorization.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization")
        verifier = params.require("code_verifier")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if not _VERIFIER.match(verifier) or not secrets.compare_digest(
            challenge, authorization.code_challenge
        ):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        access = authorization.access
        _check_bound_resource(params, access)
        refresh = access if REFRESH_TOKEN_GRANT in client.grant_types else None
        return self._authority.token_response(
            access, grant_type=AUTHORIZATION_CODE_GRANT, refresh=refresh
        )

    def _refresh_token(self, client: RegisteredClient, params: Params) -> Response:
        # Rotation: the presented token is consumed whatever happens next (RFC 9700 §4.14.2).
        access = self._authority.refresh_tokens.take(params.require("refresh_token"))
        if access is None or access.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown, expired or already used refresh token")
        _check_bound_resource(params, access)
        scopes = parse_scope(params.get("scope")) or access.scopes
        if not set(scopes) <= set(access.scopes):
            raise OAuthError("invalid_scope", "a refresh may narrow the scope, never widen it")
        return self._authority.token_response(
            replace(access, scopes=scopes), grant_type=REFRESH_TOKEN_GRANT, refresh=access
        )

    def _client_credentials(self, client: RegisteredClient, params: Params) -> Response:
        resource = self._authority.resolve_resource(
            params.getlist("resource"), default=self._authority.settings.default_resource
        )
        access = Access(
            user=client.client_id,
            client_id=client.client_id,
            resource=resource,
            scopes=parse_scope(params.get("scope") or client.scope),
        )
        return self._authority.token_response(access, grant_type=CLIENT_CREDENTIALS_GRANT)

    def _token_exchange(self, client: RegisteredClient, params: Params) -> Response:
        """RFC 8693 section 2: trade one of the zone's access tokens for one aimed at
        ``resource``, for the same user, acted on by ``client``."""
        authority = self._authority
        if params.require("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise OAuthError("invalid_request", f"subject_token_type must be {ACCESS_TOKEN_TYPE}")
        if params.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
            raise OAuthError("invalid_request", f"requested_token_type must be {ACCESS_TOKEN_TYPE}")
        if params.get("actor_token") is not None or params.get("actor_token_type") is not None:
            raise OAuthError("invalid_request", "actor tokens are not supported")
        subject_token = params.require("subject_token")
        try:
            subject = authority.key.verify(subject_token, issuer=authority.settings.issuer)
        except jwt.InvalidTokenError as exc:
            # RFC 8693 §2.2.2 names invalid_request for a subject token invalid for any reason.
            raise OAuthError(
                "invalid_request", "subject_token is not a valid access token from this zone"
            ) from exc
        resource = authority.resolve_resource(params.getlist("resource"), default=None)
        audience = params.get("audience")
        if audience is not None and audience != resource:
            raise OAuthError("invalid_target", "audience, when sent, must equal the resource")
        scopes = parse_scope(params.get("scope"))
        scope_policy = authority.settings.policy.scope_policy
        if scope_policy is not None and not scope_policy(client.client_id, resource, scopes):
            raise OAuthError("invalid_scope", f"scope {' '.join(scopes)!r} is not allowed here")
        act: dict[str, Any] = {"sub": client.client_id}
        if isinstance(subject.get("act"), dict):
            act["act"] = subject["act"]
        access = Access(
            user=str(subject["sub"]), client_id=client.client_id, resource=resource, scopes=scopes
        )
        return authority.token_response(
            access,
            grant_type=TOKEN_EXCHANGE_GRANT,
            act=act,
            extra={"issued_token_type": ACCESS_TOKEN_TYPE},
        )


def _check_bound_resource(params: Params, access: Access) -> None:
    """A code or refresh token serves the one resource it was issued for (RFC 8707 §2.2)."""
    resources = params.getlist("resource")
    if resources and resources != [access.resource]:
        raise OAuthError("invalid_target", f"this grant is bound to resource {access.resource!r}")


async def _authenticate_client(
    request: Request, params: Params, authority: Authority
) -> RegisteredClient:
    """The client the request authenticates as (RFC 6749 section 2.3).

    Raises ``OAuthError`` ``invalid_client`` (401, with a Basic challenge) for missing or wrong
    credentials, ``invalid_request`` (400) for two methods at once or ids that disagree.
    """
    header = request.headers.get("authorization")
    client_id, secret = params.get("client_id"), params.get("client_secret")
    if header is not None:
        if secret is not None:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        basic_id, secret = _parse_basic(header)
        if client_id is not None and client_id != basic_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
        client_id = basic_id
    if client_id is None:
        raise OAuthError("invalid_client", "client authentication is required", status=401)
    client = await authority.client(client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client", status=401)
    if client.is_public:
        if secret is not None:
            raise OAuthError("invalid_client", "a public client has no secret", status=401)
    elif secret is None or not client.check_secret(secret):
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    return client


def _parse_basic(header: str) -> tuple[str, str]:
    """Id and secret from ``Basic``, each form-urlencoded before base64 (RFC 6749 §2.3.1)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "only Basic client authentication is supported", 401)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "malformed Basic credentials", status=401) from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise OAuthError("invalid_client", "malformed Basic credentials", status=401)
    return unquote_plus(client_id), unquote_plus(secret)
