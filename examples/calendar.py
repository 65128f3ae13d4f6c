"""An async tool with two grants, one of them with scopes.

Served by ``configs/multi-resource.yaml`` (as the tool ``sync``). FastMCP 4 makes
``ctx.get_state`` a coroutine, so async tools await it.
"""

from __future__ import annotations

from fastmcp import Context

__all__ = ["CALENDAR_API", "MAIL_API", "sync_calendar"]

CALENDAR_API = "https://calendar.example/"
MAIL_API = "https://mail.example/"


async def sync_calendar(ctx: Context, days: int = 7) -> dict[str, object]:
    """Copy meeting invitations from mail into the calendar."""
    access_context = await ctx.get_state("keycardai")
    if access_context.has_errors():
        return {"ok": False, "errors": access_context.get_errors()}
    calendar_token = access_context.access(CALENDAR_API).access_token
    mail_token = access_context.access(MAIL_API).access_token
    # A real tool would read invitations with mail_token and write events with calendar_token.
    return {"ok": True, "days": days, "tokens": bool(calendar_token and mail_token)}
