"""``keycard-serve validate``: check config files for CI, without starting anything."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from ..config import Finding
from ._common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail
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
    token: Annotated[
        Optional[str],  # noqa: UP045 - typer reads the annotation
        typer.Option(
            "--token",
            metavar="TOKEN|FILE|-",
            help="A sample access token from the zone (or a file holding one, or - for "
            "stdin): name every setting its shape needs (issuer, audience, typ, scopes). "
            "Implies --online; the token is never printed.",
        ),
    ] = None,
) -> None:
    """Check CONFIGS: schema, types, secrets, imports, grants. Exit 0 if all are valid, 1 if
    any is not, 2 on a usage error. Nothing is started and no network is used unless
    --online is given.

    Examples:

    \b
      keycard-serve validate configs/*.yaml
      keycard-serve validate --format github configs/prod.yaml   # GitHub Actions annotations
    """
    sample = _read_token(token) if token is not None else None
    results = {path: _check(path, online or sample is not None, sample) for path in configs}
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


def _read_token(value: str) -> str:
    """The sample token: from stdin for ``-``, from the file if one is named, else as given."""
    if value == "-":
        return sys.stdin.read().strip()
    if value.count(".") == 2 and len(value) > 255:  # a JWT, longer than any file name
        return value.strip()
    try:
        return Path(value).read_text().strip()
    except OSError:
        if value.count(".") == 2:
            return value.strip()  # a short JWT-shaped value that names no file
        # never echo the value: it may be a token (opaque, JWE) that merely names no file
        message = "--token: not a readable file and not a JWT (3 dot-separated parts)"
        raise fail(message, EXIT_USAGE) from None


def _check(path: Path, online: bool, sample: str | None = None) -> tuple[bool, list[Finding]]:
    """Whether ``path`` is valid, and every finding: load, imports, then the zone if asked."""
    from ..config import ConfigError, import_tools, load_config

    try:
        loaded = import_tools(load_config(path))
    except ConfigError as exc:
        return False, exc.findings
    findings = list(loaded.warnings)
    if online:
        from ..config.online import check_online  # the network stack, only when asked

        findings += asyncio.run(check_online(loaded, sample_token=sample))
    return not any(finding.severity == "error" for finding in findings), findings
