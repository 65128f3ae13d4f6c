"""``/register``: open RFC 7591 dynamic client registration, as MCP clients expect."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._authority import Authority
from ._clients import RegisteredClient
from ._log import log
from ._oauth import OAuthError, json_response, read_json

__all__ = ["RegistrationEndpoint"]


class RegistrationEndpoint:
    def __init__(self, authority: Authority) -> None:
        self._authority = authority

    async def __call__(self, request: Request) -> Response:
        metadata = await read_json(request, error="invalid_client_metadata")
        if not isinstance(metadata, dict):
            raise OAuthError("invalid_client_metadata", "body must be a JSON object")
        client = self._authority.clients.register(RegisteredClient.from_metadata(metadata))
        log.info(
            "registered client %s (%s, %s)",
            client.client_id,
            client.client_name or "unnamed",
            client.token_endpoint_auth_method,
        )
        return json_response(client.registration_response(), status=201)
