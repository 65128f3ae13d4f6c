"""The example tools read their tokens the seed README's way and return a result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client


@dataclass
class _Token:
    access_token: str


@dataclass
class _AccessContext:
    """Just the AccessContext methods the examples use."""

    tokens: dict[str, str]
    errors: dict[str, Any] = field(default_factory=dict)

    def has_errors(self) -> bool:
        return bool(self.errors)

    def get_errors(self) -> dict[str, Any]:
        return self.errors

    def access(self, resource: str) -> _Token:
        return _Token(self.tokens[resource])


class _SyncContext:
    def __init__(self, state: _AccessContext) -> None:
        self._state = state

    def get_state(self, key: str) -> _AccessContext:
        assert key == "keycardai"
        return self._state


class _AsyncContext(_SyncContext):
    async def get_state(self, key: str) -> _AccessContext:  # type: ignore[override]
        return super().get_state(key)


def test_weather(in_repo: Path) -> None:
    from examples.weather import WEATHER_API, forecast

    ctx = _SyncContext(_AccessContext({WEATHER_API: "t" * 12}))
    assert forecast(ctx, "Oslo") == "Forecast for Oslo: sunny (fetched with a 12-character token)"  # type: ignore[arg-type]
    failed = _SyncContext(_AccessContext({}, {"error": "consent_required"}))
    assert forecast(failed, "Oslo").startswith("Error: Failed to obtain access token")  # type: ignore[arg-type]


async def test_calendar(in_repo: Path) -> None:
    from examples.calendar import CALENDAR_API, MAIL_API, sync_calendar

    ctx = _AsyncContext(_AccessContext({CALENDAR_API: "c", MAIL_API: "m"}))
    assert await sync_calendar(ctx, days=3) == {"ok": True, "days": 3, "tokens": True}  # type: ignore[arg-type]


@pytest.mark.parametrize("tool", ["ping"])
async def test_adopted_app_serves_its_plain_tools(in_repo: Path, tool: str) -> None:
    from examples.adopt_app import mcp

    async with Client(mcp) as client:
        names = {listed.name for listed in await client.list_tools()}
        assert names == {"search_docs", "ping"}
        assert (await client.call_tool(tool, {})).data == "pong"
