"""The seed README's code samples, run as tools through FastMCP's in-memory client.

Each sample exists twice: as the README wrote it (a sync tool calling
``ctx.get_state("keycardai")``) and as an async tool awaiting it.
"""

import re

import pytest
from fastmcp import Client, Context, FastMCP

from keycard_serve import (
    AccessContext,
    AuthProvider,
    ClientSecret,
    ExchangedToken,
    ResourceAccessError,
)
from keycard_serve.testing import mock_access_context

API = "https://api.example.com"
OTHER = "https://other-api.com"


def quick_start_server(auth_provider: AuthProvider) -> FastMCP:
    auth = auth_provider.get_remote_auth_provider()
    mcp = FastMCP("My Secure FastMCP Server", auth=auth)

    @mcp.tool()
    def hello_world(name: str) -> str:
        return f"Hello, {name}!"

    return mcp


async def test_quick_start_tool_runs(auth_provider):
    async with Client(quick_start_server(auth_provider)) as client:
        result = await client.call_tool("hello_world", {"name": "Ada"})
    assert result.data == "Hello, Ada!"


def delegation_server(auth_provider: AuthProvider) -> FastMCP:
    mcp = FastMCP("My Secure FastMCP Server", auth=auth_provider.get_remote_auth_provider())

    @mcp.tool()
    @auth_provider.grant("https://api.example.com")
    def call_external_api(ctx: Context, query: str) -> str:
        access_context: AccessContext = ctx.get_state("keycardai")
        if access_context.has_errors():
            return f"Error: Failed to obtain access token - {access_context.get_errors()}"
        token = access_context.access("https://api.example.com").access_token
        return f"Results for {query} ({token})"

    @mcp.tool()
    @auth_provider.grant("https://api.example.com")
    async def call_external_api_async(ctx: Context, query: str) -> str:
        access_context: AccessContext = await ctx.get_state("keycardai")
        if access_context.has_errors():
            return f"Error: Failed to obtain access token - {access_context.get_errors()}"
        token = access_context.access("https://api.example.com").access_token
        return f"Results for {query} ({token})"

    return mcp


@pytest.mark.parametrize("tool", ["call_external_api", "call_external_api_async"])
async def test_access_delegation_sample(auth_provider, tool):
    with mock_access_context(access_token="delegated-1"):
        async with Client(delegation_server(auth_provider)) as client:
            result = await client.call_tool(tool, {"query": "q"})
    assert result.data == "Results for q (delegated-1)"


@pytest.mark.parametrize("tool", ["call_external_api", "call_external_api_async"])
async def test_without_a_caller_token_the_tool_sees_a_global_error(auth_provider, tool):
    # The in-memory client carries no bearer token, so there is nothing to exchange: the tool
    # still runs and reads the reason, as the README's error handling expects.
    async with Client(delegation_server(auth_provider)) as client:
        result = await client.call_tool(tool, {"query": "q"})
    assert result.data.startswith("Error: Failed to obtain access token")
    assert "no_token" in result.data


def multi_resource_server(auth_provider: AuthProvider) -> FastMCP:
    mcp = FastMCP("Multi", auth=auth_provider.get_remote_auth_provider())

    def report(access_context: AccessContext) -> str:
        status = access_context.get_status()
        if status == "error":
            return f"Global error: {access_context.get_error()}"
        if status == "partial_error":
            successful = access_context.get_successful_resources()
            failed = access_context.get_failed_resources()
            tokens = [access_context.access(resource).access_token for resource in successful]
            assert all(tokens)
            return f"Partial success: {len(successful)} succeeded, {len(failed)} failed"
        token1 = access_context.access(API).access_token
        token2 = access_context.access(OTHER).access_token
        return f"All resources accessed successfully: {token1} {token2}"

    @mcp.tool()
    @auth_provider.grant([API, OTHER])
    def multi_resource_tool(ctx: Context) -> str:
        return report(ctx.get_state("keycardai"))

    @mcp.tool()
    @auth_provider.grant([API, OTHER])
    async def multi_resource_tool_async(ctx: Context) -> str:
        return report(await ctx.get_state("keycardai"))

    return mcp


@pytest.mark.parametrize("tool", ["multi_resource_tool", "multi_resource_tool_async"])
@pytest.mark.parametrize(
    ("mock", "expected"),
    [
        ({"resource_tokens": {API: "a", OTHER: "b"}}, "All resources accessed successfully: a b"),
        ({"resource_tokens": {API: "a"}}, "Partial success: 1 succeeded, 1 failed"),
        # Every resource failed, no global error: 0.9.0 says partial_error, never "Global
        # error: None".
        ({"resource_tokens": {}}, "Partial success: 0 succeeded, 2 failed"),
        ({"has_errors": True, "error_message": "zone down"}, "Global error: "),
    ],
)
async def test_multiple_resources_sample(auth_provider, tool, mock, expected):
    with mock_access_context(**mock):
        async with Client(multi_resource_server(auth_provider)) as client:
            result = await client.call_tool(tool, {})
    assert result.data.startswith(expected)
    assert "Global error: None" not in result.data
    if "has_errors" in mock:
        assert "zone down" in result.data


def test_error_handling_methods_on_a_partial_failure():
    failure = {"message": "denied", "code": "invalid_target", "resource": OTHER}
    access_context = AccessContext({API: _token(API, "t")}, resource_errors={OTHER: failure})
    assert access_context.has_errors()
    assert not access_context.has_error()
    assert access_context.get_error() is None
    assert access_context.has_resource_error(OTHER)
    assert not access_context.has_resource_error(API)
    assert access_context.get_resource_errors(OTHER) == failure
    assert access_context.get_errors() == {"resource_errors": {OTHER: failure}, "error": None}
    assert access_context.get_status() == "partial_error"
    assert access_context.get_successful_resources() == [API]
    assert access_context.get_failed_resources() == [OTHER]
    assert access_context.access(API).access_token == "t"
    with pytest.raises(ResourceAccessError, match="denied") as raised:
        access_context.access(OTHER)
    assert raised.value.code == "resource_error"


def test_a_single_failed_resource_is_a_partial_error_as_in_0_9_0():
    access_context = AccessContext(resource_errors={API: {"error": "no", "resource": API}})
    assert access_context.get_status() == "partial_error"
    assert access_context.get_error() is None


def test_a_global_error_reads_as_0_9_0_code_reads_it():
    with pytest.raises(ResourceAccessError, match="zone down"):
        AccessContext.failed("zone down", code="no_token").access(API)
    assert AccessContext.failed("zone down", code="no_token").get_error()["error"] == "zone down"


def test_access_to_a_resource_that_was_never_granted_names_the_granted_ones():
    access_context = AccessContext({API: _token(API, "t")})
    with pytest.raises(
        ResourceAccessError, match=re.escape("was granted: https://api.example.com")
    ):
        access_context.access("https://elsewhere.example")


def test_client_credentials_sample():
    auth_provider = AuthProvider(
        zone_id="your-zone-id",
        mcp_server_name="My FastMCP Service",
        mcp_base_url="http://localhost:8000/",
        application_credential=ClientSecret(("your_client_id", "your_client_secret")),
    )
    assert auth_provider.application_credential.client_id == "your_client_id"
    assert "your_client_secret" not in repr(auth_provider)
    assert "your_client_secret" not in repr(auth_provider.application_credential)


def test_url_slash_requirement_sample():
    auth_provider = AuthProvider(zone_id="your-zone-id", mcp_base_url="http://localhost:8000")
    assert auth_provider.mcp_base_url == "http://localhost:8000/"
    assert auth_provider.zone_url == "https://your-zone-id.keycard.cloud"


def _token(resource: str, value: str) -> ExchangedToken:
    return ExchangedToken(access_token=value, resource=resource)
