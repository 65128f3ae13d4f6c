"""``DevZone``: the public face of the development authorization server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from .._sockets import listen
from ..errors import ConfigurationError
from ._app import build_app
from ._authority import Authority, Grant, ScopePolicy, ZoneSettings
from ._clients import GRANT_AUTHORIZATION_CODE, ClientRegistry, RegisteredClient
from ._keys import SigningKey
from ._log import BANNER, log
from ._loopback import is_https_or_loopback_url, require_loopback_host, url_host
from ._oauth import OAuthError, parse_scope
from ._state import ensure_state_dir

__all__ = ["DevZone"]

DEFAULT_CLI_CLIENT_ID = "keycard-serve-dev-cli"


class DevZone:
    """An OAuth authorization server for development, inside the launcher's own process.

    It signs everyone in as one configured user, keeps its key and clients in ``state_dir``,
    and only ever listens on loopback — a development zone, not for production.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int,
        state_dir: Path,
        user: str = "alice",
        auto_approve: bool = True,
        default_resource: str | None = None,
        token_ttl: int = 3600,
        denied_resources: Sequence[str] = (),
        scopes: Sequence[str] = (),
        scope_policy: ScopePolicy | None = None,
    ) -> None:
        self.host = require_loopback_host(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigurationError(f"dev zone port must be 1-65535, not {port!r}")
        _check_user(user)
        _check_ttl(token_ttl)
        if default_resource is not None and not is_https_or_loopback_url(default_resource):
            raise ConfigurationError(
                f"default_resource {default_resource!r} must be an absolute https URI "
                "(http only on loopback) without a fragment"
            )
        if isinstance(denied_resources, str):
            raise ConfigurationError("denied_resources must be a sequence of URIs, not one string")
        self.port = port
        self.issuer = f"http://{url_host(self.host)}:{port}"
        self.state_dir = ensure_state_dir(state_dir)
        settings = ZoneSettings(
            issuer=self.issuer,
            user=user,
            auto_approve=auto_approve,
            default_resource=default_resource,
            token_ttl=token_ttl,
            denied_resources=frozenset(denied_resources),
            scopes=_scopes(scopes),
            scope_policy=scope_policy,
        )
        self._authority = Authority(
            settings, SigningKey.load_or_create(self.state_dir), ClientRegistry(self.state_dir)
        )
        self.app: Starlette = build_app(self._authority)

    def __repr__(self) -> str:
        return (
            f"DevZone(issuer={self.issuer!r}, user={self._authority.settings.user!r}, "
            f"state_dir={str(self.state_dir)!r})"
        )

    @property
    def server_client(self) -> tuple[str, str]:
        """(client_id, client_secret) of the MCP server's own client, allowed token exchange."""
        client = self._authority.clients.server_client
        assert client.client_secret is not None  # a confidential client by construction
        return client.client_id, client.client_secret

    @property
    def kid(self) -> str:
        return self._authority.key.kid

    def register_client(
        self,
        *,
        redirect_uris: Sequence[str] = (),
        grant_types: Sequence[str] = (GRANT_AUTHORIZATION_CODE,),
        token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 - a method name
        client_name: str | None = None,
        scope: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> RegisteredClient:
        """Pre-register (or replace) a client with the rules of ``/register``, and persist it."""
        metadata = {
            "redirect_uris": list(redirect_uris),
            "grant_types": list(grant_types),
            "token_endpoint_auth_method": token_endpoint_auth_method,
            "client_name": client_name,
            "scope": scope,
        }
        try:
            client = RegisteredClient.from_metadata(
                metadata, client_id=client_id, client_secret=client_secret
            )
        except OAuthError as exc:
            raise ConfigurationError(f"cannot register dev zone client: {exc}") from exc
        return self._authority.clients.register(client)

    def mint_access_token(
        self,
        *,
        user: str,
        resource: str,
        scopes: Sequence[str] = (),
        client_id: str = DEFAULT_CLI_CLIENT_ID,
        ttl: int | None = None,
    ) -> str:
        """A token as the running zone would issue it, minted offline with the same key."""
        _check_user(user)
        if ttl is not None:
            _check_ttl(ttl)
        if not is_https_or_loopback_url(resource):
            raise ConfigurationError(f"resource {resource!r} is not an acceptable resource URI")
        grant = Grant(user=user, client_id=client_id, resource=resource, scopes=_scopes(scopes))
        log.info("minted access token offline: sub=%s aud=%s client=%s", user, resource, client_id)
        return self._authority.mint(grant, ttl=ttl)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[DevZone]:
        """Serve on host:port in this event loop until the block exits."""
        sock = self._bind()
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"devzone {self.issuer}")
        try:
            while not server.started:
                if task.done():
                    task.result()  # re-raises why it stopped
                    raise RuntimeError("the development zone stopped while starting")
                await asyncio.sleep(0.01)
            log.warning(
                "serving %s, signing everyone in as %r", self.issuer, self._authority.settings.user
            )
            yield self
        finally:
            server.should_exit = True
            await task
            sock.close()

    def _bind(self) -> socket.socket:
        try:
            return listen(self.host, self.port)
        except OSError as exc:
            raise OSError(exc.errno, f"{BANNER}: {exc.strerror}") from None


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process owns Ctrl+C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _check_user(user: str) -> None:
    if not isinstance(user, str) or not user.strip():
        raise ConfigurationError("the dev zone user must be a non-empty string")


def _check_ttl(ttl: int) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ConfigurationError(f"token ttl must be a positive number of seconds, not {ttl!r}")


def _scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        raise ConfigurationError("scopes must be a sequence of scope strings, not one string")
    try:
        return parse_scope(" ".join(scopes))
    except OAuthError as exc:
        raise ConfigurationError(exc.description) from exc
