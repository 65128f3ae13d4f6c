"""``AccessContext`` keeps keycardai-mcp-fastmcp 0.9.0's whole surface and meaning.

The first five tests restate, as our own assertions, the behaviour 0.9.0's black-box
``TestAccessContext`` tests check (tests/integration/test_grant_decorator.py in its sdist):
users build contexts with ``set_token``/``set_resource_error``/``set_error`` in their own tests,
read ``get_error()["error"]`` as a message, and get ``"partial_error"`` whenever a resource
failed without a global error.
"""

import pytest
from fastmcp import Client, Context, FastMCP

from keycard_serve import AccessContext, AuthProvider, ExchangedToken, ResourceAccessError
from keycard_serve.testing import mock_access_context

API, API1, API2 = "https://api.example.com", "https://api1.com", "https://api2.com"


def token(value: str, expires_in: int = 3600) -> ExchangedToken:
    return ExchangedToken(access_token=value, resource="", expires_in=expires_in)


def test_a_single_token_is_returned_as_given():
    given = token("test_token_123")
    access_context = AccessContext({API: given})
    assert access_context.access(API) is given
    assert access_context.access(API).access_token == "test_token_123"


def test_several_tokens_by_resource():
    one, two = token("token_1"), token("token_2", 7200)
    access_context = AccessContext({API1: one, API2: two})
    assert (access_context.access(API1), access_context.access(API2)) == (one, two)


def test_a_missing_resource_raises_with_0_9_0_details():
    access_context = AccessContext({API: token("t")})
    with pytest.raises(ResourceAccessError) as raised:
        access_context.access("https://missing.com")
    assert raised.value.details == {
        "requested_resource": "https://missing.com",
        "error_type": "missing_token",
        "available_resources": [API],
        "error_details": {},
        "solution": "Add resource to @grant() decorator",
    }


def test_error_states_set_by_hand():
    access_context = AccessContext()
    access_context.set_error({"error": "Global failure"})
    assert access_context.has_error()
    assert access_context.get_status() == "error"
    assert access_context.get_error()["error"] == "Global failure"
    with pytest.raises(ResourceAccessError, match="Global failure") as raised:
        access_context.access(API1)
    assert raised.value.details["error_type"] == "global_error"
    assert raised.value.details["error_details"] == {"error": "Global failure"}

    access_context = AccessContext()
    access_context.set_resource_error(API1, {"error": "Resource failed"})
    assert access_context.has_resource_error(API1)
    assert access_context.get_status() == "partial_error"  # no global error: 0.9.0's status
    assert access_context.get_resource_errors(API1)["error"] == "Resource failed"


def test_partial_success_built_by_hand():
    access_context = AccessContext()
    access_context.set_token(API1, token("success_token"))
    access_context.set_resource_error(API2, {"error": "Failed to get token"})

    assert access_context.get_status() == "partial_error"
    assert access_context.has_errors() and not access_context.has_error()
    assert access_context.has_resource_error(API2)
    assert access_context.get_successful_resources() == [API1]
    assert access_context.get_failed_resources() == [API2]
    assert access_context.access(API1).access_token == "success_token"
    with pytest.raises(ResourceAccessError, match="Failed to get token") as raised:
        access_context.access(API2)
    assert raised.value.code == "resource_error"
    assert raised.value.details["error_type"] == "resource_error"


def test_a_token_clears_the_resource_error_and_an_error_drops_the_token():
    access_context = AccessContext()
    access_context.set_resource_error(API1, {"error": "first try failed"})
    access_context.set_token(API1, token("second try"))
    assert not access_context.has_errors()
    assert access_context.get_status() == "success"

    access_context.set_resource_error(API1, {"error": "revoked"})
    assert access_context.get_successful_resources() == []
    assert access_context.get_failed_resources() == [API1]


def test_bulk_tokens_merge_in():
    access_context = AccessContext({API1: token("a")})
    access_context.set_bulk_tokens({API2: token("b")})
    assert access_context.get_successful_resources() == [API1, API2]
    assert access_context.get_errors() == {"resource_errors": {}, "error": None}


def test_every_resource_failing_is_a_partial_error_and_get_error_is_none():
    access_context = AccessContext(resource_errors={API1: {"error": "x"}, API2: {"error": "y"}})
    assert access_context.get_status() == "partial_error"
    assert access_context.get_error() is None
    assert access_context.get_successful_resources() == []


def test_errors_are_copies_the_caller_cannot_corrupt():
    access_context = AccessContext()
    details = {"error": "kept"}
    access_context.set_error(details)
    details["error"] = "changed"
    access_context.get_error()["error"] = "changed too"
    assert access_context.get_error() == {"error": "kept"}


# mock_access_context, as the seed README describes it.


@pytest.fixture
def auth_provider() -> AuthProvider:
    return AuthProvider(zone_id="your-zone-id", mcp_base_url="http://127.0.0.1:8000/")


def server(auth_provider: AuthProvider) -> FastMCP:
    mcp = FastMCP("Test Server")

    @mcp.tool()
    @auth_provider.grant(API)
    def read(ctx: Context, resource: str) -> str:
        access_context: AccessContext = ctx.get_state("keycardai")
        if access_context.has_errors():
            return f"errors: {access_context.get_errors()}"
        return access_context.access(resource).access_token

    return mcp


@pytest.mark.parametrize("resource", [API, "https://never-granted.example/", API2])
async def test_the_default_mock_returns_its_token_for_any_resource(auth_provider, resource):
    # Seed README: "Always returns a default access token for any resource".
    with mock_access_context(access_token="default-token"):
        async with Client(server(auth_provider)) as client:
            result = await client.call_tool("read", {"resource": resource})
    assert result.data == "default-token"


async def test_resource_tokens_make_other_granted_resources_fail(auth_provider):
    with mock_access_context(resource_tokens={API2: "t2"}):
        async with Client(server(auth_provider)) as client:
            result = await client.call_tool("read", {"resource": API})
    assert result.data.startswith("errors: ")
    assert f"'error': 'Resource not granted: {API}'" in result.data


async def test_a_mocked_global_error_carries_the_message_under_error(auth_provider):
    mcp = FastMCP("Test Server")

    @mcp.tool()
    @auth_provider.grant(API)
    async def global_error(ctx: Context) -> str:
        return (await ctx.get_state("keycardai")).get_error()["error"]

    with mock_access_context(has_errors=True, error_message="Token exchange failed"):
        async with Client(mcp) as client:
            result = await client.call_tool("global_error", {})
    assert result.data == "Token exchange failed"
