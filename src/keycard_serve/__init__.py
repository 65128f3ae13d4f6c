"""keycard-serve: Keycard OAuth protection and per-tool delegated access for FastMCP."""

from ._exchange import ExchangedToken
from ._grant import Grant
from ._version import __version__
from .access_context import AccessContext
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
