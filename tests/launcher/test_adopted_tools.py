"""Granted tools get their own arguments, whatever their layout, through the launcher.

FastMCP's ``@mcp.tool()`` gives a function a ``__signature__`` with the Context moved last.
A tool adopted with ``app:``, or named with ``function:`` after it was decorated for another
server, must still get each argument in its own parameter. Each layout is called over HTTP
on ``keycard-serve CONFIG`` (a subprocess, development zone, real token exchange) with
arguments whose swap would show in the answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import Client

from keycard_serve.config import load_config
from keycard_serve.launcher.dev import dev_zone_for
from tests.support.launcher import Launched, launch
from tests.support.servers import free_port

API = "https://api.layouts.example/"

# One module, an existing FastMCP server: every tool reports what it received.
MODULE = f'''\
from typing import Annotated, Optional

from fastmcp import Context, FastMCP

API = "{API}"
mcp = FastMCP("Layouts")


def report(access, query, limit):
    token = access.access(API).access_token
    return f"{{query}}|{{limit}}|{{access.get_status()}}|{{len(token) > 20}}"


@mcp.tool()
def ctx_first(ctx: Context, query: str, limit: int = 3) -> str:
    return report(ctx.get_state("keycardai"), query, limit)


@mcp.tool()
async def ctx_middle(query: str, ctx: Context, limit: int = 3) -> str:
    return report(await ctx.get_state("keycardai"), query, limit)


@mcp.tool()
def ctx_last(query: str, limit: int, ctx: Context) -> str:
    return report(ctx.get_state("keycardai"), query, limit)


@mcp.tool()
async def ctx_keyword_only(query: str, *, ctx: Context, limit: int = 3) -> str:
    return report(await ctx.get_state("keycardai"), query, limit)


@mcp.tool()
def ctx_optional(query: str, limit: int = 3, ctx: Optional[Context] = None) -> str:
    return report(ctx.get_state("keycardai"), query, limit)


@mcp.tool()
async def ctx_annotated(
    query: str, ctx: Annotated[Context, "the request"], limit: int = 3
) -> str:
    return report(await ctx.get_state("keycardai"), query, limit)
'''

LAYOUTS = [
    "ctx_first",
    "ctx_middle",
    "ctx_last",
    "ctx_keyword_only",
    "ctx_optional",
    "ctx_annotated",
]

HEADER = """\
version: 1
server: {{name: Layouts, base_url: "{base_url}"}}
zone: {{dev: {{port: {zone_port}}}}}
"""


def _app_mode() -> str:
    tools = "".join(f"  - name: {name}\n    grants: [{API}]\n" for name in LAYOUTS)
    return "app: layouts_app:mcp\ntools:\n" + tools


def _function_mode() -> str:
    tools = "".join(f"  - function: layouts_app:{name}\n    grants: [{API}]\n" for name in LAYOUTS)
    return "tools:\n" + tools


class Running:
    def __init__(self, launched: Launched, config: Path, env: dict[str, str]) -> None:
        self.launched, self.config, self.env = launched, config, env

    def token(self) -> str:
        environ = {**os.environ, **self.env}
        loaded = load_config(self.config, environ=environ)
        zone = dev_zone_for(loaded, environ)
        return zone.mint_access_token(user="alice", resource=self.launched.mcp_url, scopes=[])


@pytest.fixture(scope="module", params=["app", "function"])
def server(request, tmp_path_factory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp(f"layouts-{request.param}")
    (tmp / "layouts_app.py").write_text(MODULE)
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp / "layouts.yaml"
    tools = _app_mode() if request.param == "app" else _function_mode()
    config.write_text(HEADER.format(base_url=base_url, zone_port=free_port()) + tools)
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp / "state")}
    with launch([str(config)], base_url=base_url, env=env, log_path=tmp / "log.txt") as running:
        yield Running(running, config, env)


@pytest.mark.parametrize("tool", LAYOUTS)
async def test_each_argument_reaches_its_own_parameter(server: Running, tool: str) -> None:
    async with Client(server.launched.mcp_url, auth=server.token()) as client:
        given = await client.call_tool(tool, {"query": "hello", "limit": 7})
    assert given.data == "hello|7|success|True", server.launched.log()


@pytest.mark.parametrize("tool", [name for name in LAYOUTS if name != "ctx_last"])
async def test_defaults_fill_what_the_caller_leaves_out(server: Running, tool: str) -> None:
    async with Client(server.launched.mcp_url, auth=server.token()) as client:
        given = await client.call_tool(tool, {"query": "hi"})
    assert given.data == "hi|3|success|True", server.launched.log()


async def test_the_context_is_not_an_argument_clients_see(server: Running) -> None:
    async with Client(server.launched.mcp_url, auth=server.token()) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
    assert set(tools) == set(LAYOUTS)
    for tool in tools.values():
        assert set(tool.input_schema["properties"]) == {"query", "limit"}


async def test_the_shipped_adopt_app_example_gets_its_query(tmp_path: Path) -> None:
    # configs/adopt-app.yaml on a development zone: search_docs used to get the query string
    # as its Context ('str' object has no attribute 'get_state').
    text = (Path(__file__).parents[2] / "configs" / "adopt-app.yaml").read_text()
    base_url = f"http://127.0.0.1:{free_port()}/"
    text = text.replace("http://127.0.0.1:8000/", base_url)
    text = text.replace("  id: ${KEYCARD_ZONE_ID}", "  dev: true").split("credentials:")[0]
    text += "tools:\n  - name: search_docs\n    scopes: [docs:read]\n    grants: [https://docs.example/]\n"
    config = tmp_path / "adopt.yaml"
    config.write_text(text)
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp_path / "state")}
    with launch([str(config)], base_url=base_url, env=env, log_path=tmp_path / "log") as running:
        environ = {**os.environ, **env}
        zone = dev_zone_for(load_config(config, environ=environ), environ)
        token = zone.mint_access_token(user="alice", resource=running.mcp_url, scopes=["docs:read"])
        async with Client(running.mcp_url, auth=token) as client:
            result = await client.call_tool("search_docs", {"query": "hello"})
            pong = await client.call_tool("ping", {})
    assert result.data.startswith("Results for 'hello' (searched with a ")
    assert pong.data == "pong"
