"""What a YAML syntax error means for a config file, and how to fix it.

PyYAML reports the parser's view ("expected <block end>, but found '<block mapping start>'");
a person needs the writer's view: which key is mis-indented against which, which value needs
quotes, which quote or bracket is never closed. ``explain`` looks at the error and at the
lines around it and returns a message that names the fix, with the position to report (the
opening quote of an unclosed string, say, rather than the end of the file). Errors it does
not recognise keep PyYAML's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

__all__ = ["Explanation", "explain", "wrong_encoding"]

_KEY = re.compile(r"(?P<indent>\s*)(?:-\s+)?(?P<key>[^\s#:'\"\[\]{},][^#:]*?)\s*:(?:\s|$)")
_GLUED_KEY = re.compile(r"\s*(?:-\s+)?(?P<key>[\w.-]+):(?P<value>[^\s/:][^\s]*)\s*$")
_CANNOT_START = re.compile(r"found character '(.+)' that cannot start any token")
_UNEXPECTED_IN_FLOW = re.compile(r"expected ',' or '(?P<close>[\]}])', but got '(?P<got>.+)'")
_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


@dataclass(frozen=True)
class Explanation:
    """The message for a syntax error and where to report it (1-based line and column)."""

    message: str
    line: int | None
    column: int | None


def wrong_encoding(data: bytes) -> str | None:
    """The encoding's name when ``data`` is UTF-16 or UTF-32 text (known by its byte-order
    mark, or by the NUL bytes that ASCII text has in them), else None."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[:64]
    if len(head) >= 4 and head.count(0) * 4 >= len(head) * 3:
        return "UTF-32"
    if len(head) >= 2 and head.count(0) * 2 >= len(head) - 1:
        return "UTF-16"
    return None


def explain(error: yaml.MarkedYAMLError, text: str) -> Explanation:
    """The writer's explanation of a PyYAML error found while parsing ``text``."""
    problem = str(error.problem or error.context)
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line, mark.column) if mark else (None, None)
    lines = text.splitlines()
    found = _hint(error, problem, lines, line, column)
    if found is not None:
        message, line, column = found
        return Explanation(f"invalid YAML: {message}", _one(line), _one(column))
    message = f"invalid YAML: {problem}"
    if error.context and error.context_mark and error.problem:
        message += f" ({error.context} started at line {error.context_mark.line + 1})"
    return Explanation(message, _one(line), _one(column))


def _one(value: int | None) -> int | None:
    return None if value is None else value + 1


def _hint(
    error: yaml.MarkedYAMLError,
    problem: str,
    lines: list[str],
    line: int | None,
    column: int | None,
) -> tuple[str, int | None, int | None] | None:
    """(message, 0-based line, 0-based column), or None when nothing better can be said."""
    if line is None or column is None or line >= len(lines):
        if "quoted scalar" in str(error.context) and error.context_mark:
            return _unclosed_quote(error.context_mark)
        return None
    source = lines[line]
    start = _CANNOT_START.search(problem)
    if start and start[1] == "\\t":
        return (
            "a tab character; YAML indents with spaces and separates with spaces: "
            "replace the tab with spaces",
            line,
            column,
        )
    if start:
        return (
            f"a value cannot start with {start[1]!r}; quote the value "
            f'(for example "{source[column:].strip()}")',
            line,
            column,
        )
    if "quoted scalar" in str(error.context) and error.context_mark:
        return _unclosed_quote(error.context_mark)
    flow = _UNEXPECTED_IN_FLOW.search(problem)
    if flow:
        return _in_flow(error, flow["close"], flow["got"], source, line, column)
    if problem == "mapping values are not allowed here":
        return _colon_in_value(lines, line, column)
    if problem.startswith("expected <block end>, but found "):
        return _block_end(problem, lines, line, column)
    return None


def _unclosed_quote(opened: yaml.Mark) -> tuple[str, int, int]:
    return (
        f"the quoted value started here is never closed: add the closing "
        f"{opened.buffer[opened.pointer] if opened.buffer else 'quote'} at its end",
        opened.line,
        opened.column,
    )


def _in_flow(
    error: yaml.MarkedYAMLError, close: str, got: str, source: str, line: int, column: int
) -> tuple[str, int, int]:
    kind = "list" if close == "]" else "mapping"
    if got == "{" and source[column - 1 : column] == "$":
        return (
            f"${{...}} inside a [...] or {{...}} {kind} must be quoted: write "
            f'"{_reference(source, column - 1)}", or use a block {kind} '
            f"({'one - item' if kind == 'list' else 'one key: value'} per line)",
            line,
            column - 1,
        )
    opened = error.context_mark
    where = f" on line {opened.line + 1}" if opened else ""
    if got == ":":
        return (
            f"the {kind} opened with '{'[' if close == ']' else '{'}'{where} is not closed "
            f"with '{close}' before this ':'; close it, or quote the value if the bracket is text",
            line,
            column,
        )
    return (
        f"expected ',' or '{close}' in the {kind} opened{where}; quote items that contain '{got}'",
        line,
        column,
    )


def _reference(source: str, start: int) -> str:
    end = source.find("}", start)
    return source[start : end + 1] if end > 0 else source[start:]


def _colon_in_value(lines: list[str], line: int, column: int) -> tuple[str, int, int]:
    source = lines[line]
    key = _KEY.match(source)
    if key and key.end() - 1 < column:  # an earlier ": " made the key: this one is in the value
        value = source[key.end() :].strip()
        return (
            f"the value of {key['key']!r} contains ': '; quote it: {key['key']}: \"{value}\"",
            line,
            column,
        )
    previous = _previous_content(lines, line)
    if previous is not None:
        glued = _GLUED_KEY.match(lines[previous])
        if glued:
            return (
                f"{glued['key']}:{glued['value']} on line {previous + 1} needs a space after "
                f"':' to be a key: write {glued['key']}: {glued['value']}",
                previous,
                lines[previous].index(glued["key"]) + len(glued["key"]),
            )
        above = _KEY.match(lines[previous])
        if key and above:
            indent, above_indent = _column(key), _column(above)
            if indent > above_indent:
                return (
                    f"{key['key']!r} (column {indent + 1}) is indented more than "
                    f"{above['key']!r} on line {previous + 1} (column {above_indent + 1}), so it "
                    f"reads as part of the value of {above['key']!r}: line the two keys up, or "
                    f"remove that value to nest {key['key']!r} under {above['key']!r}",
                    line,
                    indent,
                )
    return ("a ':' followed by a space inside a value; quote the value", line, column)


def _block_end(problem: str, lines: list[str], line: int, column: int) -> tuple[str, int, int]:
    source = lines[line]
    before = source[:column].rstrip()
    if before.endswith(("'", '"')):
        return (
            "text after a quoted value: put the whole value inside the quotes",
            line,
            column,
        )
    if before.endswith(("}", "]")):
        return (
            f"a value starting with {'{' if before.endswith('}') else '['} is read as a "
            f"{'mapping' if before.endswith('}') else 'list'}; quote the whole value",
            line,
            column,
        )
    if problem.endswith("'-'"):
        return (
            "a list item ('- ') where a key of this mapping is expected: put the list under a "
            "key, indented, or remove the '- '",
            line,
            column,
        )
    key = _KEY.match(source)
    previous = _previous_content(lines, line)
    above = _KEY.match(lines[previous]) if previous is not None else None
    if key and above and previous is not None:
        indent, above_indent = _column(key), _column(above)
        side = "more" if indent > above_indent else "less"
        return (
            f"{key['key']!r} is mis-indented: it starts at column {indent + 1}, "
            f"{side} than {above['key']!r} on line {previous + 1} (column {above_indent + 1}) "
            f"and than any mapping it could belong to; indent it with as many spaces as the "
            f"keys it belongs with",
            line,
            indent,
        )
    return ("this line is indented differently from the lines above it", line, column)


def _column(key: re.Match[str]) -> int:
    return key.start("key")


def _previous_content(lines: list[str], line: int) -> int | None:
    for index in range(line - 1, -1, -1):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#"):
            return index
    return None
