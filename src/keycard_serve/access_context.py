"""What a granted tool sees: the delegated tokens it got, and the errors it did not.

The ``grant`` decorator never raises on a failed exchange (the seed package's contract); it
records the failure here, and the tool decides. Errors are plain dicts, safe to show or log:
0.9.0's ``error`` (a message), our stable ``code``, the OAuth error code where there is one,
and the resource; never a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ._exchange import ExchangedToken
from .errors import ResourceAccessError

__all__ = ["AccessContext", "Status"]

Status = Literal["success", "partial_error", "error"]


class AccessContext:
    """Tokens and errors of one tool call, by resource (the surface of 0.9.0's class, whole).

    Error dicts (``get_error()``, ``get_resource_errors(r)``) have 0.9.0's ``"error"`` key, a
    message for people; those keycard-serve records add ``message`` (the same text),
    ``code`` (stable, e.g. ``invalid_target``, ``timeout``, ``no_token``), ``resource``,
    ``retryable`` and, when the authorization server answered, ``oauth_error`` (the RFC 6749
    section 5.2 ``error``), ``description`` (its ``error_description``) and ``status`` (HTTP).
    They never contain a token.
    """

    def __init__(
        self,
        access_tokens: Mapping[str, ExchangedToken] | None = None,
        *,
        resource_errors: Mapping[str, Mapping[str, Any]] | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        self._tokens: dict[str, ExchangedToken] = dict(access_tokens or {})
        self._resource_errors: dict[str, dict[str, Any]] = {
            resource: dict(details) for resource, details in (resource_errors or {}).items()
        }
        self._error: dict[str, Any] | None = dict(error) if error is not None else None

    def set_bulk_tokens(self, access_tokens: Mapping[str, ExchangedToken]) -> None:
        """Add tokens for several resources (errors already recorded stay, as in 0.9.0)."""
        self._tokens.update(access_tokens)

    def set_token(self, resource: str, token: ExchangedToken) -> None:
        """Set the token for ``resource`` and clear that resource's error."""
        self._tokens[resource] = token
        self._resource_errors.pop(resource, None)

    def set_resource_error(self, resource: str, error: Mapping[str, Any]) -> None:
        """Record that ``resource`` failed; its token, if any, is dropped."""
        self._resource_errors[resource] = dict(error)
        self._tokens.pop(resource, None)

    def set_error(self, error: Mapping[str, Any]) -> None:
        """Record a global error: every ``access()`` then raises."""
        self._error = dict(error)

    def access(self, resource: str) -> ExchangedToken:
        """The token for ``resource``.

        Raises ``ResourceAccessError`` with ``code`` ``global_error``, ``resource_error`` or
        ``not_granted``; its ``details`` carry 0.9.0's keys (``requested_resource``,
        ``error_type``, ``available_resources``, ``error_details``, ``solution``) and
        ``error``, the error dict.
        """
        if self._error is not None:
            raise self._refusal(resource, "global_error", self._error)
        if resource in self._resource_errors:
            raise self._refusal(resource, "resource_error", self._resource_errors[resource])
        token = self._tokens.get(resource)
        if token is None:
            raise self._refusal(resource, "missing_token", None)
        return token

    def has_errors(self) -> bool:
        """True if there is a global error or any resource failed."""
        return self._error is not None or bool(self._resource_errors)

    def has_error(self) -> bool:
        """True only for a global error (no usable caller token, for example)."""
        return self._error is not None

    def get_error(self) -> dict[str, Any] | None:
        """The global error dict, or None."""
        return dict(self._error) if self._error is not None else None

    def has_resource_error(self, resource: str) -> bool:
        return resource in self._resource_errors

    def get_resource_errors(self, resource: str) -> dict[str, Any] | None:
        """The error dict of ``resource``, or None."""
        details = self._resource_errors.get(resource)
        return dict(details) if details is not None else None

    def get_errors(self) -> dict[str, Any]:
        """All errors: ``{"resource_errors": {resource: error}, "error": global or None}``."""
        return {
            "resource_errors": {r: dict(d) for r, d in self._resource_errors.items()},
            "error": self.get_error(),
        }

    def get_status(self) -> Status:
        """``error`` for a global error, ``partial_error`` when any resource failed, else
        ``success``.

        As in 0.9.0, resources that all failed without a global error are a
        ``partial_error``; ``get_successful_resources()`` is then empty.
        """
        if self._error is not None:
            return "error"
        if self._resource_errors:
            return "partial_error"
        return "success"

    def get_successful_resources(self) -> list[str]:
        return list(self._tokens)

    def get_failed_resources(self) -> list[str]:
        return list(self._resource_errors)

    @classmethod
    def failed(cls, message: str, *, code: str) -> AccessContext:
        """A context where nothing could be attempted: a global error with ``message``."""
        return cls(error={"error": message, "message": message, "code": code})

    def _refusal(
        self, resource: str, error_type: str, error: Mapping[str, Any] | None
    ) -> ResourceAccessError:
        available = sorted(self._tokens)
        if error is None:
            message = f"No access token for resource {resource!r}; this tool was granted: " + (
                ", ".join(available) or "none"
            )
        else:
            reason = error.get("message") or error.get("error") or "unknown error"
            message = f"Cannot access resource {resource!r}: {reason}"
        details: dict[str, Any] = {
            "requested_resource": resource,
            "error_type": error_type,
            "available_resources": available,
            "error_details": dict(error or {}),
            "solution": _SOLUTIONS[error_type],
        }
        if error is not None:
            details["error"] = dict(error)
        return ResourceAccessError(
            message,
            resource=resource,
            code="not_granted" if error is None else error_type,
            details=details,
        )

    def __repr__(self) -> str:
        return (
            f"AccessContext(status={self.get_status()!r}, "
            f"resources={self.get_successful_resources()!r}, "
            f"failed={self.get_failed_resources()!r})"
        )


# ResourceAccessError.details["solution"], worded as 0.9.0 did.
_SOLUTIONS = {
    "global_error": "Fix authentication issues before accessing resources",
    "resource_error": "Verify resource URL and grant configuration",
    "missing_token": "Add resource to @grant() decorator",
}
