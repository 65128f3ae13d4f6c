"""``${NAME}`` and ``${NAME:-default}`` from the environment, nothing more.

No command substitution, no unbraced ``$NAME``, no recursion (a value taken from the
environment is never scanned again), and ``$$`` for a literal dollar. A lone ``$`` is an
error rather than literal text, so a mistyped reference cannot pass silently. Messages name
variables but never show their values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["InterpolationError", "interpolate", "secret_reference"]

_TOKEN = re.compile(r"\$(?:(\$)|\{([^{}$]*)\})?")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class InterpolationError(ValueError):
    """A reference is malformed or names a variable that is unset or empty."""


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """``text`` with every reference replaced; ``${NAME:-x}`` uses x when NAME is unset or empty."""
    if "$" not in text:
        return text
    parts: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        parts.append(text[position : match.start()])
        position = match.end()
        dollar, body = match.groups()
        if dollar:
            parts.append("$")
        elif body is None:
            raise InterpolationError(_lone_dollar(text, match.start()))
        else:
            parts.append(_lookup(body, environ))
    parts.append(text[position:])
    return "".join(parts)


def secret_reference(text: str) -> str:
    """The variable name when ``text`` is exactly ``${NAME}``, the only form a secret may take."""
    match = _REFERENCE.fullmatch(text)
    if match:
        return match.group(1)
    if ":-" in text and "${" in text:
        raise InterpolationError("a secret cannot have a default: the default would be in the file")
    raise InterpolationError("must not be written in the file")


def _lookup(body: str, environ: Mapping[str, str]) -> str:
    match = _BODY.fullmatch(body)
    if not match:
        raise InterpolationError(
            f"${{{body}}} is not a supported reference; use ${{NAME}} or ${{NAME:-default}}"
        )
    name, default = match.group("name"), match.group("default")
    value = environ.get(name)
    if value:
        return value
    if default is not None:
        return default
    state = "is not set" if value is None else "is empty"
    raise InterpolationError(
        f"environment variable {name} {state}; export {name}=... before running, or write "
        f"${{{name}:-default}} where a default value is acceptable"
    )


def _lone_dollar(text: str, index: int) -> str:
    if text.startswith("${", index):
        return "unterminated or nested ${...}; nesting references is not supported"
    return "a '$' must start ${NAME}; write $$ for a literal dollar sign"
