"""One problem found in a config file, and the error that carries all of them.

Issues are values, not exceptions, so a loader can collect every problem of a file and
report them together, and a CLI can print them as text, JSON or GitHub annotations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..errors import ConfigurationError

__all__ = ["ConfigError", "ConfigIssue", "Severity"]

Severity = Literal["error", "warning"]

# More issues than this are summarised: nobody reads the 500th "unknown key".
_SHOWN = 50


@dataclass(frozen=True)
class ConfigIssue:
    """Where (``file``, 1-based ``line``/``column``, field ``path``) and what is wrong.

    ``path`` is dotted and indexed (``tools[1].grants[0].resource``); empty for problems of
    the file as a whole. Messages never contain secret values.
    """

    file: str
    line: int | None
    column: int | None
    path: str
    message: str
    severity: Severity = "error"

    def format_text(self) -> str:
        """``file:line:col: severity: path: message``, the shape editors and terminals link."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        what = f"{self.path}: {self.message}" if self.path else self.message
        return f"{where}: {self.severity}: {what}"

    def format_github(self) -> str:
        """A GitHub Actions workflow command, shown as an annotation on the file."""
        props = [f"file={_escape_property(self.file)}"]
        if self.line is not None:
            props.append(f"line={self.line}")
            if self.column is not None:
                props.append(f"col={self.column}")
        what = f"{self.path}: {self.message}" if self.path else self.message
        return f"::{self.severity} {','.join(props)}::{_escape_data(what)}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields."""
        return asdict(self)


class ConfigError(ConfigurationError):
    """A config file cannot be used; ``issues`` lists every problem found, errors first."""

    default_code = "invalid_config"

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=_order)
        super().__init__(_block(self.issues))


def _order(issue: ConfigIssue) -> tuple[int, int, int]:
    return (issue.severity != "error", issue.line or 0, issue.column or 0)


def _block(issues: list[ConfigIssue]) -> str:
    files = sorted({issue.file for issue in issues})
    errors = sum(issue.severity == "error" for issue in issues)
    warnings = len(issues) - errors
    counts = _plural(errors, "error") + (f", {_plural(warnings, 'warning')}" if warnings else "")
    lines = [f"invalid configuration {', '.join(files)} ({counts}):"]
    lines += [issue.format_text() for issue in issues[:_SHOWN]]
    if len(issues) > _SHOWN:
        lines.append(f"... and {len(issues) - _SHOWN} more")
    return "\n".join(lines)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
