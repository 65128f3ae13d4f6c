"""``/authorize``: the authorization-code front channel, with PKCE S256 and one-click consent,
and the zone's few HTML pages.

Errors that make the client or its redirect URI untrustworthy are shown as a page; every
other error goes back to the client's redirect URI (RFC 6749 §4.1.2.1), always with ``iss``
(RFC 9207) so a client can tell which server answered. Every page says, first, that this is
a development zone.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from html import escape
from urllib.parse import urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .._protocol import AUTHORIZATION_CODE_GRANT
from ._authority import Access, Authority, AuthorizationRequest
from ._clients import RegisteredClient
from ._oauth import BANNER, OAuthError, Params, parse_scope, read_form

__all__ = ["AuthorizationEndpoint", "index_page"]

# base64url(SHA-256(verifier)) without padding is always 43 characters.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # No form-action: browsers apply it to the redirect after Approve, which leaves this origin.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    # Not no-referrer: under it browsers send "Origin: null" with the consent form's POST,
    # which the zone's Origin rule refuses. same-origin still sends nothing to the client.
    "Referrer-Policy": "same-origin",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}"
    ".banner{background:#fde68a;border:1px solid #b45309;padding:.5rem 1rem;font-weight:bold}"
    "dt{font-weight:bold;margin-top:.5rem}button{font-size:1rem;padding:.4rem 1.2rem}"
)


class AuthorizationEndpoint:
    """``GET /authorize`` validates (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2) and either
    approves at once or shows consent; ``POST /authorize`` answers the consent page."""

    def __init__(self, authority: Authority) -> None:
        self._authority = authority

    async def get(self, request: Request) -> Response:
        """A 302 to the redirect URI (a code, or an error), a consent page, or an error page."""
        try:
            params = Params(request.query_params.multi_items())
            client = await self._client(params)
            redirect_uri = self._redirect_uri(params, client)
        except OAuthError as exc:
            return _error_page(exc.description)
        state = params.get("state")
        try:
            authorization = self._validate(params, client, redirect_uri, state)
        except OAuthError as exc:
            return self._redirect(
                redirect_uri, state, error=exc.error, error_description=exc.description
            )
        if self._authority.settings.policy.auto_approve:
            return self._approve(authorization, status=302)
        ticket = secrets.token_urlsafe(24)
        self._authority.consents.put(ticket, authorization)
        access = authorization.access
        return _consent_page(
            ticket=ticket,
            client=client.display_name,
            user=access.user,
            resource=access.resource,
            scopes=access.scopes,
        )

    async def post(self, request: Request) -> Response:
        """A 303 to the redirect URI with a code or ``access_denied``, or an error page."""
        try:
            params = await read_form(request)
            ticket = params.require("consent")
        except OAuthError as exc:
            return _error_page(exc.description)
        authorization = self._authority.consents.take(ticket)
        if authorization is None:
            return _error_page("This consent request has expired or was already answered.")
        if params.get("decision") == "approve":
            return self._approve(authorization, status=303)
        return self._redirect(
            authorization.redirect_uri,
            authorization.state,
            status=303,
            error="access_denied",
            error_description="the user denied the request",
        )

    async def _client(self, params: Params) -> RegisteredClient:
        client = await self._authority.client(params.require("client_id"))
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
        if AUTHORIZATION_CODE_GRANT not in client.grant_types:
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
        access = Access(
            user=self._authority.settings.user,
            client_id=client.client_id,
            resource=resource,
            scopes=parse_scope(params.get("scope") or client.scope),
        )
        return AuthorizationRequest(access, redirect_uri, challenge, state)

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


def _consent_page(
    *, ticket: str, client: str, user: str, resource: str, scopes: Sequence[str]
) -> HTMLResponse:
    scope_text = " ".join(scopes) or "(none requested)"
    body = (
        f"<p><strong>{escape(client)}</strong> asks to act as <strong>{escape(user)}</strong>.</p>"
        f"<dl><dt>User</dt><dd>{escape(user)}</dd>"
        f"<dt>Client</dt><dd>{escape(client)}</dd>"
        f"<dt>Resource</dt><dd>{escape(resource)}</dd>"
        f"<dt>Scopes</dt><dd>{escape(scope_text)}</dd></dl>"
        '<form method="post" action="/authorize">'
        f'<input type="hidden" name="consent" value="{escape(ticket)}">'
        '<button type="submit" name="decision" value="approve">Approve</button> '
        '<button type="submit" name="decision" value="deny">Deny</button></form>'
    )
    return _page("Authorize access", body)


def _error_page(description: str) -> HTMLResponse:
    """A 400 page for a request that cannot go back to the client (RFC 6749 §4.1.2.1)."""
    return _page("Authorization request refused", f"<p>{escape(description)}</p>", status=400)


def index_page(*, issuer: str, user: str) -> HTMLResponse:
    """The page at ``/``: the issuer, the one user, and where the metadata is."""
    body = (
        f"<p>Issuer <code>{escape(issuer)}</code>, signing everyone in as "
        f"<strong>{escape(user)}</strong>.</p>"
        '<p>Metadata: <a href="/.well-known/oauth-authorization-server">'
        "/.well-known/oauth-authorization-server</a></p>"
    )
    return _page("keycard-serve development zone", body)


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} — {BANNER}</title><style>{_STYLE}</style></head>"
        f'<body><p class="banner">keycard-serve {BANNER}</p><h1>{escape(title)}</h1>'
        f"{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)
