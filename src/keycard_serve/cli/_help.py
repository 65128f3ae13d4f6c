"""Help and usage text a user can copy: plain argument names, choices named on a bad value.

typer writes a required argument as ``{config}`` in the usage line and adds its type
(``<path>``, ``<list[Path]>``) in the argument list; ``Command`` writes ``CONFIG`` and
``CONFIG...`` instead, as man pages do. typer checks an ``Enum`` option through pydantic, whose
message starts "Value error,"; ``choice`` names the accepted values itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from typer._click import HelpFormatter

__all__ = ["Command", "choice"]


class Command(TyperCommand):
    """A typer command whose usage line and argument list name arguments by their metavar."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: typer.Context, formatter: HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


def _argument_name(param: typer.core.TyperArgument) -> str:
    name = param.metavar or (param.name or "").upper()
    return name if param.nargs == 1 or name.endswith("...") else name + "..."


def choice(values: Sequence[str]) -> Callable[[str], str]:
    """A typer ``parser`` accepting one of ``values``; else a usage error naming them."""
    allowed = tuple(values)

    def parse(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(
                f"{value!r} is not one of {', '.join(repr(v) for v in allowed)}"
            )
        return value

    return parse
