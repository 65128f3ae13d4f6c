"""The MCP endpoint answers at its path with a trailing slash too, without a redirect.

Starlette redirects ``/mcp/`` to ``/mcp`` with a 307 whose ``Location`` is built from the
request's ``Host`` header, which behind a proxy names the wrong host and which some clients do
not follow for a POST. The endpoint is mounted at its canonical path (``_urls.endpoint_path``)
and this middleware hands the slash variant to the same route.

The mount path is the endpoint URL's whole path (``mount_path``): the proxy in front of us is
expected to forward paths unchanged, so with ``base_url: https://host/tenant/`` the endpoint,
like its metadata documents, answers at ``/tenant/mcp`` locally too.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from .._urls import endpoint_path, path_of

__all__ = ["EndpointAlias", "mount_path"]


def mount_path(mcp_url: str) -> str:
    """Where the app serves the MCP endpoint: the path of its canonical URL (``/tenant/mcp``
    for ``https://host/tenant/mcp``, ``/`` for ``https://host/``)."""
    return path_of(mcp_url) or "/"


class EndpointAlias:
    """Serve ``{path}/`` as ``{path}`` (``path`` in any spelling; nothing to do for ``/``)."""

    def __init__(self, app: ASGIApp, *, path: str) -> None:
        self.app = app
        self.path = endpoint_path(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.path != "/" and scope["path"] == self.path + "/":
            scope = {**scope, "path": self.path, "raw_path": self.path.encode("ascii")}
        await self.app(scope, receive, send)
