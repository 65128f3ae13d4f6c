"""``keycard-serve doctor``: will real MCP clients get through this server's OAuth discovery?"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import urlsplit

import typer

from ..doctor import CLIENTS
from ..errors import KeycardServeError
from ._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail
from ._help import choice

__all__ = ["doctor_command"]

FORMATS = ("text", "json")


def doctor_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="URL_OR_CONFIG",
            help="The MCP endpoint URL (http://127.0.0.1:8000/mcp) or a config file.",
        ),
    ],
    format: Annotated[
        str,
        typer.Option(
            "--format", parser=choice(FORMATS), metavar="|".join(FORMATS), help="Output format."
        ),
    ] = "text",
    client: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--client",
            parser=choice([p.name for p in CLIENTS]),
            metavar="CLIENT",
            help="Replay only this client; repeat for more (default: all): "
            + ", ".join(p.name for p in CLIENTS)
            + ".",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, metavar="SECONDS", help="Seconds to wait for each answer.")
    ] = 5.0,
    register: Annotated[
        bool,
        typer.Option(
            help="Also register a throwaway client by DCR for the clients that would "
            "(this writes to the zone)."
        ),
    ] = False,
    client_metadata_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--client-metadata-url",
            metavar="URL",
            help="Sign in as the clients that can use a client ID metadata document (CIMD) "
            "with the one at this URL, up to the zone's answer to the authorization request.",
        ),
    ] = None,
) -> None:
    """Replay the OAuth discovery of real MCP clients against a running server: per client,
    each request and its status, then each check with a fix for every failure. Exit 0 if
    every client passes, 1 if any fails, 2 on a usage error. No credentials are sent; only
    the server's origin and the authorization server its metadata names are contacted.

    Examples:

    \b
      keycard-serve doctor http://127.0.0.1:8000/mcp
      keycard-serve doctor configs/quickstart.yaml --client vscode --client claude-ai
      keycard-serve doctor http://127.0.0.1:8000/mcp --client-metadata-url https://app.example/client.json
    """
    from ..doctor import diagnose, render_json, render_text
    from ..doctor.locations import is_absolute_http

    url = _mcp_url(target)
    chosen = set(client or ())
    profiles = tuple(p for p in CLIENTS if not chosen or p.name in chosen)
    if client_metadata_url is not None and not is_absolute_http(client_metadata_url):
        raise fail(f"{client_metadata_url}: not an http(s) URL", EXIT_USAGE)
    diagnosis = asyncio.run(
        diagnose(
            url,
            profiles,
            timeout=timeout,
            register=register,
            client_metadata_url=client_metadata_url,
        )
    )
    typer.echo(render_json(diagnosis) if format == "json" else render_text(diagnosis))
    raise typer.Exit(EXIT_OK if diagnosis.ok else EXIT_INVALID)


def _mcp_url(target: str) -> str:
    """The MCP endpoint: the URL as given, or a config's server.base_url + server.path."""
    from ..config import ConfigError, load_config
    from ..doctor.locations import is_absolute_http

    if "://" in target:
        parts = urlsplit(target)
        if not is_absolute_http(target) or parts.username or parts.password or parts.fragment:
            raise fail(
                f"{target}: not an http(s) MCP endpoint URL (without credentials or fragment)",
                EXIT_USAGE,
            )
        return target
    path = Path(target)
    if not path.is_file():
        raise fail(f"{target}: neither an http(s) URL nor a config file", EXIT_USAGE)
    try:
        server = load_config(path).config.server
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except KeycardServeError as exc:
        raise fail(f"{target}: {exc.message}", EXIT_USAGE) from None
    return server.mcp_url
