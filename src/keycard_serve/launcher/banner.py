"""What ``keycard-serve`` prints when it starts: where, which zone, which tool reaches what."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .assemble import Served

__all__ = ["example_arguments", "render_banner"]


def render_banner(
    served: Served,
    listening: str,
    *,
    workers: int = 1,
    metrics_url: str | None = None,
    notes: Sequence[str] = (),
    input_schemas: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """What is served, where (``listening`` is the bound address), by how many ``workers``
    (processes sharing the socket; a line of its own when more than one), with which grants.

    ``metrics_url`` is the Prometheus endpoint, when one is served; the audit log's path is
    shown when there is one. Lines of text without a final newline; never a secret. ``notes``
    follow the addresses. With a development zone it adds the ``keycard-serve token`` command
    and, for streamable HTTP, a ``curl`` call of the first tool, its required arguments filled
    with placeholders from ``input_schemas`` (tool name -> JSON Schema of its arguments).
    """
    snapshot = served.runtime.current
    config = snapshot.loaded.config
    zone = served.dev_zone.issuer if served.dev_zone else snapshot.provider.zone_url
    lines = [
        f"keycard-serve: {config.server.name}",
        f"  MCP endpoint   {served.mcp_url}",
        f"  listening on   {listening}",
        *([f"  workers        {workers} processes sharing the socket"] if workers > 1 else []),
        *(f"  note           {note}" for note in notes),
        f"  zone           {zone}"
        + ("  (development zone - not for production)" if served.dev_zone else ""),
    ]
    if metrics_url is not None:
        lines.append(f"  metrics        {metrics_url}")
    audit = config.observability.audit
    if audit is not None:
        lines.append(f"  audit log      {'standard error' if audit.path == '-' else audit.path}")
    lines.append("  tools:")
    for tool in snapshot.tools.values():
        scopes = f"  [needs scope {' '.join(tool.scopes)}]" if tool.scopes else ""
        lines.append(f"    {tool.name}{scopes}")
        for grant in tool.grants:
            requested = f"  (scope {' '.join(grant.scopes)})" if grant.scopes else ""
            named = f"  (audience {grant.audience})" if grant.audience else ""
            lines.append(f"      -> {grant.resource}{named}{requested}")
        if not tool.grants:
            lines.append("      (no delegated access)")
    if served.dev_zone is not None:
        lines += ["", f"  Token:   keycard-serve token {_shown(snapshot.loaded.path)}"]
        if config.server.transport == "streamable-http":  # the curl below speaks only that
            lines += _try_it(served, snapshot.loaded.path, input_schemas or {})
    return "\n".join(lines)


def _try_it(served: Served, path: Path, schemas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A copy-paste call of the first tool with a development token."""
    shown = _shown(path)
    tool = next(iter(served.runtime.current.tools), None) or next(iter(schemas), "TOOL")
    arguments = json.dumps(example_arguments(schemas.get(tool, {})), separators=(",", ":"))
    arguments = arguments.replace("'", "'\\''")  # inside a single-quoted shell word
    meta = (
        '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
        '"io.modelcontextprotocol/clientCapabilities":{}}'
    )
    body = (
        f'{{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        f'"params":{{"name":"{tool}","arguments":{arguments},{meta}}}}}'
    )
    return [
        f"  Try it:  curl -s {served.mcp_url} \\",
        f'             -H "Authorization: Bearer $(keycard-serve token {shown})" \\',
        "             -H 'Content-Type: application/json' "
        "-H 'Accept: application/json, text/event-stream' \\",
        "             -H 'MCP-Protocol-Version: 2026-07-28' "
        f"-H 'Mcp-Method: tools/call' -H 'Mcp-Name: {tool}' \\",
        f"             -d '{body}'",
    ]


def _shown(path: Path) -> Path:
    """``path`` relative to the current directory when it is below it, as users typed it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def example_arguments(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for a tool whose arguments ``schema`` (JSON Schema) describes: each required
    property gets a placeholder of its type (its default, first enum value or const if any)."""
    return _placeholder(schema, schema, depth=0) if schema.get("required") else {}


def _placeholder(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/$defs/") and depth < 8:
        return _placeholder(root.get("$defs", {}).get(reference[8:], {}), root, depth + 1)
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key, ()) if o.get("type") != "null"]
        if options:
            return _placeholder(options[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if depth >= 8:
            return {}
        return {
            name: _placeholder(properties.get(name, {}), root, depth + 1)
            for name in schema.get("required", ())
        }
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return {"string": "example", "boolean": True, "array": [], "null": None}.get(kind, "example")
