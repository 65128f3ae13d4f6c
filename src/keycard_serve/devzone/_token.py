"""``/token``: authorization_code, refresh_token, client_credentials and token exchange."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from ._authority import Authority, Grant
from ._clientauth import authenticate_client
from ._clients import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
    RegisteredClient,
)
from ._exchange import exchange_token
from ._oauth import OAuthError, Params, parse_scope, read_form

__all__ = ["TokenEndpoint"]

# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")

_GrantHandler = Callable[[RegisteredClient, Params], Response]


class TokenEndpoint:
    """Authenticates the client, checks it may use the grant type, and runs the grant."""

    def __init__(self, authority: Authority) -> None:
        self._authority = authority
        self._grants: dict[str, _GrantHandler] = {
            GRANT_AUTHORIZATION_CODE: self._authorization_code,
            GRANT_REFRESH_TOKEN: self._refresh_token,
            GRANT_CLIENT_CREDENTIALS: self._client_credentials,
            GRANT_TOKEN_EXCHANGE: partial(exchange_token, authority),
        }

    async def __call__(self, request: Request) -> Response:
        params = await read_form(request)
        grant_type = params.require("grant_type")
        handler = self._grants.get(grant_type)
        if handler is None:
            raise OAuthError(
                "unsupported_grant_type", f"grant_type {grant_type!r} is not supported"
            )
        client = authenticate_client(request, params, self._authority.clients)
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client", f"client may not use grant_type {grant_type}")
        return handler(client, params)

    def _authorization_code(self, client: RegisteredClient, params: Params) -> Response:
        # Taken before any check: a code presented once, rightly or not, is spent.
        authorization = self._authority.codes.take(params.require("code"))
        if authorization is None or authorization.grant.client_id != client.client_id:
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
        grant = authorization.grant
        _check_bound_resource(params, grant)
        refresh = grant if GRANT_REFRESH_TOKEN in client.grant_types else None
        return self._authority.token_response(
            grant, grant_type=GRANT_AUTHORIZATION_CODE, refresh=refresh
        )

    def _refresh_token(self, client: RegisteredClient, params: Params) -> Response:
        # Rotation: the presented token is consumed whatever happens next (RFC 9700 §4.14.2).
        grant = self._authority.refresh_tokens.take(params.require("refresh_token"))
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant", "unknown, expired or already used refresh token")
        _check_bound_resource(params, grant)
        scopes = parse_scope(params.get("scope")) or grant.scopes
        if not set(scopes) <= set(grant.scopes):
            raise OAuthError("invalid_scope", "a refresh may narrow the scope, never widen it")
        return self._authority.token_response(
            replace(grant, scopes=scopes), grant_type=GRANT_REFRESH_TOKEN, refresh=grant
        )

    def _client_credentials(self, client: RegisteredClient, params: Params) -> Response:
        resource = self._authority.resolve_resource(
            params.getlist("resource"), default=self._authority.settings.default_resource
        )
        grant = Grant(
            user=client.client_id,
            client_id=client.client_id,
            resource=resource,
            scopes=parse_scope(params.get("scope") or client.scope),
        )
        return self._authority.token_response(grant, grant_type=GRANT_CLIENT_CREDENTIALS)


def _check_bound_resource(params: Params, grant: Grant) -> None:
    """A code or refresh token serves the one resource it was issued for (RFC 8707 §2.2)."""
    resources = params.getlist("resource")
    if resources and resources != [grant.resource]:
        raise OAuthError("invalid_target", f"this grant is bound to resource {grant.resource!r}")
