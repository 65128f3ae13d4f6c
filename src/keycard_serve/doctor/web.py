"""What a browser client (MCP Inspector, direct connection) additionally needs: CORS.

A page on another origin reads a response only if it carries Access-Control-Allow-Origin,
sends a request with a non-safelisted header (MCP-Protocol-Version, a JSON Content-Type,
Authorization) only after a preflight allows it, and sees only the response headers the
server exposes — the challenge's ``WWW-Authenticate`` and ``Mcp-Session-Id`` among them.
"""

from __future__ import annotations

from .locations import origin
from .probe import Exchange, Trace
from .results import Check

__all__ = ["browser_checks"]

# What the Inspector sends on /mcp once signed in; Authorization is never covered by "*".
_AUTHENTICATED_HEADERS = ["authorization", "content-type", "mcp-protocol-version", "mcp-session-id"]
_EXPOSED = ("www-authenticate", "mcp-session-id")


async def browser_checks(trace: Trace, url: str, challenge: Exchange) -> list[Check]:
    """CORS checks on what the trace already holds, plus the preflight of a signed-in POST."""
    page = trace.browser_origin or ""
    reads = [e for e in trace.exchanges if e.method == "GET" and e.status is not None]
    ours = [e for e in reads if origin(e.url) == origin(url)]
    metadata = [e for e in reads if origin(e.url) != origin(url) and e.document is not None]
    checks = [_discovery(trace, ours, page)]
    signed_in = await trace.preflight(url, "POST", _AUTHENTICATED_HEADERS)
    checks.append(_endpoint(trace.preflights.get(("POST", url)), signed_in, url, page))
    checks.append(_exposed(challenge, page))
    if metadata:
        checks.append(_authorization_server(metadata[-1], page))
    return checks


def _discovery(trace: Trace, reads: list[Exchange], page: str) -> Check:
    problems = []
    for read in reads:
        preflight = trace.preflights.get(("GET", read.url))
        if preflight is not None and not _passes(preflight, page, ["mcp-protocol-version"]):
            problems.append(f"preflight of {read.url} answered {_status(preflight)}")
        elif not _allows(read, page):
            problems.append(f"GET {read.url} has no Access-Control-Allow-Origin")
    return Check(
        "cors-discovery",
        not problems,
        "; ".join(problems) or f"{len(reads)} discovery URLs readable from {page}",
        "send CORS headers on the well-known URLs (Access-Control-Allow-Origin, and "
        "preflight answers allowing MCP-Protocol-Version) so the Inspector can read them",
    )


def _endpoint(first: Exchange | None, signed_in: Exchange, url: str, page: str) -> Check:
    failed = [
        f"preflight of POST {url} with {', '.join(headers)} answered {_status(answer)}"
        for answer, headers in (
            (first, ["content-type"]),
            (signed_in, _AUTHENTICATED_HEADERS),
        )
        if answer is not None and not _passes(answer, page, headers)
    ]
    return Check(
        "cors-mcp",
        not failed,
        "; ".join(failed) or f"preflights of POST {url} pass from {page}",
        "answer CORS preflights on the MCP endpoint, allowing the headers "
        + ", ".join(_AUTHENTICATED_HEADERS),
    )


def _exposed(challenge: Exchange, page: str) -> Check:
    exposed = _tokens(challenge.headers.get("access-control-expose-headers", ""))
    missing = [] if "*" in exposed else [name for name in _EXPOSED if name not in exposed]
    if not _allows(challenge, page):
        detail = "the 401 has no Access-Control-Allow-Origin"
    elif missing:
        detail = "Access-Control-Expose-Headers of the 401 lacks " + ", ".join(missing)
    else:
        detail = "the 401 exposes WWW-Authenticate and Mcp-Session-Id"
    return Check(
        "cors-expose",
        _allows(challenge, page) and not missing,
        detail,
        "send Access-Control-Expose-Headers: WWW-Authenticate, Mcp-Session-Id on /mcp "
        "responses; otherwise the Inspector sees neither the challenge nor the session",
    )


def _authorization_server(read: Exchange, page: str) -> Check:
    ok = _allows(read, page)
    return Check(
        "cors-authorization-server",
        ok,
        f"{read.url} {'is' if ok else 'is not'} readable from {page}",
        "the authorization server must send CORS headers on its metadata for browser "
        "clients; or connect the Inspector through its proxy",
    )


def _passes(preflight: Exchange, page: str, headers: list[str]) -> bool:
    """A passing preflight; GET and POST are safelisted methods, so only headers matter."""
    if preflight.status is None or not 200 <= preflight.status < 300:
        return False
    allowed = _tokens(preflight.headers.get("access-control-allow-headers", ""))
    return _allows(preflight, page) and all(
        name in allowed or ("*" in allowed and name != "authorization") for name in headers
    )


def _allows(answer: Exchange, page: str) -> bool:
    return answer.headers.get("access-control-allow-origin") in ("*", page)


def _status(answer: Exchange) -> str:
    if answer.status is None:
        return answer.note
    return f"{answer.status} without allowing it"


def _tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}
