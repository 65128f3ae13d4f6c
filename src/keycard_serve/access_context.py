"""What a granted tool sees: the delegated tokens it got, and the errors it did not.

The ``grant`` decorator never raises on a failed exchange (the seed package's contract); it
records the failure here, and the tool decides. Errors are plain dicts, safe to show or log:
they carry a message, the OAuth error code where there is one, and the resource — never a
token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from ._exchange import ExchangedToken
from .errors import ResourceAccessError

__all__ = ["AccessContext", "Status"]

Status = Literal["success", "partial_error", "error"]


class AccessContext:
    """Tokens and errors of one tool call, by resource."""

    def __init__(
        self,
        tokens: Mapping[str, ExchangedToken] | None = None,
        *,
        resource_errors: Mapping[str, Mapping[str, Any]] | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        self._tokens: dict[str, ExchangedToken] = dict(tokens or {})
        self._resource_errors: dict[str, dict[str, Any]] = {
            resource: dict(details) for resource, details in (resource_errors or {}).items()
        }
        self._error: dict[str, Any] | None = dict(error) if error is not None else None

    def access(self, resource: str) -> ExchangedToken:
        """The token for ``resource``; raises ``ResourceAccessError`` if there is none."""
        if self._error is not None:
            raise ResourceAccessError(
                f"Cannot access resource {resource!r}: {self._error.get('message')}",
                resource=resource,
                code="global_error",
                details={"error": dict(self._error)},
            )
        if resource in self._resource_errors:
            details = self._resource_errors[resource]
            raise ResourceAccessError(
                f"Cannot access resource {resource!r}: {details.get('message')}",
                resource=resource,
                code="resource_error",
                details={"error": dict(details)},
            )
        token = self._tokens.get(resource)
        if token is None:
            granted = ", ".join(sorted(self._tokens)) or "none"
            raise ResourceAccessError(
                f"No access token for resource {resource!r}; this tool was granted: {granted}",
                resource=resource,
                code="not_granted",
                details={"available_resources": sorted(self._tokens)},
            )
        return token

    def has_errors(self) -> bool:
        """True if there is a global error or any resource failed."""
        return self._error is not None or bool(self._resource_errors)

    def has_error(self) -> bool:
        """True only for a global error (no usable caller token, for example)."""
        return self._error is not None

    def get_error(self) -> dict[str, Any] | None:
        return dict(self._error) if self._error is not None else None

    def has_resource_error(self, resource: str) -> bool:
        return resource in self._resource_errors

    def get_resource_errors(self, resource: str) -> dict[str, Any] | None:
        details = self._resource_errors.get(resource)
        return dict(details) if details is not None else None

    def get_errors(self) -> dict[str, Any]:
        """All errors: ``{"resource_errors": {resource: error}, "error": global or None}``."""
        return {
            "resource_errors": {r: dict(d) for r, d in self._resource_errors.items()},
            "error": self.get_error(),
        }

    def get_status(self) -> Status:
        """``error`` when nothing succeeded, ``partial_error`` when some did, else ``success``."""
        if self._error is not None or (self._resource_errors and not self._tokens):
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
        """A context where nothing could be attempted (a global error)."""
        return cls(error={"message": message, "code": code})

    def __repr__(self) -> str:
        return (
            f"AccessContext(status={self.get_status()!r}, "
            f"resources={self.get_successful_resources()!r}, "
            f"failed={self.get_failed_resources()!r})"
        )
