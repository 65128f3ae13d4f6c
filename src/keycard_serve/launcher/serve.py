"""Serve a loaded config: bind the socket, run uvicorn, handle signals, ask for a restart.

``assemble.served_app`` builds the app; this module only serves it. SIGHUP reloads the config
(and so do file changes with ``reload=True``); SIGINT and SIGTERM stop uvicorn gracefully.
Several processes on one socket are ``workers.py``'s: each of its workers runs ``serve`` on
the socket the supervisor bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import uvicorn

from .. import _metrics, _tracing
from .._sockets import listen
from .._urls import is_loopback_host
from ..config import LoadedConfig
from ..errors import ConfigurationError
from ._heap import LongLivedHeap
from .assemble import served_app
from .banner import render_banner
from .dev import remember_served
from .logs import LogFormat
from .watch import tool_directories, watch

__all__ = ["serve"]


async def serve(
    loaded: LoadedConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    log_level: str | None = None,
    reload: bool = False,
    out: TextIO | None = sys.stdout,
    sock: socket.socket | None = None,
    workers: int = 1,
    started: Callable[[], None] | None = None,
    log_format: LogFormat = "text",
    metrics_url: str | None = None,
    hangup_pending: Callable[[], bool] | None = None,
    read: Callable[[Path], LoadedConfig] | None = None,
    notes: Sequence[str] = (),
) -> bool:
    """Serve ``loaded`` (tools imported) until interrupted; print the banner to ``out``.

    ``host`` and ``port`` default to the config's. ``sock``, when given, is an already
    listening socket (a worker's, bound by the supervisor) and ``host``/``port`` only name it;
    ``out=None`` prints no banner; ``workers`` is the number of processes on the socket, for
    the banner; ``started()`` is called once the app is built and SIGHUP handled;
    ``hangup_pending()`` says whether a SIGHUP came before that (the config is then reloaded
    once, a no-op if the file is unchanged). Returns True when the server
    stopped to be started again in a new process (an adopted app's module changed), False when
    it was simply stopped. ``log_format`` ``json`` leaves uvicorn's logs to the root logger's
    handler (set up by the caller). ``read`` reads the file on reload (``Reloader``); ``notes``
    are lines added to the banner. A server on a development zone records what it serves for
    ``keycard-serve token`` (``dev.remember_served``).

    The ``observability`` section: the span exporter runs for as long as the server does,
    SIGHUP also reopens the audit log, and the metrics listener is started here unless
    ``metrics_url`` says where a supervisor already serves the workers' sum (then only the
    banner shows it). This function owns the process: once the app is built it freezes the
    objects alive then (``gc.freeze``, see ``_heap``), so the garbage collector no longer walks
    them, and refreshes that every 5 minutes. Raises ``ConfigurationError`` for a dev zone on
    a non-loopback host or a missing tracing SDK, and ``OSError`` when an address cannot be
    bound.
    """
    server = loaded.config.server
    host, port = host or server.effective_host, port or server.effective_port
    if loaded.config.zone.dev is not None and not is_loopback_host(host):
        raise ConfigurationError(
            f"the development zone is loopback only: refusing to listen on {host} "
            "(server.host, server.base_url or --host)"
        )
    observability = loaded.config.observability
    tracing = (
        _tracing.configure_sdk(observability.tracing.exporter)
        if observability.tracing is not None
        else _tracing.TracingSetup(None)
    )
    sock = sock or listen(host, port)
    restart = asyncio.Event()
    heap = LongLivedHeap()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(tracing.shutdown)
        served = await stack.enter_async_context(
            served_app(loaded, request_restart=lambda _why: restart.set(), read=read)
        )
        stack.callback(heap.close)  # first thing on the way out: no full collection then
        if observability.metrics is not None and metrics_url is None:
            listener = _metrics.start_listener(
                *observability.metrics.address, served.observability.registry
            )
            stack.callback(listener.close)
            metrics_url = listener.url
        if served.dev_zone is not None:
            remember_served(loaded)
        uvicorn_server = uvicorn.Server(
            uvicorn.Config(
                served.app,
                log_level=log_level or loaded.config.log_level,
                # No handlers of uvicorn's own: its records reach the root logger's handler,
                # set up by the command (text or json), once per line.
                log_config=None,
                timeout_graceful_shutdown=5,
            )
        )
        if out is not None:
            tools = await served.mcp.list_tools(run_middleware=False)
            banner = render_banner(
                served,
                f"http://{host}:{port}",
                workers=workers,
                metrics_url=metrics_url,
                notes=notes,
                input_schemas={tool.name: tool.parameters for tool in tools},
            )
            print(banner, file=out, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()

        def hangup() -> None:
            if served.observability.audit is not None:
                served.observability.audit.reopen()  # logrotate's postrotate sends SIGHUP
            task = loop.create_task(served.reloader.reload())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        async def exit_for_restart() -> None:
            await restart.wait()
            uvicorn_server.should_exit = True

        with contextlib.suppress(NotImplementedError, AttributeError):  # not on Windows
            loop.add_signal_handler(signal.SIGHUP, hangup)
        if hangup_pending is not None and hangup_pending():
            hangup()  # a SIGHUP that came while the app was being built
        # This process serves from here on: start-up's objects live to the end. Before
        # started(): the full collection takes a while, and a supervisor's SIGTERM must not
        # find a worker between "started" and uvicorn's own signal handlers for longer.
        heap.start()
        if started is not None:
            started()
        if reload:
            tasks.add(asyncio.create_task(watch(served.reloader, tool_directories(loaded), stop)))
        restarter = asyncio.create_task(exit_for_restart())
        try:
            await uvicorn_server.serve(sockets=[sock])
        finally:
            stop.set()
            restarter.cancel()
            await asyncio.gather(restarter, *tasks, return_exceptions=True)
            sock.close()
        return restart.is_set()
