"""What ``keycard-serve`` prints when it starts: where, which zone, which tool reaches what."""

from __future__ import annotations

from pathlib import Path

from .assemble import Served

__all__ = ["render_banner"]


def render_banner(
    served: Served, listening: str, *, workers: int = 1, metrics_url: str | None = None
) -> str:
    """What is served, where (``listening`` is the bound address), by how many ``workers``
    (processes sharing the socket; a line of its own when more than one), with which grants.

    ``metrics_url`` is the Prometheus endpoint, when one is served; the audit log's path is
    shown when there is one. Lines of text without a final newline; never a secret. With a
    development zone it adds the ``keycard-serve token`` command and, for streamable HTTP, a
    ``curl`` call to try.
    """
    snapshot = served.runtime.current
    config = snapshot.loaded.config
    zone = served.dev_zone.issuer if served.dev_zone else snapshot.provider.zone_url
    lines = [
        f"keycard-serve: {config.server.name}",
        f"  MCP endpoint   {served.mcp_url}",
        f"  listening on   {listening}",
        *([f"  workers        {workers} processes sharing the socket"] if workers > 1 else []),
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
            lines += _try_it(served, snapshot.loaded.path)
    return "\n".join(lines)


def _try_it(served: Served, path: Path) -> list[str]:
    """A copy-paste call of the first tool with a development token."""
    shown = _shown(path)
    tool = next(iter(served.runtime.current.tools), "TOOL")
    meta = (
        '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
        '"io.modelcontextprotocol/clientCapabilities":{}}'
    )
    body = (
        f'{{"jsonrpc":"2.0","id":1,"method":"tools/call",'
        f'"params":{{"name":"{tool}","arguments":{{}},{meta}}}}}'
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
