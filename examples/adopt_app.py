"""An existing FastMCP server, adopted with ``app: examples.adopt_app:mcp``.

``configs/adopt-app.yaml`` attaches grants and scopes to these tools by name; the module
itself knows nothing about Keycard.
"""

from __future__ import annotations

from fastmcp import Context, FastMCP

__all__ = ["DOCS_API", "mcp"]

DOCS_API = "https://docs.example/"

mcp = FastMCP("Docs Search")


@mcp.tool()
async def search_docs(ctx: Context, query: str) -> str:
    """Search the documentation."""
    access_context = await ctx.get_state("keycardai")
    if access_context.has_errors():
        return f"Error: Failed to obtain access token - {access_context.get_errors()}"
    token = access_context.access(DOCS_API).access_token
    return f"Results for {query!r} (searched with a {len(token)}-character token)"


@mcp.tool()
def ping() -> str:
    """Check that the server answers; needs no delegated access."""
    return "pong"
