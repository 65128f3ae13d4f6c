"""The official MCP Python SDK client (mcp 2.x) with a bearer token, in both eras.

A 2025-11-25 ``ClientSession`` over ``streamable_http_client`` is what most Python hosts
embed; ``mcp.Client`` negotiates 2026-07-28 by default. The bearer rides on the
``httpx2.AsyncClient`` the SDK is given, which is how its docs say to authenticate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.clients.devserver import SERVER_NAME, TOOLS, DevServer


@pytest.fixture
async def http(token: str) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


async def test_client_session_initializes_lists_and_calls(
    server: DevServer, http: httpx2.AsyncClient, expected_whoami: dict[str, Any]
) -> None:
    async with (
        streamable_http_client(server.mcp_url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        initialized = await session.initialize()
        tools = await session.list_tools()
        whoami = await session.call_tool("whoami", {})
    assert initialized.protocol_version == "2025-11-25"
    assert initialized.server_info.name == SERVER_NAME
    assert {tool.name for tool in tools.tools} == TOOLS
    assert not whoami.is_error
    assert whoami.structured_content == expected_whoami


async def test_client_negotiates_2026_and_calls(
    server: DevServer, http: httpx2.AsyncClient, expected_whoami: dict[str, Any]
) -> None:
    async with Client(streamable_http_client(server.mcp_url, http_client=http)) as client:
        assert client.protocol_version == "2026-07-28"
        tools = await client.list_tools()
        whoami = await client.call_tool("whoami", {})
    assert {tool.name for tool in tools.tools} == TOOLS
    assert not whoami.is_error
    assert whoami.structured_content == expected_whoami
