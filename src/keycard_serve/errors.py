"""The one error tree of keycard-serve.

    KeycardServeError
    ├── ConfigurationError          a caller or config mistake, raised before anything runs
    │   └── MissingContextError     a granted tool has no Context parameter
    ├── DiscoveryError              authorization-server metadata unusable or unreachable
    ├── JWKSError                   the zone's key set unusable or unreachable, or no key fits
    ├── TokenError                  an inbound bearer token was refused (answered with 401)
    ├── TokenExchangeError          an RFC 8693 exchange failed for one resource
    └── ResourceAccessError         a tool asked AccessContext for a token it does not have

Every error carries a stable ``code`` that logs, HTTP mapping and tests rely on; messages are
for people and never contain a token, an assertion or a secret.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigurationError",
    "DiscoveryError",
    "JWKSError",
    "KeycardServeError",
    "MissingContextError",
    "ResourceAccessError",
    "TokenError",
    "TokenExchangeError",
]


class KeycardServeError(Exception):
    """Root of every error keycard-serve raises on purpose."""

    default_code = "keycard_serve_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigurationError(KeycardServeError):
    """Arguments or configuration that cannot work; raised at construction time."""

    default_code = "configuration_error"


class MissingContextError(ConfigurationError):
    """A function decorated with ``grant`` has no ``Context`` parameter.

    Takes 0.9.0's keywords too (``function_name``, ``parameters``, ``runtime_context``, all
    optional, kept in ``details``); without ``message`` one is written from them.
    """

    default_code = "missing_context"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        function_name: str | None = None,
        parameters: list[str] | None = None,
        runtime_context: bool = False,
    ) -> None:
        name = f"{function_name!r}" if function_name else "the function"
        if message is None:
            message = (
                f"no Context found in {name}'s arguments at run time"
                if runtime_context
                else f"{name} needs a 'ctx: Context' parameter to use @grant"
            )
        super().__init__(message, code=code)
        self.details: dict[str, Any] = {
            "function_name": function_name or "unknown",
            "current_parameters": parameters or [],
            "runtime_context": runtime_context,
        }


class DiscoveryError(KeycardServeError):
    """Authorization-server metadata could not be fetched or failed validation."""

    default_code = "discovery_failed"


class JWKSError(KeycardServeError):
    """The zone's JWKS could not be fetched, parsed, or offered no key for a token."""

    default_code = "jwks_error"


class TokenError(KeycardServeError):
    """An inbound bearer token was rejected; ``code`` says why (never the token itself)."""

    default_code = "invalid_token"


class TokenExchangeError(KeycardServeError):
    """An RFC 8693 token exchange for one resource failed.

    ``error`` is the OAuth error code from the authorization server when it sent one
    (``invalid_target``, ``invalid_client``...), ``status`` the HTTP status when there was a
    response, and ``retryable`` whether trying again later may succeed.
    """

    default_code = "token_exchange_failed"

    def __init__(
        self,
        message: str,
        *,
        resource: str,
        code: str | None = None,
        error: str | None = None,
        description: str | None = None,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.resource = resource
        self.error = error
        self.description = description
        self.status = status
        self.retryable = retryable

    def as_dict(self) -> dict[str, Any]:
        """The plain error dict stored in an ``AccessContext`` for ``resource``.

        Keys: ``error``, ``message`` and ``raw_error`` (the same human message; ``error`` and
        ``raw_error`` are 0.9.0's keys), ``code``, ``resource``, ``retryable``; and, only when
        known, ``oauth_error`` (RFC 6749 section 5.2 ``error``), ``description`` (its
        ``error_description``) and ``status`` (the HTTP status of the token endpoint's answer).
        """
        details: dict[str, Any] = {
            "error": self.message,
            "message": self.message,
            "raw_error": self.message,
            "code": self.code,
            "resource": self.resource,
        }
        if self.error:
            details["oauth_error"] = self.error
        if self.description:
            details["description"] = self.description
        if self.status is not None:
            details["status"] = self.status
        details["retryable"] = self.retryable
        return details


class ResourceAccessError(KeycardServeError):
    """``AccessContext.access()`` was asked for a resource it holds no token for."""

    default_code = "resource_access_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        resource: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        error_type: str | None = None,
        available_resources: list[str] | None = None,
        error_details: dict[str, Any] | None = None,
    ) -> None:
        """Every argument is optional, as in 0.9.0 (``error_type``, ``available_resources``
        and ``error_details`` are its keywords, kept in ``details``)."""
        if message is None:
            message = f"no access token for {resource!r}" if resource else "no access token"
        super().__init__(message, code=code)
        self.resource = resource
        self.details = dict(details or {})
        extra = {
            "error_type": error_type,
            "available_resources": available_resources,
            "error_details": error_details,
        }
        self.details.update({k: v for k, v in extra.items() if v is not None})
