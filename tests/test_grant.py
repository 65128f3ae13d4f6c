"""The grant decorator as FastMCP sees it: signatures, sync tools off the loop, state access."""

from __future__ import annotations

import threading
from typing import Annotated, Optional

import pytest
from fastmcp import Client, Context, FastMCP

from keycard_serve import AuthProvider, ConfigurationError, MissingContextError
from keycard_serve.testing import mock_access_context

API = "https://api.example.com"


@pytest.fixture
def provider() -> AuthProvider:
    return AuthProvider(zone_url="http://127.0.0.1:9", mcp_base_url="http://127.0.0.1:8000")


def test_a_tool_without_context_is_refused_when_decorated(provider):
    with pytest.raises(MissingContextError, match=r"no_context_tool.*has no Context parameter"):

        @provider.grant(API)
        def no_context_tool(query: str) -> str:
            return query


@pytest.mark.parametrize("annotation", ["plain", "optional", "union", "annotated"])
async def test_context_is_found_however_it_is_annotated(provider, annotation):
    mcp = FastMCP("t")

    if annotation == "plain":

        def tool(ctx: Context, q: str) -> str:
            return ctx.get_state("keycardai").access(API).access_token + q

    elif annotation == "optional":

        def tool(q: str, ctx: Optional[Context] = None) -> str:  # noqa: UP045 - the point
            return ctx.get_state("keycardai").access(API).access_token + q

    elif annotation == "union":

        def tool(q: str, ctx: Context | None = None) -> str:
            return ctx.get_state("keycardai").access(API).access_token + q

    else:

        def tool(q: str, ctx: Annotated[Context, "injected"]) -> str:
            return ctx.get_state("keycardai").access(API).access_token + q

    mcp.tool(name="tool")(provider.grant(API)(tool))
    with mock_access_context(access_token="tok-"):
        async with Client(mcp) as client:
            tools = await client.list_tools()
            result = await client.call_tool("tool", {"q": "x"})
    assert result.data == "tok-x"
    assert list(tools[0].input_schema["properties"]) == ["q"]  # ctx stays hidden


async def test_sync_tools_run_off_the_event_loop(provider):
    mcp = FastMCP("t")
    loop_thread = threading.get_ident()

    @mcp.tool()
    @provider.grant(API)
    def where(ctx: Context) -> bool:
        return threading.get_ident() != loop_thread

    with mock_access_context():
        async with Client(mcp) as client:
            result = await client.call_tool("where", {})
    assert result.data is True


async def test_sync_tools_can_use_other_context_state_and_methods(provider):
    mcp = FastMCP("t")

    @mcp.tool()
    @provider.grant(API)
    def stateful(ctx: Context) -> str:
        ctx.set_state("note", "kept", serializable=False)
        return ctx.get_state("note")

    with mock_access_context():
        async with Client(mcp) as client:
            result = await client.call_tool("stateful", {})
    assert result.data == "kept"


async def test_async_tools_await_the_state(provider):
    mcp = FastMCP("t")

    @mcp.tool()
    @provider.grant([API, "https://other.example"])
    async def both(ctx: Context) -> list[str]:
        access_context = await ctx.get_state("keycardai")
        return access_context.get_successful_resources()

    with mock_access_context():
        async with Client(mcp) as client:
            result = await client.call_tool("both", {})
    assert result.data == [API, "https://other.example"]


async def test_the_access_context_does_not_outlive_the_request(provider):
    mcp = FastMCP("t")

    @mcp.tool()
    @provider.grant(API)
    async def granted(ctx: Context) -> str:
        return (await ctx.get_state("keycardai")).access(API).access_token

    @mcp.tool()
    async def later(ctx: Context) -> bool:
        return await ctx.get_state("keycardai") is None

    with mock_access_context(access_token="secret-ish"):
        async with Client(mcp, mode="legacy") as client:
            await client.call_tool("granted", {})
            result = await client.call_tool("later", {})
    assert result.data is True


async def test_calling_the_undecorated_path_directly_without_context_fails_clearly(provider):
    @provider.grant(API)
    async def tool(ctx: Context) -> str:
        return "never"

    with pytest.raises(MissingContextError, match="without a FastMCP Context"):
        await tool(ctx=None)


@pytest.mark.parametrize("tool_decorator", ["tool()", "tool", "tool(name='renamed')"])
def test_grant_above_mcp_tool_is_refused_with_the_right_order(provider, tool_decorator):
    # FastMCP registers the bare function; a grant above it would wrap a copy nobody calls.
    mcp = FastMCP("t")
    source = (
        f"@provider.grant(API)\n@mcp.{tool_decorator}\n"
        "def search(ctx: Context, query: str) -> str:\n    return query\n"
    )
    with pytest.raises(ConfigurationError, match=r"above @mcp\.tool\(\)") as raised:
        exec(
            compile(source, "<module>", "exec"),
            {"provider": provider, "mcp": mcp, "API": API, "Context": Context},
        )
    assert raised.value.code == "grant_order"
    assert "    @mcp.tool()\n    @auth_provider.grant(...)\n    def search(" in str(raised.value)


def test_grant_above_mcp_tool_is_refused_inside_a_function_too(provider):
    mcp = FastMCP("t")
    with pytest.raises(ConfigurationError, match=r"above @mcp\.tool\(\)"):

        @provider.grant(API)
        @mcp.tool()
        async def search(ctx: Context, query: str) -> str:
            return query


async def test_a_function_registered_elsewhere_can_be_granted_for_another_server(provider):
    elsewhere, mcp = FastMCP("elsewhere"), FastMCP("t")

    @elsewhere.tool()
    def search(ctx: Context, query: str) -> str:
        return ctx.get_state("keycardai").access(API).access_token + query

    mcp.tool()(provider.grant(API)(search))  # same scope as the def: allowed, the name is bound
    with mock_access_context(access_token="tok-"):
        async with Client(mcp) as client:
            result = await client.call_tool("search", {"query": "q"})
    assert result.content[0].text == "tok-q"


def test_positional_only_parameters_are_refused_as_fastmcp_refuses_them(provider):
    with pytest.raises(ConfigurationError, match="by name") as raised:

        @provider.grant(API)
        def tool(query: str, /, ctx: Context) -> str:
            return query

    assert raised.value.code == "tool_signature"


async def test_a_direct_positional_call_binds_by_the_visible_signature(provider):
    seen = {}

    @provider.grant(API)
    async def tool(ctx: Context, query: str) -> str:
        seen["query"] = query
        return (await ctx.get_state("keycardai")).access(API).access_token

    mcp = FastMCP("t")
    mcp.tool()(tool)  # FastMCP rewrites the wrapper's signature: (query, ctx)
    with mock_access_context(access_token="tok"):
        async with Client(mcp) as client:
            result = await client.call_tool("tool", {"query": "q"})
    assert result.content[0].text == "tok" and seen == {"query": "q"}
