"""A sync tool with one grant, written exactly as the seed README's tools are.

Served by ``configs/minimal.yaml``; the launcher grants it a token for the weather API.
``grant`` runs sync tools in a worker thread with a context whose ``get_state`` is
synchronous, so no ``await`` here.
"""

from __future__ import annotations

from fastmcp import Context

__all__ = ["WEATHER_API", "forecast"]

WEATHER_API = "https://api.weather.example/"


def forecast(ctx: Context, city: str) -> str:
    """Tomorrow's forecast for a city."""
    access_context = ctx.get_state("keycardai")
    if access_context.has_errors():
        return f"Error: Failed to obtain access token - {access_context.get_errors()}"
    token = access_context.access(WEATHER_API).access_token
    # A real tool would now call the API with {"Authorization": f"Bearer {token}"}.
    return f"Forecast for {city}: sunny (fetched with a {len(token)}-character token)"
