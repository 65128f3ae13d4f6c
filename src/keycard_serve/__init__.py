"""keycard-serve: Keycard OAuth protection and per-tool delegated access for FastMCP.

Map of the package (one concept per module; data flows config -> provider -> adapter -> server):

    config/            read and validate a YAML file (loader, models, findings, _yaml_hints),
                       then, as a separate step, import its tools (imports); plan, online and
                       token_shape are views and checks of a loaded config; _provider builds
                       an AuthProvider from one
    provider           AuthProvider: one zone, one MCP server; builds everything below and
                       is the adapter's TokenBackend
      _urls            the one canonical spelling of every URL (base, resource, well-known,
                       origins) and what makes a URL acceptable
      _discovery       RFC 8414 metadata of the zone, cached, one deadline, failures remembered
      _jwks, _verifier inbound JWT access tokens (RFC 9068; other servers' shapes), keys from
                       the zone's JWKS; _verified_cache remembers accepted tokens until exp
      _scopes          scope hierarchies (a broader scope implies narrower ones)
      _fastmcp_auth    KeycardAuth: the FastMCP adapter over a TokenBackend and a frozen
                       ProtectedResource (401/403/503, RFC 9728 metadata, CORS); _origin the
                       Origin rule (DNS rebinding)
      _grant           Grant, and the grant decorator: tokens in ctx.get_state("keycardai")
      _delegation      one caller token -> an AccessContext, all resources concurrently
      _exchange_cache  exchanged tokens reused until near expiry, refusals remembered briefly;
                       _shared_cache + _sealing the encrypted Redis/Valkey tier behind it
      _exchange        RFC 8693 request and response (ExchangedToken), _exchange_profile the
                       flavour and targets (token exchange, on-behalf-of); _circuit breaks outages
      credentials      how the server authenticates to the zone (ClientSecret, PrivateKeyJWT,
                       WorkloadIdentity)
      access_context   what a granted tool reads: tokens and error dicts, by resource
    _metrics, _tracing, _audit, _call_record   Prometheus metrics, OpenTelemetry spans, the
                       audit trail, and the per-call record they are written from
    _http              one pooled httpx client per loop, byte caps, deadlines
    _protocol, _algorithms, _singleflight, _signature, _sockets   shared identifiers, the JWS
                       table, one-flight calls, Context parameters, listening sockets
    launcher/          assemble the app of a config (assemble), serve it (serve, workers,
                       _heap: start-up objects frozen out of the garbage collector's way),
                       reload it (reload, watch), observe it (observe, logs), /healthz /readyz
    devzone/           an embedded authorization server for `keycard-serve dev`
    doctor/            replays real clients' discovery against a running server
    cli/               the keycard-serve command (imports FastMCP only where it serves)
    testing            mock_access_context and server_from_config for users' own tests
    errors             the one error tree
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from ._discovery import AuthorizationServerMetadata
    from ._exchange import ExchangedToken
    from ._exchange_profile import ExchangeProfile
    from ._fastmcp_auth import KeycardAuth
    from ._grant import Grant
    from ._verifier import VerifiedToken
    from .access_context import AccessContext
    from .credentials import (
        ApplicationCredential,
        ClientSecret,
        PrivateKeyJWT,
        WorkloadIdentity,
    )
    from .errors import (
        ConfigurationError,
        DiscoveryError,
        JWKSError,
        KeycardServeError,
        MissingContextError,
        ResourceAccessError,
        TokenError,
        TokenExchangeError,
    )
    from .provider import AuthProvider

__all__ = [
    "AccessContext",
    "ApplicationCredential",
    "AuthProvider",
    "AuthorizationServerMetadata",
    "ClientSecret",
    "ConfigurationError",
    "DiscoveryError",
    "ExchangeProfile",
    "ExchangedToken",
    "Grant",
    "JWKSError",
    "KeycardAuth",
    "KeycardServeError",
    "MissingContextError",
    "PrivateKeyJWT",
    "ResourceAccessError",
    "TokenError",
    "TokenExchangeError",
    "VerifiedToken",
    "WorkloadIdentity",
    "__version__",
]

# Each name's home module. They are imported on first use (PEP 562), so the keycard-serve
# command, which imports this package first, does not pay for FastMCP unless it serves.
_HOMES = {
    "AccessContext": "access_context",
    "ApplicationCredential": "credentials",
    "AuthProvider": "provider",
    "AuthorizationServerMetadata": "_discovery",
    "ClientSecret": "credentials",
    "ConfigurationError": "errors",
    "DiscoveryError": "errors",
    "ExchangeProfile": "_exchange_profile",
    "ExchangedToken": "_exchange",
    "Grant": "_grant",
    "JWKSError": "errors",
    "KeycardAuth": "_fastmcp_auth",
    "KeycardServeError": "errors",
    "MissingContextError": "errors",
    "PrivateKeyJWT": "credentials",
    "ResourceAccessError": "errors",
    "TokenError": "errors",
    "TokenExchangeError": "errors",
    "VerifiedToken": "_verifier",
    "WorkloadIdentity": "credentials",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
