"""``keycard-serve validate``: check config files for CI, without starting anything."""

from __future__ import annotations

import asyncio
import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..config import ConfigError, ConfigIssue, LoadedConfig, load_config
from ..launcher.online import online_problems
from ._common import EXIT_INVALID, EXIT_OK

__all__ = ["validate_command"]


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def validate_command(
    configs: Annotated[list[Path], typer.Argument(help="Config files to check.")],
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    online: Annotated[
        bool,
        typer.Option(help="Also check discovery and the credentials against the zone."),
    ] = False,
) -> None:
    """Check CONFIGS: schema, types, secrets, imports, grants. Exit 0 if all are valid, 1 if
    any is not, 2 on a usage error. Nothing is started and no network is used unless
    --online is given.

    Examples:

      keycard-serve validate configs/*.yaml

      keycard-serve validate --format github configs/prod.yaml   # GitHub Actions annotations
    """
    results = {path: _check(path, online) for path in configs}
    valid = all(ok for ok, _ in results.values())
    if format is Format.json:
        files = [
            {"file": str(path), "valid": ok, "issues": [issue.to_dict() for issue in issues]}
            for path, (ok, issues) in results.items()
        ]
        typer.echo(json.dumps({"valid": valid, "files": files}, indent=2))
    for path, (ok, issues) in results.items():
        if format is Format.github:
            typer.echo("\n".join(issue.format_github() for issue in issues), nl=bool(issues))
        elif format is Format.text:
            typer.echo("".join(issue.format_text() + "\n" for issue in issues), nl=False)
            typer.echo(f"{path}: {'valid' if ok else 'invalid'}")
    raise typer.Exit(EXIT_OK if valid else EXIT_INVALID)


def _check(path: Path, online: bool) -> tuple[bool, list[ConfigIssue]]:
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        return False, list(exc.issues)
    issues = list(loaded.warnings)
    if online:
        issues += _online(loaded, path)
    return not any(issue.severity == "error" for issue in issues), issues


def _online(loaded: LoadedConfig, path: Path) -> list[ConfigIssue]:
    problems = asyncio.run(online_problems(loaded))
    return [
        ConfigIssue(str(path), None, None, field, message, severity)
        for field, message, severity in problems
    ]
