"""Build the ASGI app of a loaded config: dev zone, provider, FastMCP server, tools, reloader.

Building is kept apart from serving (``serve.py``: sockets, uvicorn, signals), as uvicorn
keeps ``Config`` apart from ``Server``, so tests and embedders can run the app in process.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.middleware import Middleware

from .. import _metrics
from .._fastmcp_auth import KeycardAuth
from .._version import __version__
from ..config import LoadedConfig
from ..config._provider import build_provider
from ..credentials import ClientSecret
from ..devzone import DevZone
from ._endpoint_alias import EndpointAlias, mount_path
from .dev import dev_zone_for
from .health import health_endpoint, ready_endpoint
from .observe import Observability
from .reload import Reloader
from .runtime import Runtime, Snapshot
from .scope_guard import ToolScopeGuard, ToolScopeMiddleware
from .sessions import SessionTracker
from .tools import ToolRegistry

__all__ = ["Served", "served_app"]


@dataclass(frozen=True)
class Served:
    """A built application, the configuration it serves, and how to reload it; ``mcp`` is
    the FastMCP server inside ``app``."""

    app: Starlette
    runtime: Runtime
    reloader: Reloader
    dev_zone: DevZone | None
    observability: Observability
    mcp: FastMCP

    @property
    def mcp_url(self) -> str:
        """The MCP endpoint URL of the configuration being served."""
        return self.runtime.current.loaded.config.server.mcp_url


@contextlib.asynccontextmanager
async def served_app(
    loaded: LoadedConfig,
    *,
    request_restart: Callable[[str], None] | None = None,
    read: Callable[[Path], LoadedConfig] | None = None,
) -> AsyncIterator[Served]:
    """The ASGI app of ``loaded``, with its dev zone running for as long as the block lasts.

    ``loaded`` must have its tools imported (``import_tools``). ``request_restart(reason)`` is
    called when a reload cannot be applied in this process (an adopted app's module changed);
    without it such a reload is reported as needing a manual restart. ``read(path)`` reads the
    file again on reload (``Reloader``). The provider (and the dev zone) are closed when the
    block ends.

    Only what the config asks for sits on the path of each call: the session tracker (for
    ``tools/list_changed``) where clients keep sessions, the observers only with metrics or an
    audit log (``Observability``); the scope checks always, as a reload can give a tool scopes.
    """
    async with contextlib.AsyncExitStack() as stack:
        dev_zone = None
        zone_url, credential = None, None
        if loaded.config.zone.dev is not None:
            dev_zone = await stack.enter_async_context(dev_zone_for(loaded).serve())
            zone_url, credential = dev_zone.issuer, ClientSecret(dev_zone.server_client)
        observability = Observability(loaded.config.observability)
        stack.callback(observability.close)
        provider = build_provider(loaded, zone_url=zone_url, credential=credential)
        stack.push_async_callback(provider.aclose)
        runtime = Runtime(Snapshot.of(loaded, provider))
        auth = provider.get_remote_auth_provider()
        sessions = SessionTracker()
        server = loaded.config.server
        mcp = loaded.app or FastMCP(server.name, version=server.version or __version__)
        mcp.auth = auth
        if server.keeps_sessions:  # a change of server.stateless waits for a restart
            mcp.add_middleware(sessions)
        mcp.add_middleware(
            ToolScopeMiddleware(
                lambda name: runtime.current.scopes(name),
                lambda: runtime.current.loaded.config.server.list_tools == "permitted",
                observability.scope_refused,
            )
        )
        for middleware in observability.tool_middleware():
            mcp.add_middleware(middleware)
        registry = ToolRegistry(mcp, runtime)
        if loaded.app is not None:
            await registry.adopt()
        registry.reconcile(loaded)
        reloader = Reloader(
            loaded,
            runtime,
            auth,
            registry,
            # A rebuilt provider keeps the running dev zone (if any) as its zone.
            new_provider=lambda new: build_provider(new, zone_url=zone_url, credential=credential),
            announce=sessions.announce_tool_list_changed,
            request_restart=request_restart,
            read=read,
        )
        mcp.custom_route("/healthz", methods=["GET"])(health_endpoint(reloader.status))
        mcp.custom_route("/readyz", methods=["GET"])(
            ready_endpoint(lambda: runtime.current.provider.ready())
        )
        _metrics.record_config_loaded(reloader.status.loaded_at)
        app = mcp.http_app(
            path=mount_path(server.mcp_url),
            transport="sse" if server.transport == "sse" else "http",
            stateless_http=server.stateless,
            middleware=_http_middleware(runtime, auth, observability),
        )
        yield Served(app, runtime, reloader, dev_zone, observability, mcp)


def _http_middleware(
    runtime: Runtime, auth: KeycardAuth, observability: Observability
) -> list[Middleware]:
    """The endpoint's slash variant without a redirect, the request observer (with an audit
    log), then per-tool inbound scopes as HTTP 403 ``insufficient_scope`` (RFC 6750 section
    3.1)."""
    path = mount_path(runtime.current.loaded.config.server.mcp_url)
    return [
        Middleware(EndpointAlias, path=path),
        *observability.http_middleware(),
        Middleware(
            ToolScopeGuard,
            path=path,
            required_scopes=lambda name: runtime.current.scopes(name),
            challenge=auth.insufficient_scope_challenge,
            active=lambda: runtime.current.scoped,
            on_refused=observability.scope_refused,
        ),
    ]
