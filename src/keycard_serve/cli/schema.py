"""``keycard-serve schema``: the JSON Schema of the config file, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ._common import EXIT_INVALID, fail

__all__ = ["schema_command"]


def schema_command(
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option(help="Exit 1 if --output differs from the generated schema.")
    ] = False,
) -> None:
    """Print (or write, or --check) the JSON Schema editors use to complete and check configs.

    Examples:

    \b
      keycard-serve schema -o schemas/keycard-serve.schema.json
      keycard-serve schema -o schemas/keycard-serve.schema.json --check   # in CI
    """
    from ..config import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if check:
        if output is None:
            raise fail("--check needs --output FILE", code=2)
        if not output.is_file():
            message = f"{output} does not exist: create it with keycard-serve schema -o {output}"
            raise fail(message, EXIT_INVALID)
        if output.read_text() != text:
            message = f"{output} is out of date: run keycard-serve schema -o {output}"
            raise fail(message, EXIT_INVALID)
        return
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}", EXIT_INVALID) from None
