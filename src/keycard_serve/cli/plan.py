"""``keycard-serve plan``: the effective tool -> scopes -> resources table, and its diff."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import EXIT_INVALID, load_or_exit

__all__ = ["plan_command"]


def plan_command(
    config: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="The config to plan.", show_default=False)
    ],
    against: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--against", metavar="FILE", help="An older version of the config to diff against."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    fail_on_widening: Annotated[
        bool,
        typer.Option(help="Exit 1 when the change adds or widens access (for CI review gates)."),
    ] = False,
) -> None:
    """Print which tool needs which inbound scopes and reaches which resources.

    Examples:

    \b
      keycard-serve plan configs/multi-resource.yaml
      git show main:configs/prod.yaml > /tmp/old.yaml
      keycard-serve plan configs/prod.yaml --against /tmp/old.yaml
    """
    from ..config.plan import access_table, diff

    table = access_table(load_or_exit(config, imports=False))
    changes = None
    if against is not None:
        changes = diff(access_table(load_or_exit(against, imports=False)), table)
    if as_json:
        document: dict = {"tools": [asdict(row) for row in table]}
        if changes is not None:
            document["changes"] = [{**asdict(c), "widens_access": c.widens_access} for c in changes]
        typer.echo(json.dumps(document, indent=2))
    elif changes is not None:
        typer.echo("\n".join(c.format_text() for c in changes) or "no change in access")
    else:
        typer.echo(_table_text(table))
    if fail_on_widening and changes and any(c.widens_access for c in changes):
        raise typer.Exit(EXIT_INVALID)


def _table_text(table) -> str:
    lines = ["TOOL".ljust(24) + "INBOUND SCOPES".ljust(28) + "RESOURCES (REQUESTED SCOPES)"]
    for row in table:
        scopes = " ".join(_scope_text(row, scope) for scope in row.inbound_scopes) or "-"
        grants = [r + (f" ({' '.join(s)})" if s else "") for r, s in row.grants.items()] or ["-"]
        lines.append(row.tool.ljust(24) + (scopes + " ").ljust(28) + grants[0])
        lines += [" " * 52 + grant for grant in grants[1:]]
    return "\n".join(lines)


def _scope_text(row, scope: str) -> str:
    """``tools:read``, or ``tools:read|tools:admin`` when broader scopes also grant it."""
    return "|".join((scope, *row.also_granted_by.get(scope, ())))
