"""The typer application; each command lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from .._version import __version__
from . import doctor, plan, run, schema, token, validate
from ._help import Command

__all__ = ["app"]

app = typer.Typer(
    name="keycard-serve",
    help=(
        "Serve FastMCP tools as an OAuth-protected resource of a Keycard zone, with per-tool "
        "delegated access (RFC 8693) declared in a YAML file.\n\n"
        "keycard-serve CONFIG is short for keycard-serve run CONFIG."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"keycard-serve {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """keycard-serve"""


app.command("run", cls=Command, no_args_is_help=True)(run.run_command)
app.command("dev", cls=Command, no_args_is_help=True)(run.dev_command)
app.command("validate", cls=Command)(validate.validate_command)  # no file: "Missing argument"
app.command("plan", cls=Command, no_args_is_help=True)(plan.plan_command)
app.command("schema", cls=Command)(schema.schema_command)
app.command("token", cls=Command, no_args_is_help=True)(token.token_command)
app.command("doctor", cls=Command, no_args_is_help=True)(doctor.doctor_command)
