"""``/authorize``: the authorization-code front channel, with PKCE S256 and one-click consent.

Errors that make the client or its redirect URI untrustworthy are shown as a page; every
other error goes back to the client's redirect URI (RFC 6749 §4.1.2.1), always with ``iss``
(RFC 9207) so a client can tell which server answered.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ._authority import Authority, AuthorizationRequest, Grant
from ._clients import GRANT_AUTHORIZATION_CODE, RegisteredClient
from ._oauth import OAuthError, Params, parse_scope, read_form
from ._pages import consent_page, error_page

__all__ = ["AuthorizationEndpoint"]

# base64url(SHA-256(verifier)) without padding is always 43 characters.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class AuthorizationEndpoint:
    """GET validates and either approves at once or shows consent; POST answers consent."""

    def __init__(self, authority: Authority) -> None:
        self._authority = authority

    async def get(self, request: Request) -> Response:
        try:
            params = Params(request.query_params.multi_items())
            client = self._client(params)
            redirect_uri = self._redirect_uri(params, client)
        except OAuthError as exc:
            return error_page(exc.description)
        state = params.get("state")
        try:
            authorization = self._validate(params, client, redirect_uri, state)
        except OAuthError as exc:
            return self._redirect(
                redirect_uri, state, error=exc.error, error_description=exc.description
            )
        if self._authority.settings.auto_approve:
            return self._approve(authorization, status=302)
        ticket = secrets.token_urlsafe(24)
        self._authority.consents.put(ticket, authorization)
        grant = authorization.grant
        return consent_page(
            ticket=ticket,
            client=client.display_name,
            user=grant.user,
            resource=grant.resource,
            scopes=grant.scopes,
        )

    async def post(self, request: Request) -> Response:
        try:
            params = await read_form(request)
            ticket = params.require("consent")
        except OAuthError as exc:
            return error_page(exc.description)
        authorization = self._authority.consents.take(ticket)
        if authorization is None:
            return error_page("This consent request has expired or was already answered.")
        if params.get("decision") == "approve":
            return self._approve(authorization, status=303)
        return self._redirect(
            authorization.redirect_uri,
            authorization.state,
            status=303,
            error="access_denied",
            error_description="the user denied the request",
        )

    def _client(self, params: Params) -> RegisteredClient:
        client = self._authority.clients.get(params.require("client_id"))
        if client is None:
            raise OAuthError("invalid_request", "unknown client_id")
        return client

    def _redirect_uri(self, params: Params, client: RegisteredClient) -> str:
        redirect_uri = params.require("redirect_uri")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is not registered for this client")
        return redirect_uri

    def _validate(
        self, params: Params, client: RegisteredClient, redirect_uri: str, state: str | None
    ) -> AuthorizationRequest:
        response_type = params.require("response_type")
        if response_type != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        if GRANT_AUTHORIZATION_CODE not in client.grant_types:
            raise OAuthError("unauthorized_client", "client may not use authorization_code")
        challenge = params.get("code_challenge")
        if challenge is None:
            raise OAuthError("invalid_request", "PKCE is required: send code_challenge (S256)")
        if params.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        if not _S256_CHALLENGE.fullmatch(challenge):
            raise OAuthError("invalid_request", "code_challenge is not a base64url SHA-256 value")
        resource = self._authority.resolve_resource(
            params.getlist("resource"), default=self._authority.settings.default_resource
        )
        grant = Grant(
            user=self._authority.settings.user,
            client_id=client.client_id,
            resource=resource,
            scopes=parse_scope(params.get("scope") or client.scope),
        )
        return AuthorizationRequest(grant, redirect_uri, challenge, state)

    def _approve(self, authorization: AuthorizationRequest, *, status: int) -> Response:
        code = secrets.token_urlsafe(32)
        self._authority.codes.put(code, authorization)
        return self._redirect(authorization.redirect_uri, authorization.state, status, code=code)

    def _redirect(
        self, redirect_uri: str, state: str | None, status: int = 302, **values: str
    ) -> Response:
        if state is not None:
            values["state"] = state
        values["iss"] = self._authority.settings.issuer
        parts = urlsplit(redirect_uri)
        query = "&".join(filter(None, [parts.query, urlencode(values)]))
        return RedirectResponse(
            urlunsplit(parts._replace(query=query)),
            status_code=status,
            headers={"Cache-Control": "no-store"},
        )
