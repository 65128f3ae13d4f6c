"""What every command shares: loading a config or ending with a readable message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import KeycardServeError

if TYPE_CHECKING:
    from ..config import LoadedConfig

__all__ = ["EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "fail", "load_or_exit"]

EXIT_OK = 0
EXIT_INVALID = 1  # an invalid config, or a server that could not start
EXIT_USAGE = 2  # typer's own code for a bad command line


def fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    """Print ``message`` to stderr; return the ``Exit`` to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def load_or_exit(path: Path, *, imports: bool, dev: bool = False) -> LoadedConfig:
    """The loaded config (its tools imported if ``imports``), or exit 1 naming every problem.

    ``dev`` reads it as ``keycard-serve dev`` does (``load_config(dev=True)``).

    Warnings go to stderr; each problem is named by file, line, column and field.
    """
    # Imported here, as by every command module: `keycard-serve --version` and `--help`
    # then start without building the config models.
    from ..config import ConfigError, import_tools, load_config

    try:
        loaded = load_config(path, dev=dev)
        if imports:
            loaded = import_tools(loaded)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except KeycardServeError as exc:
        raise fail(f"{path}: {exc.message}") from None
    for warning in loaded.warnings:
        typer.echo(warning.format_text(), err=True)
    return loaded
