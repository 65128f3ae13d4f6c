"""The ``keycard-serve`` command line (typer): run, dev, validate, plan, schema, token, doctor."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .app import app

__all__ = ["app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point; ``keycard-serve CONFIG`` is short for ``keycard-serve run CONFIG``."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {command.name for command in app.registered_commands}
    if args and not args[0].startswith("-") and args[0] not in commands:
        args.insert(0, "run")
    app(args, prog_name="keycard-serve")
