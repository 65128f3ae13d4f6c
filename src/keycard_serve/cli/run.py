"""``keycard-serve run`` and ``keycard-serve dev``: build the server and serve it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import DevZoneConfig, LoadedConfig, ZoneConfig
from ..errors import KeycardServeError
from ..launcher.serve import serve
from ._common import fail, load_or_exit

__all__ = ["dev_command", "run_command"]

ConfigArg = Annotated[Path, typer.Argument(help="The keycard-serve YAML file.", show_default=False)]
HostOpt = Annotated[Optional[str], typer.Option(help="Listen address (default: from base_url).")]  # noqa: UP045
PortOpt = Annotated[Optional[int], typer.Option(help="Listen port (default: from base_url).")]  # noqa: UP045
ReloadOpt = Annotated[
    bool,
    typer.Option(
        "--reload",
        help="Watch the config and the tools' modules; apply valid changes without a restart.",
    ),
]
LogLevelOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--log-level", help="debug, info, warning, error (default: from the config)."),
]


def run_command(
    config: ConfigArg,
    host: HostOpt = None,
    port: PortOpt = None,
    log_level: LogLevelOpt = None,
    reload: ReloadOpt = False,
) -> None:
    """Serve CONFIG over streamable HTTP until Ctrl-C. SIGHUP reloads the config.

    Examples:

      keycard-serve configs/minimal.yaml

      keycard-serve run configs/minimal.yaml --port 9000 --log-level debug

      keycard-serve run configs/minimal.yaml --reload   # apply edits without a restart
    """
    _serve(load_or_exit(config), host, port, log_level, reload)


def dev_command(
    config: ConfigArg,
    user: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="The user the development zone signs in (default: alice)."),
    ] = None,
    host: HostOpt = None,
    port: PortOpt = None,
    log_level: LogLevelOpt = None,
    reload: ReloadOpt = False,
) -> None:
    """Serve CONFIG on an embedded development zone (loopback only, not for production).

    Whatever zone the file names is replaced by a development zone, so the tools can be tried
    without a Keycard account. Get a token with: keycard-serve token CONFIG

    Example:

      keycard-serve dev configs/quickstart.yaml
    """
    loaded = load_or_exit(config)
    current = loaded.config.zone.dev
    dev = DevZoneConfig(
        user=user or (current.user if current else "alice"),
        port=current.port if current else None,
    )
    zone = ZoneConfig(
        dev=dev,
        required_scopes=loaded.config.zone.required_scopes,
        accepted_token_types=loaded.config.zone.accepted_token_types,
    )
    with_dev_zone = replace(loaded, config=loaded.config.model_copy(update={"zone": zone}))
    _serve(with_dev_zone, host, port, log_level, reload)


def _serve(
    loaded: LoadedConfig, host: str | None, port: int | None, log_level: str | None, reload: bool
) -> None:
    level = (log_level or loaded.config.log_level).upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    try:
        asyncio.run(serve(loaded, host=host, port=port, log_level=log_level, reload=reload))
    except KeyboardInterrupt:
        pass
    except (KeycardServeError, OSError) as exc:
        raise fail(f"keycard-serve: cannot serve {loaded.path}: {exc}") from None
