"""``keycard-serve token``: a user access token from a config's development zone."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import load_or_exit

__all__ = ["token_command"]


def token_command(
    config: Annotated[
        Path,
        typer.Argument(
            metavar="CONFIG",
            help="A config that keycard-serve dev serves (any config), or runs with dev: true.",
        ),
    ],
    user: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            metavar="USER",
            help="The token's subject (default: the user the server signs in).",
        ),
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
    yet or not. Any config works: its zone is the development zone keycard-serve dev runs
    (zone url, id and credentials are not read). The audience and the default user are those
    of the last server started on that zone (keycard-serve dev CONFIG --user bob: bob), else
    the config's own.

    Example:

    \b
      curl -H "Authorization: Bearer $(keycard-serve token configs/quickstart.yaml)" ...
    """
    from ..config._provider import advertised_scopes
    from ..launcher.dev import as_dev, dev_zone_for, last_served

    loaded = as_dev(load_or_exit(config, imports=False, dev=True))
    served = last_served(loaded)
    dev = loaded.config.zone.dev
    assert dev is not None  # read as dev
    audience = served.mcp_url if served else loaded.config.server.mcp_url
    subject = user or (served.user if served else dev.user)
    zone = dev_zone_for(loaded)
    scopes = scope if scope is not None else advertised_scopes(loaded)
    typer.echo(zone.mint_access_token(user=subject, resource=audience, scopes=scopes))
