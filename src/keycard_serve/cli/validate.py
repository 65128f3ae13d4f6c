"""``keycard-serve validate``: check config files for CI, without starting anything."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ..config import Finding
from ._common import EXIT_INVALID, EXIT_OK
from ._help import choice

__all__ = ["validate_command"]


FORMATS = ("text", "json", "github")


def validate_command(
    configs: Annotated[
        list[Path], typer.Argument(metavar="CONFIG...", help="Config files to check.")
    ],
    format: Annotated[
        str,
        typer.Option(
            "--format", parser=choice(FORMATS), metavar="|".join(FORMATS), help="Output format."
        ),
    ] = "text",
    online: Annotated[
        bool,
        typer.Option(help="Also check discovery and the credentials against the zone."),
    ] = False,
) -> None:
    """Check CONFIGS: schema, types, secrets, imports, grants. Exit 0 if all are valid, 1 if
    any is not, 2 on a usage error. Nothing is started and no network is used unless
    --online is given.

    Examples:

    \b
      keycard-serve validate configs/*.yaml
      keycard-serve validate --format github configs/prod.yaml   # GitHub Actions annotations
    """
    results = {path: _check(path, online) for path in configs}
    valid = all(ok for ok, _ in results.values())
    if format == "json":
        files = [
            {"file": str(path), "valid": ok, "issues": [f.to_dict() for f in findings]}
            for path, (ok, findings) in results.items()
        ]
        typer.echo(json.dumps({"valid": valid, "files": files}, indent=2))
    for path, (ok, findings) in results.items():
        if format == "github":
            typer.echo("\n".join(f.format_github() for f in findings), nl=bool(findings))
        elif format == "text":
            typer.echo("".join(f.format_text() + "\n" for f in findings), nl=False)
            typer.echo(f"{path}: {'valid' if ok else 'invalid'}")
    raise typer.Exit(EXIT_OK if valid else EXIT_INVALID)


def _check(path: Path, online: bool) -> tuple[bool, list[Finding]]:
    """Whether ``path`` is valid, and every finding: load, imports, then the zone if asked."""
    from ..config import ConfigError, import_tools, load_config

    try:
        loaded = import_tools(load_config(path))
    except ConfigError as exc:
        return False, exc.findings
    findings = list(loaded.warnings)
    if online:
        from ..config.online import check_online  # the network stack, only when asked

        findings += asyncio.run(check_online(loaded))
    return not any(finding.severity == "error" for finding in findings), findings
