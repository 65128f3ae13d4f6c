"""Test granted tools without an authorization server: ``mock_access_context``.

Inside the ``with`` block every ``grant``-decorated tool receives a real ``AccessContext``
built from the arguments, instead of exchanging tokens: no network, no patching, and it works
with FastMCP's in-memory ``Client(mcp)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ._exchange import ExchangedToken
from ._grant import Grant, access_override
from .access_context import AccessContext
from .errors import TokenExchangeError

__all__ = ["mock_access_context"]


@contextlib.contextmanager
def mock_access_context(
    access_token: str = "test_access_token",  # noqa: S107 - the seed API's placeholder
    resource_tokens: Mapping[str, str] | None = None,
    has_errors: bool = False,
    error_message: str = "Mock authentication error",
) -> Iterator[None]:
    """Make granted tools see fixed tokens, or a failure (the seed package's arguments).

    - default: ``access(resource)`` returns ``access_token`` for any resource, granted or not;
    - ``resource_tokens``: those resources get their token; any other granted resource fails
      with the resource error ``"Resource not granted: <resource>"`` (code
      ``resource_not_granted``), so ``has_errors()`` is true;
    - ``has_errors=True``: a global error whose ``error`` (and ``message``) is
      ``error_message``.
    """
    tokens = dict(resource_tokens or {})

    def build(grants: Sequence[Grant]) -> AccessContext:
        if has_errors:
            return AccessContext.failed(error_message, code="mock_error")
        if resource_tokens is None:
            return _AnyResource(access_token, grants)
        issued: dict[str, ExchangedToken] = {}
        errors: dict[str, dict[str, Any]] = {}
        for grant in grants:
            if grant.resource in tokens:
                issued[grant.resource] = _token(tokens[grant.resource], grant)
            else:
                errors[grant.resource] = TokenExchangeError(
                    f"Resource not granted: {grant.resource}",
                    resource=grant.resource,
                    code="resource_not_granted",
                ).as_dict()
        return AccessContext(issued, resource_errors=errors)

    reset = access_override.set(build)
    try:
        yield
    finally:
        access_override.reset(reset)


class _AnyResource(AccessContext):
    """The default mock: a token for the granted resources, and for any other one asked."""

    def __init__(self, access_token: str, grants: Sequence[Grant]) -> None:
        super().__init__({grant.resource: _token(access_token, grant) for grant in grants})
        self._default = access_token

    def access(self, resource: str) -> ExchangedToken:
        if self.has_error() or self.has_resource_error(resource):
            return super().access(resource)
        if resource not in self.get_successful_resources():
            return ExchangedToken(access_token=self._default, resource=resource)
        return super().access(resource)


def _token(access_token: str, grant: Grant) -> ExchangedToken:
    return ExchangedToken(access_token=access_token, resource=grant.resource, scope=grant.scopes)
