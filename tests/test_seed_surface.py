"""0.9.0's public surface, extended but never narrowed (finding 9 on issue 9 #7): the calls
users wrote against keycardai-mcp-fastmcp 0.9.0 and keycardai-oauth's TokenResponse."""

from __future__ import annotations

from keycard_serve import ResourceAccessError
from keycard_serve._exchange import ExchangedToken
from keycard_serve.access_context import AccessContext
from keycard_serve.errors import MissingContextError, TokenExchangeError
from keycard_serve.testing import mock_access_context


def test_an_exchanged_token_is_built_as_0_9_0s_token_response_was():
    token = ExchangedToken(access_token="t", token_type="Bearer", expires_in=60)
    assert (token.access_token, token.token_type, token.expires_in) == ("t", "Bearer", 60)
    assert token.resource is None
    full = ExchangedToken(
        access_token="t",
        refresh_token="r-SENTINEL",
        id_token="i-SENTINEL",
        subject_issuer="https://zone.example",
        raw={"access_token": "t"},
        headers={"cache-control": "no-store"},
    )
    assert full.refresh_token == "r-SENTINEL"
    assert "SENTINEL" not in repr(full)
    # A context holds such a token like any other.
    context = AccessContext({"https://api.example/": token})
    assert context.access("https://api.example/").access_token == "t"


def test_errors_take_0_9_0s_optional_keywords():
    assert str(ResourceAccessError())
    error = ResourceAccessError(
        resource="https://api.example/",
        error_type="missing_token",
        available_resources=["https://other.example/"],
        error_details={"error": "x"},
    )
    assert error.resource == "https://api.example/"
    assert error.details["available_resources"] == ["https://other.example/"]
    missing = MissingContextError(function_name="search", parameters=["query"])
    assert "search" in str(missing)
    assert missing.details["function_name"] == "search"
    assert MissingContextError("as before").message == "as before"


def test_error_dicts_keep_0_9_0s_raw_error_key():
    details = TokenExchangeError("Token exchange failed", resource="https://a/").as_dict()
    assert details["raw_error"] == details["error"] == "Token exchange failed"


def test_mock_access_context_yields_a_context_as_0_9_0_did():
    with mock_access_context(access_token="my_token") as context:
        assert context.access("https://any.example/").access_token == "my_token"
    with mock_access_context(resource_tokens={"https://api.example.com": "token_123"}) as context:
        assert context.access("https://api.example.com").access_token == "token_123"
    with mock_access_context(has_errors=True, error_message="Auth failed") as context:
        assert context.has_errors()
        assert context.get_errors()["error"]["error"] == "Auth failed"
