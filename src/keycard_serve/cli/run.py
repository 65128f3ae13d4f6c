"""``keycard-serve run`` and ``keycard-serve dev``: build the server and serve it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import KeycardServeError
from ._common import fail, load_or_exit
from ._help import choice

if TYPE_CHECKING:
    from ..config import LoadedConfig

__all__ = ["dev_command", "run_command"]

ConfigArg = Annotated[
    Path,
    typer.Argument(metavar="CONFIG", help="The keycard-serve YAML file.", show_default=False),
]
HostOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(metavar="HOST", help="Listen address (default: from base_url)."),
]
PortOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(min=1, max=65535, metavar="PORT", help="Listen port (default: from base_url)."),
]
ReloadOpt = Annotated[
    bool,
    typer.Option(
        "--reload",
        help="Watch the config and the tools' modules; apply valid changes without a restart.",
    ),
]
WorkersOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--workers",
        min=1,
        max=256,
        metavar="N",
        help="Processes sharing the listening socket (default: server.workers, else 1).",
    ),
]


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LogLevelOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--log-level",
        parser=choice(LOG_LEVELS),
        metavar="|".join(LOG_LEVELS),
        help="Log level (default: from the config).",
    ),
]
LOG_FORMATS = ("text", "json")
LogFormatOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--log-format",
        parser=choice(LOG_FORMATS),
        metavar="|".join(LOG_FORMATS),
        help="text, or json: one JSON object per line (default: from the config, else text).",
    ),
]


def run_command(
    config: ConfigArg,
    host: HostOpt = None,
    port: PortOpt = None,
    log_level: LogLevelOpt = None,
    reload: ReloadOpt = False,
    log_format: LogFormatOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Serve CONFIG over HTTP (streamable HTTP, or SSE if the file says so) until Ctrl-C.

    SIGHUP reloads the config (in every worker).

    Examples:

    \b
      keycard-serve configs/minimal.yaml
      keycard-serve run configs/minimal.yaml --port 9000 --log-level debug
      keycard-serve run configs/minimal.yaml --reload   # apply edits without a restart
      keycard-serve run configs/minimal.yaml --workers 4   # four processes, one socket
    """
    loaded = load_or_exit(config, imports=True)
    count = workers or loaded.config.server.workers
    if count == 1:
        _serve(loaded, host, port, log_level, reload, log_format)
        return
    if reload:
        raise fail(
            f"--reload watches files from one process; it cannot be combined with {count} "
            "workers (send SIGHUP to reload every worker, or use --workers 1)",
            code=2,
        )
    if loaded.config.zone.dev is not None:
        raise fail(
            "the development zone lives inside one process, so it serves one worker: "
            "use --workers 1, or a zone url or id for several workers",
            code=2,
        )
    _serve_workers(loaded, host, port, log_level, count, log_format)


def dev_command(
    config: ConfigArg,
    user: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            metavar="USER", help="The user the development zone signs in (default: alice)."
        ),
    ] = None,
    host: HostOpt = None,
    port: PortOpt = None,
    log_level: LogLevelOpt = None,
    reload: ReloadOpt = False,
    log_format: LogFormatOpt = None,
) -> None:
    """Serve CONFIG on an embedded development zone (loopback only, not for production).

    Whatever zone the file names is replaced by a development zone, so the tools can be tried
    without a Keycard account: the zone's url or id and the credentials are not read, so their
    variables need not be set. A base_url beyond loopback is served on
    http://127.0.0.1:PORT (PORT: --port, server.port or 8000), and the banner says so; --port
    moves a loopback base_url too. Get a token with: keycard-serve token CONFIG

    Example:

    \b
      keycard-serve dev configs/quickstart.yaml
    """
    from ..launcher.dev import as_dev, dev_reader

    if user is not None and not user.strip():
        raise fail("--user must not be empty", code=2)
    loaded = load_or_exit(config, imports=True, dev=True)
    served = as_dev(loaded, user=user, port=port)
    public, local = loaded.config.server.mcp_url, served.config.server.mcp_url
    notes = [f"dev mode serves {public} as {local}: use that URL"] if public != local else []
    read = dev_reader(user=user, port=port)
    if loaded.config.server.workers > 1:
        typer.echo(
            f"keycard-serve dev: the development zone lives in one process; serving one worker "
            f"instead of server.workers: {loaded.config.server.workers}",
            err=True,
        )
    # --port is in the served base_url now, so the server listens where the banner says.
    _serve(served, host, None, log_level, reload, log_format, read=read, notes=notes)


def _serve_workers(
    loaded: LoadedConfig,
    host: str | None,
    port: int | None,
    log_level: str | None,
    count: int,
    log_format: str | None,
) -> None:
    from ..launcher.workers import WorkerSpec, run_workers

    server = loaded.config.server
    level_name, format_name = _configure_logging(loaded, log_level, log_format)
    metrics = loaded.config.observability.metrics
    spec = WorkerSpec(
        path=loaded.path,
        host=host or server.effective_host,
        port=port or server.effective_port,
        log_level=level_name,
        workers=count,
        log_format=format_name,
        metrics=metrics.address if metrics is not None else None,
    )
    try:
        status = run_workers(spec)
    except OSError as exc:
        raise fail(f"keycard-serve: cannot serve {loaded.path}: {exc}") from None
    if status:
        raise typer.Exit(status)


def _configure_logging(
    loaded: LoadedConfig, log_level: str | None, log_format: str | None
) -> tuple[str, str]:
    """Set up logging at the requested level and format (else the config's); their names."""
    from ..launcher.logs import configure_logging

    level_name = log_level or loaded.config.log_level
    format_name = log_format or loaded.config.log_format
    configure_logging(level_name, format_name)  # type: ignore[arg-type]
    return level_name, format_name


def _serve(
    loaded: LoadedConfig,
    host: str | None,
    port: int | None,
    log_level: str | None,
    reload: bool,
    log_format: str | None,
    *,
    read: Callable[[Path], LoadedConfig] | None = None,
    notes: Sequence[str] = (),
) -> None:
    from ..launcher.serve import serve  # FastMCP and uvicorn: only once there is a server

    level_name, format_name = _configure_logging(loaded, log_level, log_format)
    try:
        restart = asyncio.run(
            serve(
                loaded,
                host=host,
                port=port,
                log_level=level_name,
                reload=reload,
                log_format=format_name,  # type: ignore[arg-type]
                read=read,
                notes=notes,
            )
        )
    except KeyboardInterrupt:
        return
    except (KeycardServeError, OSError) as exc:
        raise fail(f"keycard-serve: cannot serve {loaded.path}: {exc}") from None
    if restart:
        # Same command line, new interpreter: the only clean way to re-import an adopted app.
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "keycard_serve", *sys.argv[1:]])  # noqa: S606
