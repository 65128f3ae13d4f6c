"""Test granted tools without an authorization server: ``mock_access_context``.

Inside the ``with`` block every ``grant``-decorated tool receives a real ``AccessContext``
built from the arguments, instead of exchanging tokens: no network, no patching, and it works
with FastMCP's in-memory ``Client(mcp)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

from ._exchange import ExchangedToken
from ._grant import Grant, access_override
from .access_context import AccessContext

__all__ = ["mock_access_context"]


@contextlib.contextmanager
def mock_access_context(
    access_token: str = "test_access_token",  # noqa: S107 - the seed API's placeholder
    resource_tokens: Mapping[str, str] | None = None,
    has_errors: bool = False,
    error_message: str = "Mock authentication error",
) -> Iterator[None]:
    """Make granted tools see fixed tokens, or a failure.

    - default: every granted resource gets ``access_token``;
    - ``resource_tokens``: those resources get their token; any other granted resource
      fails with ``resource_not_granted``;
    - ``has_errors=True``: a global error carrying ``error_message``.
    """
    tokens = dict(resource_tokens or {})

    def build(grants: Sequence[Grant]) -> AccessContext:
        if has_errors:
            return AccessContext.failed(error_message, code="mock_error")
        issued: dict[str, ExchangedToken] = {}
        errors: dict[str, dict[str, str]] = {}
        for grant in grants:
            token = tokens.get(grant.resource) if resource_tokens is not None else access_token
            if token is None:
                errors[grant.resource] = {
                    "message": f"Resource not granted by mock_access_context: {grant.resource}",
                    "code": "resource_not_granted",
                    "resource": grant.resource,
                }
            else:
                issued[grant.resource] = ExchangedToken(
                    access_token=token, resource=grant.resource, scope=grant.scopes
                )
        return AccessContext(issued, resource_errors=errors)

    reset = access_override.set(build)
    try:
        yield
    finally:
        access_override.reset(reset)
