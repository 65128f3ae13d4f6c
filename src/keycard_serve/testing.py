"""Test granted tools without an authorization server: ``mock_access_context``, and
``server_from_config`` for tools declared in a config file.

Inside the ``with`` block every ``grant``-decorated tool receives a real ``AccessContext``
built from the arguments, instead of exchanging tokens: no network, no patching, and it works
with FastMCP's in-memory ``Client(mcp)``. ``server_from_config`` builds the server a config
file describes, with its grants, in memory, so YAML-declared tools are tested the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastmcp import FastMCP

from ._exchange import ExchangedToken
from ._grant import Binding, Grant, Resolver, access_override
from .access_context import AccessContext
from .config import import_tools, load_config
from .config._provider import build_provider
from .config.imports import run_sync
from .errors import TokenExchangeError
from .launcher.runtime import Runtime, Snapshot
from .launcher.tools import ToolRegistry

__all__ = ["mock_access_context", "server_from_config"]

_NO_ZONE = (
    "server_from_config has no authorization server: call the tools inside mock_access_context()"
)


@contextlib.contextmanager
def mock_access_context(
    access_token: str = "test_access_token",  # noqa: S107 - the seed API's placeholder
    resource_tokens: Mapping[str, str] | None = None,
    has_errors: bool = False,
    error_message: str = "Mock authentication error",
) -> Iterator[AccessContext]:
    """Make granted tools see fixed tokens, or a failure (the seed package's arguments).

    Yields an ``AccessContext`` like the ones tools get (as 0.9.0 yielded its mock): any
    resource's default token, the ``resource_tokens``, or the global error.

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
        yield build([Grant(resource) for resource in tokens])
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


def server_from_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> FastMCP:
    """The FastMCP server the config file at ``path`` describes, built in memory for tests.

    The config is loaded and validated as ``keycard-serve validate`` does (``environ``
    supplies the ``${VAR}`` values, default ``os.environ``), its tool modules are imported
    (from the config's directory, then the current one) and each tool is registered with its
    ``grants`` and ``scopes`` from the file; with ``app:``, the app's tools are wrapped. Use it
    with ``Client(mcp)`` inside ``mock_access_context()``, which supplies the tokens: nothing
    here opens a socket or contacts a zone, and a granted tool called outside the mock gets an
    ``AccessContext`` with a global error saying so. Raises ``ConfigError`` for an invalid
    config, with file, line and field. Per-tool inbound ``scopes`` are enforced over HTTP by
    the launcher, not by this in-memory server.
    """
    loaded = import_tools(load_config(path, environ=environ))
    zone = loaded.config.zone
    # The provider is never asked (see _OfflineRuntime); a dev zone has no URL to give it.
    provider = build_provider(
        loaded, zone_url="https://dev-zone.invalid" if zone.dev is not None else None
    )
    runtime = _OfflineRuntime(Snapshot.of(loaded, provider))
    mcp = loaded.app or FastMCP(loaded.config.server.name)
    registry = ToolRegistry(mcp, runtime)
    if loaded.app is not None:
        run_sync(registry.adopt)
    registry.reconcile(loaded)
    return mcp


class _OfflineRuntime(Runtime):
    """The launcher's runtime, minus the zone: outside ``mock_access_context`` a granted call
    gets an error instead of a token exchange."""

    def binding(self, tool: str) -> Binding:
        def bind() -> tuple[Resolver, Sequence[Grant]]:
            return _no_zone, self.current.grants(tool)

        return bind


async def _no_zone(
    token: str | None, expires_at: float | None, grants: Sequence[Grant]
) -> AccessContext:
    return AccessContext.failed(_NO_ZONE, code="no_zone")
