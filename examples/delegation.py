"""A tool that shows what delegation produced: the claims of each exchanged token.

Served by ``configs/quickstart.yaml``. Decoding without verification is fine here: the token
is displayed, not trusted. Real tools send it to the API instead.
"""

from __future__ import annotations

import jwt
from fastmcp import Context

__all__ = ["whoami"]


async def whoami(ctx: Context) -> dict[str, object]:
    """Who the delegated tokens act for: subject, audience and actor of each."""
    access_context = await ctx.get_state("keycardai")
    claims = {}
    for resource in access_context.get_successful_resources():
        token = access_context.access(resource).access_token
        payload = jwt.decode(token, options={"verify_signature": False})
        claims[resource] = {key: payload.get(key) for key in ("sub", "aud", "act", "scope")}
    return {
        "status": access_context.get_status(),
        "tokens": claims,
        "errors": access_context.get_errors()["resource_errors"],
    }
