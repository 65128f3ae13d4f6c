"""Run a config: start the dev zone if any, build the server, print what is served, serve."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TextIO

import uvicorn
from fastmcp import FastMCP
from starlette.applications import Starlette

from .._sockets import listen
from .._urls import is_loopback_host
from ..config import LoadedConfig
from ..credentials import ClientSecret
from ..devzone import DevZone
from ..errors import ConfigurationError
from .assemble import build_provider, http_middleware
from .banner import print_banner
from .dev import dev_zone_for
from .health import health_endpoint
from .reload import Reloader
from .runtime import Runtime, Snapshot
from .scope_guard import ToolScopeMiddleware
from .sessions import SessionTracker
from .tools import ToolRegistry
from .watch import tool_directories, watch

__all__ = ["Served", "serve", "served_app"]


@dataclass
class Served:
    """A built application, what it was built from, and how to reload it."""

    app: Starlette
    runtime: Runtime
    reloader: Reloader
    dev_zone: DevZone | None

    @property
    def mcp_url(self) -> str:
        return self.runtime.current.loaded.config.server.mcp_url


@contextlib.asynccontextmanager
async def served_app(loaded: LoadedConfig) -> AsyncIterator[Served]:
    """The ASGI app of ``loaded``, with its dev zone running for as long as the block lasts."""
    async with contextlib.AsyncExitStack() as stack:
        dev_zone = None
        zone_url, credential = None, None
        if loaded.config.zone.dev is not None:
            dev_zone = await stack.enter_async_context(dev_zone_for(loaded).serve())
            zone_url, credential = dev_zone.issuer, ClientSecret(dev_zone.server_client)
        provider = build_provider(loaded, zone_url=zone_url, credential=credential)
        stack.push_async_callback(provider.aclose)
        runtime = Runtime(Snapshot.of(loaded, provider))
        auth = provider.get_remote_auth_provider()
        sessions = SessionTracker()
        mcp = loaded.app or FastMCP(loaded.config.server.name)
        mcp.auth = auth
        mcp.add_middleware(sessions)
        mcp.add_middleware(ToolScopeMiddleware(lambda name: runtime.current.scopes(name)))
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
        )
        mcp.custom_route("/healthz", methods=["GET"])(health_endpoint(reloader.status))
        server = loaded.config.server
        app = mcp.http_app(
            path=server.path,
            transport="sse" if server.transport == "sse" else "http",
            stateless_http=server.stateless,
            middleware=http_middleware(runtime, auth),
        )
        yield Served(app, runtime, reloader, dev_zone)


async def serve(
    loaded: LoadedConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    log_level: str | None = None,
    reload: bool = False,
    out: TextIO = sys.stdout,
) -> bool:
    """Serve ``loaded`` until interrupted; reload on SIGHUP, and on file changes if asked.

    Returns True when the server stopped to be started again in a new process (an adopted
    app's module changed), False when it was simply stopped.
    """
    server = loaded.config.server
    host, port = host or server.effective_host, port or server.effective_port
    if loaded.config.zone.dev is not None and not is_loopback_host(host):
        raise ConfigurationError(
            f"the development zone is loopback only: refusing to listen on {host} "
            "(server.host, server.base_url or --host)"
        )
    sock = listen(host, port)
    async with served_app(loaded) as served:
        config = uvicorn.Config(
            served.app,
            log_level=log_level or loaded.config.log_level,
            timeout_graceful_shutdown=5,
        )
        print_banner(served, out, listening=f"http://{host}:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()

        def hangup() -> None:
            task = loop.create_task(served.reloader.reload())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        with contextlib.suppress(NotImplementedError, AttributeError):  # not on Windows
            loop.add_signal_handler(signal.SIGHUP, hangup)
        if reload:
            tasks.add(asyncio.create_task(watch(served.reloader, tool_directories(loaded), stop)))
        uvicorn_server = uvicorn.Server(config)
        restart = asyncio.Event()

        def request_restart(why: str) -> None:
            restart.set()
            uvicorn_server.should_exit = True

        served.reloader.request_restart = request_restart
        try:
            await uvicorn_server.serve(sockets=[sock])
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            sock.close()
        return restart.is_set()
