"""OAuth clients: RFC 7591 metadata checked once, kept in the state directory, and the open
``/register`` endpoint (RFC 7591 section 3) that MCP clients expect."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from .._protocol import (
    AUTHORIZATION_CODE_GRANT,
    CLIENT_CREDENTIALS_GRANT,
    REFRESH_TOKEN_GRANT,
    TOKEN_EXCHANGE_GRANT,
)
from ..errors import ConfigurationError
from ._loopback import is_https_or_loopback_url
from ._oauth import OAuthError, json_response, log, read_json
from ._state import write_atomic, write_once

__all__ = [
    "AUTH_METHODS",
    "GRANT_TYPES",
    "ClientRegistry",
    "RegisteredClient",
    "RegistrationEndpoint",
]

# The grant types (RFC 6749 section 4, RFC 8693) and token endpoint authentication methods
# (RFC 7591 section 2) the zone supports, in the order its metadata lists them.
GRANT_TYPES = (
    AUTHORIZATION_CODE_GRANT,
    REFRESH_TOKEN_GRANT,
    CLIENT_CREDENTIALS_GRANT,
    TOKEN_EXCHANGE_GRANT,
)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
_SERVER_CLIENT_ID = "keycard-serve-dev-server"
# A public client cannot authenticate, so it gets only the grants a user drives in a browser.
_PUBLIC_GRANTS = frozenset({AUTHORIZATION_CODE_GRANT, REFRESH_TOKEN_GRANT})
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
# Schemes a browser would execute or read locally instead of handing to an app.
_NEVER_REDIRECT_SCHEMES = frozenset(
    {"http", "https", "javascript", "data", "file", "vbscript", "about", "blob", "ftp", "ws", "wss"}
)
_SERVER_FILE = "server-client.json"
_CLIENTS_FILE = "clients.json"


@dataclass(frozen=True)
class RegisteredClient:
    """One client as the zone registered it; the secret never appears in its repr."""

    client_id: str
    client_secret: str | None = field(repr=False)
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    client_name: str | None = None
    scope: str | None = None
    client_id_issued_at: int = 0  # epoch seconds

    @property
    def is_public(self) -> bool:
        """True for a client that cannot authenticate (auth method ``none``, RFC 7591 §2)."""
        return self.token_endpoint_auth_method == "none"

    @property
    def display_name(self) -> str:
        """``client_name (client_id)``, or the id alone: how the consent page names it."""
        return f"{self.client_name} ({self.client_id})" if self.client_name else self.client_id

    def check_secret(self, secret: str) -> bool:
        """Whether ``secret`` is this client's secret, compared in constant time."""
        if self.client_secret is None:
            return False
        return secrets.compare_digest(secret.encode(), self.client_secret.encode())

    def registration_response(self) -> dict[str, Any]:
        """The RFC 7591 §3.2.1 body: credentials plus the metadata as registered."""
        body: dict[str, Any] = {
            "client_id": self.client_id,
            "client_id_issued_at": self.client_id_issued_at,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(self.grant_types),
            "response_types": ["code"] if AUTHORIZATION_CODE_GRANT in self.grant_types else [],
            "redirect_uris": list(self.redirect_uris),
        }
        if self.client_secret is not None:
            body["client_secret"] = self.client_secret
            body["client_secret_expires_at"] = 0
        if self.client_name is not None:
            body["client_name"] = self.client_name
        if self.scope is not None:
            body["scope"] = self.scope
        return body

    @classmethod
    def from_metadata(
        cls,
        metadata: Mapping[str, Any],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> RegisteredClient:
        """A new client from RFC 7591 section 2 metadata (a JSON object), with a fresh id and,
        unless it is public (auth method ``none``), a fresh secret where none is given.

        Raises ``OAuthError`` ``invalid_client_metadata`` or ``invalid_redirect_uri``
        (RFC 7591 section 3.2.2) naming what is wrong.
        """
        method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
        if method not in AUTH_METHODS:
            raise _bad_metadata(f"token_endpoint_auth_method must be one of {AUTH_METHODS}")
        grant_types = _strings(metadata, "grant_types", default=[AUTHORIZATION_CODE_GRANT])
        unknown = set(grant_types) - set(GRANT_TYPES)
        if unknown or not grant_types:
            raise _bad_metadata(f"grant_types must be a non-empty subset of {GRANT_TYPES}")
        if method == "none" and not _PUBLIC_GRANTS.issuperset(grant_types):
            raise _bad_metadata(
                "a public client (auth method none) may only use authorization_code and "
                "refresh_token"
            )
        if set(_strings(metadata, "response_types", default=["code"])) - {"code"}:
            raise _bad_metadata("the only supported response type is 'code'")
        redirect_uris = _strings(metadata, "redirect_uris", default=[])
        for uri in redirect_uris:
            _check_redirect_uri(uri)
        if AUTHORIZATION_CODE_GRANT in grant_types and not redirect_uris:
            raise OAuthError("invalid_redirect_uri", "authorization_code needs redirect_uris")
        name, scope = metadata.get("client_name"), metadata.get("scope")
        if not isinstance(name, (str, type(None))) or not isinstance(scope, (str, type(None))):
            raise _bad_metadata("client_name and scope must be strings")
        if method != "none" and client_secret is None:
            client_secret = secrets.token_urlsafe(32)
        return cls(
            client_id=client_id or f"dev-{secrets.token_urlsafe(12)}",
            client_secret=None if method == "none" else client_secret,
            token_endpoint_auth_method=method,
            grant_types=tuple(dict.fromkeys(grant_types)),
            redirect_uris=tuple(redirect_uris),
            client_name=name,
            scope=scope,
            client_id_issued_at=int(time.time()),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegisteredClient:
        """A client as stored in the state directory (``dataclasses.asdict`` of one)."""
        return cls(
            **{
                **data,
                "grant_types": tuple(data["grant_types"]),
                "redirect_uris": tuple(data.get("redirect_uris", ())),
            }
        )


class ClientRegistry:
    """Clients by id: the MCP server's own client plus every registered one, persisted."""

    def __init__(self, state_dir: Path) -> None:
        self._path = state_dir / _CLIENTS_FILE
        server = RegisteredClient.from_metadata(
            {
                "client_name": "keycard-serve MCP server (development zone)",
                "grant_types": [TOKEN_EXCHANGE_GRANT, CLIENT_CREDENTIALS_GRANT],
            },
            client_id=_SERVER_CLIENT_ID,
        )
        stored = write_once(state_dir / _SERVER_FILE, _dump([server]))
        self._clients = {client.client_id: client for client in self._load(stored)}
        self.server_client = self._clients[_SERVER_CLIENT_ID]
        if self._path.exists():
            self._clients.update({c.client_id: c for c in self._load(self._path.read_bytes())})

    def __repr__(self) -> str:
        return f"ClientRegistry({len(self._clients)} clients)"

    def get(self, client_id: str) -> RegisteredClient | None:
        """The client with ``client_id``, or None."""
        return self._clients.get(client_id)

    def register(self, client: RegisteredClient) -> RegisteredClient:
        """Add or replace ``client`` and persist; the server's own client cannot be replaced."""
        if client.client_id == _SERVER_CLIENT_ID:
            raise ConfigurationError(f"client id {_SERVER_CLIENT_ID!r} is reserved")
        self._clients[client.client_id] = client
        others = [c for c in self._clients.values() if c.client_id != _SERVER_CLIENT_ID]
        write_atomic(self._path, _dump(others))
        return client

    def _load(self, data: bytes) -> list[RegisteredClient]:
        """Clients from a state file; ``ConfigurationError`` if it cannot be read as one."""
        try:
            return [RegisteredClient.from_json(item) for item in json.loads(data)["clients"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(
                f"dev zone client file in {self._path.parent} is corrupt"
            ) from exc


class RegistrationEndpoint:
    """``POST /register``: open dynamic client registration (RFC 7591 section 3).

    The body must be a JSON object of client metadata; the answer is 201 with the
    section 3.2.1 body, or a section 3.2.2 error.
    """

    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    async def __call__(self, request: Request) -> Response:
        metadata = await read_json(request, error="invalid_client_metadata")
        if not isinstance(metadata, dict):
            raise OAuthError("invalid_client_metadata", "body must be a JSON object")
        client = self._clients.register(RegisteredClient.from_metadata(metadata))
        log.info(
            "registered client %s (%s, %s)",
            client.client_id,
            client.client_name or "unnamed",
            client.token_endpoint_auth_method,
        )
        return json_response(client.registration_response(), status=201)


def _dump(clients: list[RegisteredClient]) -> bytes:
    return json.dumps({"clients": [asdict(c) for c in clients]}, indent=2).encode()


def _strings(metadata: Mapping[str, Any], name: str, *, default: list[str]) -> list[str]:
    value = metadata.get(name, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad_metadata(f"{name} must be an array of strings")
    return value


def _check_redirect_uri(uri: str) -> None:
    if not (is_https_or_loopback_url(uri) or _is_private_use_uri(uri)):
        raise OAuthError(
            "invalid_redirect_uri",
            f"redirect URI {uri!r} must be https, http on 127.0.0.1/localhost/[::1], or an "
            "app's own scheme (cursor://...), without a fragment",
        )


def _is_private_use_uri(uri: str) -> bool:
    """RFC 8252 section 7.1 redirects of native apps, such as Cursor's ``cursor://...``."""
    parts = urlsplit(uri)
    return (
        _PRIVATE_SCHEME.fullmatch(parts.scheme) is not None
        and parts.scheme not in _NEVER_REDIRECT_SCHEMES
        and not parts.fragment
        and bool(parts.netloc or parts.path)
    )


def _bad_metadata(description: str) -> OAuthError:
    return OAuthError("invalid_client_metadata", description)
