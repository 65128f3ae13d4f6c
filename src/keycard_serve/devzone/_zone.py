"""``DevZone``: the public face of the development authorization server."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from .._protocol import AUTHORIZATION_CODE_GRANT
from .._sockets import listen
from ..errors import ConfigurationError
from ._app import build_app
from ._authority import Access, Authority, Policy, ZoneSettings
from ._clients import ClientRegistry, RegisteredClient
from ._keys import SigningKey
from ._loopback import is_https_or_loopback_url, require_loopback_host, url_host
from ._oauth import BANNER, OAuthError, log, parse_scope
from ._state import ensure_state_dir

__all__ = ["DevZone"]

# The client_id of tokens minted offline (``keycard-serve token``).
_CLI_CLIENT_ID = "keycard-serve-dev-cli"


class DevZone:
    """An OAuth authorization server for development, inside the launcher's own process.

    It signs everyone in as ``user``, keeps its key and clients in ``state_dir`` (created
    0700), and only ever listens on loopback, at ``issuer`` ``http://127.0.0.1:<port>``: a
    development zone, not for production. ``default_resource`` is the RFC 8707 resource of
    requests that name none; ``scopes`` are advertised in its metadata.

    Raises ``ConfigurationError`` for a port outside 1-65535, an empty user, a default
    resource that is not https (http only on loopback) or has a fragment, malformed scopes,
    or a state directory that cannot be created.

    ``_host`` (a loopback name) and ``_policy`` are for tests; the launcher keeps the defaults.
    """

    def __init__(
        self,
        *,
        port: int,
        state_dir: Path,
        user: str = "alice",
        default_resource: str | None = None,
        scopes: Sequence[str] = (),
        _host: str = "127.0.0.1",
        _policy: Policy | None = None,
    ) -> None:
        policy = _policy or Policy()
        self.host = require_loopback_host(_host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigurationError(f"dev zone port must be 1-65535, not {port!r}")
        _check_user(user)
        _check_ttl(policy.token_ttl)
        if default_resource is not None and not is_https_or_loopback_url(default_resource):
            raise ConfigurationError(
                f"default_resource {default_resource!r} must be an absolute https URI "
                "(http only on loopback) without a fragment"
            )
        self.port = port
        self.issuer = f"http://{url_host(self.host)}:{port}"
        self.state_dir = ensure_state_dir(state_dir)
        settings = ZoneSettings(
            issuer=self.issuer,
            user=user,
            default_resource=default_resource,
            scopes=_scopes(scopes),
            policy=policy,
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
        """The ``kid`` of the zone's signing key (its RFC 7638 thumbprint)."""
        return self._authority.key.kid

    def register_client(
        self,
        *,
        redirect_uris: Sequence[str] = (),
        grant_types: Sequence[str] = (AUTHORIZATION_CODE_GRANT,),
        token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 - a method name
        client_name: str | None = None,
        scope: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> RegisteredClient:
        """Pre-register (or replace) a client with the rules of ``/register`` (RFC 7591), and
        persist it; a confidential client without ``client_secret`` gets a fresh one.

        Raises ``ConfigurationError`` naming the metadata that is wrong, or for the reserved
        id of the MCP server's own client.
        """
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
        client_id: str = _CLI_CLIENT_ID,
        ttl: int | None = None,
    ) -> str:
        """An RFC 9068 access token as the running zone would issue it, minted offline with the
        same key: ``sub`` ``user``, ``aud`` ``resource``, valid ``ttl`` seconds (default: the
        zone's token lifetime, 3600).

        Raises ``ConfigurationError`` for an empty user, a ttl that is not a positive integer,
        or a resource that is not https (http only on loopback).
        """
        _check_user(user)
        if ttl is not None:
            _check_ttl(ttl)
        if not is_https_or_loopback_url(resource):
            raise ConfigurationError(f"resource {resource!r} is not an acceptable resource URI")
        access = Access(user=user, client_id=client_id, resource=resource, scopes=_scopes(scopes))
        log.info("minted access token offline: sub=%s aud=%s client=%s", user, resource, client_id)
        return self._authority.mint(access, ttl=ttl)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[DevZone]:
        """Serve on host:port in this event loop until the block exits.

        Raises ``OSError`` (its message naming the development zone) if the port is taken.
        """
        sock = self._bind()
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve_quietly(sock), name=f"devzone {self.issuer}")
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
    """uvicorn without its signal handlers: the host process owns Ctrl+C and SIGTERM.

    Nor its lifecycle lines: "Started server process [pid]" and "Shutting down" would be
    printed again by the MCP server of the same process. Its warnings and errors still show.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve_quietly(self, sock: socket.socket) -> None:
        _LIFECYCLE.add_to(logging.getLogger("uvicorn.error"))
        _embedded.set(True)  # in this task (and the connections it starts) only
        await self.serve(sockets=[sock])


_embedded: contextvars.ContextVar[bool] = contextvars.ContextVar("devzone_embedded", default=False)


class _QuietLifecycle(logging.Filter):
    """Drops uvicorn's info lines logged from the embedded server's task."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not _embedded.get()

    def add_to(self, logger: logging.Logger) -> None:
        if self not in logger.filters:
            logger.addFilter(self)


_LIFECYCLE = _QuietLifecycle()


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
