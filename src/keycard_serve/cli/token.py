"""``keycard-serve token``: a user access token from a config's development zone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import fail, load_or_exit

__all__ = ["token_command"]


def token_command(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="A config with zone: {dev: true}.")
    ],
    user: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(metavar="USER", help="The token's subject (default: the dev zone's user)."),
    ] = None,
    scope: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            metavar="SCOPE",
            help="A scope to include; repeat for more (default: every tool scope).",
        ),
    ] = None,
) -> None:
    """Print an access token for the server of CONFIG, signed by its development zone.

    The token is minted with the zone's key, so the server accepts it whether it is running
    yet or not. Only for development zones.

    Example:

    \b
      curl -H "Authorization: Bearer $(keycard-serve token configs/quickstart.yaml)" ...
    """
    from ..config._provider import advertised_scopes
    from ..launcher.dev import dev_zone_for

    loaded = load_or_exit(config, imports=False)
    dev = loaded.config.zone.dev
    if dev is None:
        raise fail(
            f"{config}: token works only with a development zone (zone: {{dev: true}}); "
            "with a real zone, sign in through your MCP client"
        )
    audience = loaded.config.server.mcp_url
    zone = dev_zone_for(loaded)
    scopes = scope if scope is not None else advertised_scopes(loaded)
    typer.echo(zone.mint_access_token(user=user or dev.user, resource=audience, scopes=scopes))
