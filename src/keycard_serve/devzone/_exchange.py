"""RFC 8693 token exchange: the MCP server trades a user's token for one aimed at a resource.

The new token keeps the user as ``sub`` and names the exchanging client in ``act`` (RFC 8693
§4.1), nesting any ``act`` the subject token already carried so delegation chains stay visible.
"""

from __future__ import annotations

from typing import Any

import jwt
from starlette.responses import Response

from ._authority import Authority, Grant
from ._clients import GRANT_TOKEN_EXCHANGE, RegisteredClient
from ._oauth import OAuthError, Params, parse_scope

__all__ = ["ACCESS_TOKEN_TYPE", "exchange_token"]

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def exchange_token(authority: Authority, client: RegisteredClient, params: Params) -> Response:
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
    policy = authority.settings.scope_policy
    if policy is not None and not policy(client.client_id, resource, scopes):
        raise OAuthError("invalid_scope", f"scope {' '.join(scopes)!r} is not allowed here")
    act: dict[str, Any] = {"sub": client.client_id}
    if isinstance(subject.get("act"), dict):
        act["act"] = subject["act"]
    grant = Grant(
        user=str(subject["sub"]), client_id=client.client_id, resource=resource, scopes=scopes
    )
    return authority.token_response(
        grant,
        grant_type=GRANT_TOKEN_EXCHANGE,
        act=act,
        extra={"issued_token_type": ACCESS_TOKEN_TYPE},
    )
