"""The example tools, served from their configs through the real ``grant`` decorator.

This is the path the launcher takes: load a config, wrap each ToolSpec's function with its
grants, register it. ``mock_access_context`` stands in for the token exchange.
"""

from __future__ import annotations

from pathlib import Path

from fastmcp import Client, FastMCP

from keycard_serve import AuthProvider
from keycard_serve.config import LoadedConfig, import_tools, load_config
from keycard_serve.testing import mock_access_context

from .conftest import ENV


def _serve(loaded: LoadedConfig) -> FastMCP:
    server = loaded.config.server
    zone = loaded.config.zone
    provider = AuthProvider(zone_id=zone.id, zone_url=zone.url, mcp_base_url=server.base_url)
    mcp = FastMCP(server.name)
    for tool in loaded.tools:
        assert tool.function is not None
        granted = provider.grant(tool.grants)(tool.function)
        mcp.tool(name=tool.name, description=tool.description)(granted)
    return mcp


async def test_sync_and_async_examples_read_their_tokens(in_repo: Path) -> None:
    mcp = _serve(import_tools(load_config("configs/multi-resource.yaml", environ=ENV)))
    tokens = {
        "https://api.weather.example/": "weather-token",
        "https://calendar.example/": "calendar-token",
        "https://mail.example/": "mail-token",
    }
    with mock_access_context(resource_tokens=tokens):
        async with Client(mcp) as client:
            forecast = await client.call_tool("forecast", {"city": "Oslo"})
            sync = await client.call_tool("sync", {"days": 3})
    assert forecast.data == "Forecast for Oslo: sunny (fetched with a 13-character token)"
    assert sync.data == {"ok": True, "days": 3, "tokens": True}


async def test_examples_report_failed_exchanges(in_repo: Path) -> None:
    mcp = _serve(import_tools(load_config("configs/minimal.yaml", environ=ENV)))
    with mock_access_context(has_errors=True):
        async with Client(mcp) as client:
            result = await client.call_tool("forecast", {"city": "Oslo"})
    assert result.data.startswith("Error: Failed to obtain access token")


async def test_adopted_app_serves_its_tools(in_repo: Path) -> None:
    app = import_tools(load_config("configs/adopt-app.yaml", environ=ENV)).app
    assert app is not None
    async with Client(app) as client:
        assert {tool.name for tool in await client.list_tools()} == {"search_docs", "ping"}
        assert (await client.call_tool("ping", {})).data == "pong"
