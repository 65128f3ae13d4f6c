"""FastMCP's ``Client`` with a bearer token, in both protocol eras it speaks."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client

from tests.clients.devserver import SERVER_NAME, TOOLS, DevServer

ERAS = {"auto": "2026-07-28", "legacy": "2025-11-25"}


@pytest.mark.parametrize("mode", list(ERAS))
async def test_lists_and_calls_tools_with_a_bearer_token(
    server: DevServer, token: str, expected_whoami: dict[str, Any], mode: str
) -> None:
    async with Client(server.mcp_url, auth=token, mode=mode) as client:
        assert client.protocol_version == ERAS[mode]
        assert client.server_info is not None and client.server_info.name == SERVER_NAME
        assert {tool.name for tool in await client.list_tools()} == TOOLS
        whoami = await client.call_tool("whoami", {})
        forecast = await client.call_tool("forecast", {"city": "Oslo"})
        sync = await client.call_tool("sync", {"days": 3})
    assert whoami.data == expected_whoami
    assert forecast.data.startswith("Forecast for Oslo: sunny")
    assert sync.data == {"ok": True, "days": 3, "tokens": True}
