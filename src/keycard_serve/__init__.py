"""keycard-serve: Keycard OAuth protection and per-tool delegated access for FastMCP."""

from ._delegation import Grant
from ._version import __version__
from .access_context import AccessContext, ExchangedToken
from .credentials import ApplicationCredential, ClientSecret, PrivateKeyJWT
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
    "ClientSecret",
    "ConfigurationError",
    "DiscoveryError",
    "ExchangedToken",
    "Grant",
    "JWKSError",
    "KeycardServeError",
    "MissingContextError",
    "PrivateKeyJWT",
    "ResourceAccessError",
    "TokenError",
    "TokenExchangeError",
    "__version__",
]
