"""Client authentication at the token endpoint (RFC 6749 §2.3).

Confidential clients may use ``client_secret_basic`` or ``client_secret_post`` whichever they
registered, which spares developers a class of "wrong auth method" failures a development zone
has no reason to produce; public clients send only their ``client_id``.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from starlette.requests import Request

from ._clients import ClientRegistry, RegisteredClient
from ._oauth import OAuthError, Params

__all__ = ["authenticate_client"]


def authenticate_client(
    request: Request, params: Params, clients: ClientRegistry
) -> RegisteredClient:
    """The client the request authenticates as; ``invalid_client`` (401) otherwise."""
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
    client = clients.get(client_id)
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
