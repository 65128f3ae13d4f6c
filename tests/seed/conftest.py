import pytest

from keycard_serve import AuthProvider


@pytest.fixture
def auth_provider() -> AuthProvider:
    """The seed README's provider; construction must not touch the network."""
    return AuthProvider(
        zone_id="your-zone-id",
        mcp_server_name="My Secure FastMCP Server",
        mcp_base_url="http://127.0.0.1:8000/",
    )
