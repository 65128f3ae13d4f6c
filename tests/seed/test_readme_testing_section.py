"""The five tests of the seed README's Testing section, verbatim but for the import lines."""

import pytest
from fastmcp import Client, Context, FastMCP

from keycard_serve.testing import mock_access_context


@pytest.mark.asyncio
async def test_tool_with_default_token(auth_provider):
    """Test a tool with default access token."""
    # Create FastMCP server
    mcp = FastMCP("Test Server", auth=auth_provider.get_remote_auth_provider())

    @mcp.tool()
    @auth_provider.grant("https://api.example.com")
    def call_external_api(ctx: Context, query: str) -> str:
        access_context = ctx.get_state("keycardai")
        if access_context.has_errors():
            return f"Error: {access_context.get_errors()}"
        token = access_context.access("https://api.example.com").access_token
        return f"API result for {query} with token {token}"

    # Test with default token
    with mock_access_context():  # Uses "test_access_token" by default
        async with Client(mcp) as client:
            result = await client.call_tool("call_external_api", {"query": "test"})
            assert result is not None
            assert "test_access_token" in result.data
            assert "API result for test" in result.data


@pytest.mark.asyncio
async def test_tool_with_custom_token(auth_provider):
    """Test a tool with a specific access token."""
    mcp = FastMCP("Test Server", auth=auth_provider.get_remote_auth_provider())

    @mcp.tool()
    @auth_provider.grant("https://api.example.com")
    def call_external_api(ctx: Context, query: str) -> str:
        access_context = ctx.get_state("keycardai")
        token = access_context.access("https://api.example.com").access_token
        return f"API result for {query} with token {token}"

    # Test with custom token
    with mock_access_context(access_token="my_custom_token_123"):
        async with Client(mcp) as client:
            result = await client.call_tool("call_external_api", {"query": "test"})
            assert "my_custom_token_123" in result.data


@pytest.mark.asyncio
async def test_tool_with_resource_specific_tokens(auth_provider):
    """Test a tool with different tokens for different resources."""
    mcp = FastMCP("Test Server", auth=auth_provider.get_remote_auth_provider())

    @mcp.tool()
    @auth_provider.grant(["https://api.example.com", "https://calendar-api.com"])
    def sync_data(ctx: Context) -> str:
        access_context = ctx.get_state("keycardai")
        api_token = access_context.access("https://api.example.com").access_token
        calendar_token = access_context.access("https://calendar-api.com").access_token
        return f"API: {api_token}, Calendar: {calendar_token}"

    # Test with resource-specific tokens
    with mock_access_context(
        resource_tokens={
            "https://api.example.com": "api_token_123",
            "https://calendar-api.com": "calendar_token_456",
        }
    ):
        async with Client(mcp) as client:
            result = await client.call_tool("sync_data", {})
            assert "api_token_123" in result.data
            assert "calendar_token_456" in result.data


@pytest.mark.asyncio
async def test_tool_with_authentication_error(auth_provider):
    """Test tool behavior when authentication fails."""
    mcp = FastMCP("Test Server", auth=auth_provider.get_remote_auth_provider())

    @mcp.tool()
    @auth_provider.grant("https://api.example.com")
    def failing_tool(ctx: Context, query: str) -> str:
        access_context = ctx.get_state("keycardai")
        # Always check for errors first
        if access_context.has_errors():
            return f"Authentication failed: {access_context.get_errors()}"
        token = access_context.access("https://api.example.com").access_token  # noqa: F841
        return f"Success: {query}"

    # Test with authentication error
    with mock_access_context(has_errors=True, error_message="Token exchange failed"):
        async with Client(mcp) as client:
            result = await client.call_tool("failing_tool", {"query": "test"})
            assert result is not None
            assert "Authentication failed" in result.data
            assert "Token exchange failed" in result.data


@pytest.mark.asyncio
async def test_tool_with_custom_error_message(auth_provider):
    """Test tool with custom error message."""
    mcp = FastMCP("Test Server", auth=auth_provider.get_remote_auth_provider())

    @mcp.tool()
    @auth_provider.grant("https://api.example.com")
    def error_handling_tool(ctx: Context) -> str:
        access_context = ctx.get_state("keycardai")
        if access_context.has_errors():
            return f"Error occurred: {access_context.get_errors()}"
        return "Success"

    # Test with custom error message
    with mock_access_context(has_errors=True, error_message="Custom auth error"):
        async with Client(mcp) as client:
            result = await client.call_tool("error_handling_tool", {})
            assert "Custom auth error" in result.data
