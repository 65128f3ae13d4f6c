"""The grant wrapper's calling convention, over real HTTP with a real delegated token.

Every parameter layout a user writes (Context first, in the middle, last, keyword-only,
``Annotated``, ``Optional``, ``Context | None``, with defaults), sync and async, granted as a
plain function and as a function FastMCP already registered on another server (whose
``__signature__`` then moves the Context parameter: issue 9 #1). Each tool echoes its
arguments, so a swap shows as a wrong value or a tool error.
"""

import types
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Optional

import pytest
from fastmcp import Client, Context, FastMCP

from keycard_serve import AccessContext, AuthProvider, ClientSecret
from tests.support.authserver import AuthServer
from tests.support.mcp_server import RunningServer, serve_mcp

MAIL = "https://mail.example/"


def echo(access: AccessContext, a: str, b: int) -> str:
    token = access.access(MAIL).access_token  # raises if the exchange failed
    return f"{access.get_status()}|{bool(token)}|{a!r}|{b!r}"


async def echo_async(ctx: Any, a: str, b: int) -> str:
    return echo(await ctx.get_state("keycardai"), a, b)


def first(ctx: Context, a: str, b: int = 1) -> str:
    return echo(ctx.get_state("keycardai"), a, b)


async def first_async(ctx: Context, a: str, b: int = 1) -> str:
    return await echo_async(ctx, a, b)


def middle(a: str, ctx: Context, b: int) -> str:
    return echo(ctx.get_state("keycardai"), a, b)


async def middle_async(a: str, ctx: Context, b: int) -> str:
    return await echo_async(ctx, a, b)


def last(a: str, b: int, ctx: Context) -> str:
    return echo(ctx.get_state("keycardai"), a, b)


async def last_async(a: str, b: int, ctx: Context) -> str:
    return await echo_async(ctx, a, b)


def keyword_only(a: str, *, ctx: Context, b: int = 1) -> str:
    return echo(ctx.get_state("keycardai"), a, b)


async def keyword_only_async(a: str, *, ctx: Context, b: int = 1) -> str:
    return await echo_async(ctx, a, b)


def annotated(ctx: Annotated[Context, "injected"], a: str, b: int) -> str:
    return echo(ctx.get_state("keycardai"), a, b)


async def annotated_async(ctx: Annotated[Context, "injected"], a: str, b: int) -> str:
    return await echo_async(ctx, a, b)


def optional(a: str, ctx: Optional[Context] = None, b: int = 1) -> str:  # noqa: UP045 - the point
    return echo(ctx.get_state("keycardai"), a, b)


async def optional_async(a: str, ctx: Optional[Context] = None, b: int = 1) -> str:  # noqa: UP045
    return await echo_async(ctx, a, b)


def union_first(ctx: Context | None, a: str, b: int) -> str:
    return echo(ctx.get_state("keycardai"), a, b)


async def union_first_async(ctx: Context | None, a: str, b: int) -> str:
    return await echo_async(ctx, a, b)


def all_defaults(ctx: Context, a: str = "default", b: int = 1) -> str:
    return echo(ctx.get_state("keycardai"), a, b)


async def all_defaults_async(ctx: Context, a: str = "default", b: int = 1) -> str:
    return await echo_async(ctx, a, b)


LAYOUTS: list[Callable[..., Any]] = [
    first,
    first_async,
    middle,
    middle_async,
    last,
    last_async,
    keyword_only,
    keyword_only_async,
    annotated,
    annotated_async,
    optional,
    optional_async,
    union_first,
    union_first_async,
    all_defaults,
    all_defaults_async,
]
ORIGINS = ["plain", "registered_elsewhere"]


def fresh(fn: Callable[..., Any]) -> types.FunctionType:
    """A new function object with ``fn``'s code, so registering it leaves ``fn`` untouched."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__annotations__ = dict(fn.__annotations__)
    copy.__qualname__ = fn.__qualname__
    return copy


def build_server(authserver: AuthServer) -> Callable[[str], FastMCP]:
    def build(base_url: str) -> FastMCP:
        auth_provider = AuthProvider(
            zone_url=authserver.issuer,
            mcp_server_name="Layouts",
            mcp_base_url=base_url,
            application_credential=ClientSecret(authserver.clients["mcp-server"]),
        )
        mcp = FastMCP("Layouts", auth=auth_provider.get_remote_auth_provider())
        elsewhere = FastMCP("Elsewhere")
        for layout in LAYOUTS:
            for origin in ORIGINS:
                fn = fresh(layout)
                if origin == "registered_elsewhere":
                    elsewhere.tool()(fn)  # rewrites fn.__signature__: Context moves last
                granted = auth_provider.grant(MAIL)(fn)
                mcp.tool(name=f"{layout.__name__}.{origin}")(granted)
        return mcp

    return build


@pytest.fixture(scope="module")
def server(authserver: AuthServer) -> Iterator[RunningServer]:
    with serve_mcp(build_server(authserver)) as running:
        yield running


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda fn: fn.__name__)
async def test_every_layout_gets_its_arguments_and_its_token(authserver, server, layout, origin):
    user_token = authserver.user_token("alice", server.mcp_url)
    async with Client(server.mcp_url, auth=user_token) as client:
        result = await client.call_tool(
            f"{layout.__name__}.{origin}", {"a": "hello", "b": 7}, raise_on_error=False
        )
        tools = {tool.name: tool for tool in await client.list_tools()}
    assert not result.is_error, result.content
    assert result.content[0].text == "success|True|'hello'|7"
    schema = tools[f"{layout.__name__}.{origin}"].input_schema
    assert set(schema["properties"]) == {"a", "b"}  # the Context stays hidden from clients


async def test_defaults_fill_in_when_the_client_omits_arguments(authserver, server):
    user_token = authserver.user_token("alice", server.mcp_url)
    async with Client(server.mcp_url, auth=user_token) as client:
        plain = await client.call_tool("all_defaults.plain", {})
        registered = await client.call_tool("all_defaults_async.registered_elsewhere", {"b": 3})
    assert plain.content[0].text == "success|True|'default'|1"
    assert registered.content[0].text == "success|True|'default'|3"
