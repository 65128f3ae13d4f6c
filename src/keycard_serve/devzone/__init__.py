"""A development OAuth 2.0 authorization server (a "zone") that runs inside keycard-serve.

Development zone — not for production. It signs everyone in as one configured user, listens
on loopback only, and speaks what MCP clients and keycard-serve need: RFC 8414/OIDC discovery,
RFC 7591 registration, authorization code with PKCE S256 and RFC 8707 resources, refresh,
client credentials, and RFC 8693 token exchange, issuing RFC 9068 ``at+jwt`` access tokens::

    zone = DevZone(port=9000, state_dir=Path(".keycard-serve/devzone"))
    async with zone.serve():
        ...  # zone.issuer, zone.server_client, zone.mint_access_token(...)

Modules: ``_zone`` (``DevZone``: options, serving, offline minting) builds an ``_authority``
(settings, policy, short-lived stores, token minting) from ``_keys`` (the ES256 key, JWKS) and
``_clients`` (client metadata, registry, ``/register``), both kept by ``_state`` (0600 files).
``_app`` routes requests to ``_authorize`` (``/authorize``, pages) and ``_token`` (``/token``,
client authentication, exchange) behind a loopback ``Host`` guard; ``_oauth`` holds what every
endpoint shares (errors, parameters, responses, the logger); ``_loopback`` the URL rules.
"""

from __future__ import annotations

from ._authority import ScopePolicy
from ._clients import RegisteredClient
from ._zone import DevZone

__all__ = ["DevZone", "RegisteredClient", "ScopePolicy"]
