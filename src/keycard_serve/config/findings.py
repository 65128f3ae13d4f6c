"""One problem found in a config file, and the error that carries all of them.

Every stage reports the same ``Finding``: the YAML reader, the schema, the cross-section
rules, the imports of user code and the ``--online`` checks. Findings are values, not
exceptions, so a stage can collect every problem of a file and report them together, and a
CLI can print them as text, JSON or GitHub annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigurationError

__all__ = ["ConfigError", "Finding", "Severity"]

Severity = Literal["error", "warning"]

# More findings than this are summarised: nobody reads the 500th "unknown key".
_SHOWN = 50


@dataclass(frozen=True)
class Finding:
    """Where (``file``, 1-based ``line`` and ``column``, ``field``) and what is wrong.

    ``field`` is dotted and indexed (``tools[1].grants[0].resource``), empty for a problem of
    the file as a whole, which is placed at 1:1 so that every finding has a line to attach
    to. ``message`` never contains a secret value.
    """

    file: str
    line: int
    column: int
    field: str
    message: str
    severity: Severity = "error"

    def format_text(self) -> str:
        """``file:line:col: severity: field: message``, the shape editors and terminals link."""
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self._what()}"

    def format_github(self) -> str:
        """A GitHub Actions workflow command, shown as an annotation on the file's line."""
        file = _escape_property(self.file)
        where = f"file={file},line={self.line},col={self.column}"
        return f"::{self.severity} {where}::{_escape_data(self._what())}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``file``, ``line``, ``column``, ``path`` (the field), ``message``,
        ``severity`` (the keys ``validate --format json`` has always printed)."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.field,
            "message": self.message,
            "severity": self.severity,
        }

    def _what(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(ConfigurationError):
    """A config file cannot be used; ``findings`` lists every problem found, errors first."""

    default_code = "invalid_config"

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = sorted(findings, key=_order)
        super().__init__(_block(self.findings))


def _order(finding: Finding) -> tuple[bool, int, int]:
    return (finding.severity != "error", finding.line, finding.column)


def _block(findings: list[Finding]) -> str:
    files = sorted({finding.file for finding in findings})
    errors = sum(finding.severity == "error" for finding in findings)
    warnings = len(findings) - errors
    counts = _plural(errors, "error") + (f", {_plural(warnings, 'warning')}" if warnings else "")
    lines = [f"invalid configuration {', '.join(files)} ({counts}):"]
    lines += [finding.format_text() for finding in findings[:_SHOWN]]
    if len(findings) > _SHOWN:
        lines.append(f"... and {len(findings) - _SHOWN} more")
    return "\n".join(lines)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
