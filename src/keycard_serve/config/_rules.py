"""Rules that span sections of a validated config, reported at the field that breaks them.

They live here rather than in model validators because a model validator can only report at
its own model, while these name the exact field (``tools[2].function``) and line.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from .._scopes import find_cycle
from ..credentials import read_platform_token
from ..errors import ConfigurationError
from ._locate import Locator
from ._secrets import loose_mode
from ._urls import is_plain_remote_http
from .findings import Finding
from .models import ServeConfig, WorkloadIdentityCredentials

# Entra's multi-tenant issuer names: any tenant's tokens would carry a different issuer.
_SHARED_TENANTS = ("common", "organizations", "consumers")

__all__ = ["check_rules"]


def check_rules(config: ServeConfig, where: Locator) -> list[Finding]:
    """Every cross-section problem of ``config``, errors and warnings, placed by ``where``."""
    return [
        *_zone_dependent(config, where),
        *_scope_hierarchy(config, where),
        *_tool_shapes(config, where),
        *_grants(config, where),
        *_secret_files(config, where),
        *_token_shapes(config, where),
        *_workload_identity(config, where),
        *_metrics_port(config, where),
    ]


def _zone_dependent(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    if config.zone.dev is not None:
        return
    if config.credentials is None and any(tool.grants for tool in config.tools):
        yield where.at(
            ("credentials",),
            "required for tools with grants unless the zone is a dev zone (dev: true)",
        )
    if is_plain_remote_http(config.server.base_url):
        yield where.at(
            ("server", "base_url"),
            "plain http is only allowed for loopback hosts unless the zone is dev; use https",
        )


def _scope_hierarchy(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    cycle = find_cycle(config.zone.scope_hierarchy)
    if cycle is not None:
        yield where.at(
            ("zone", "scope_hierarchy", cycle[0]),
            "scopes imply each other in a cycle (" + " -> ".join(cycle) + "); "
            "a scope may only imply narrower ones",
            key=True,
        )


def _tool_shapes(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    if config.app is None and not config.tools:
        yield where.at(
            ("tools",), "at least one tool is needed, or name an existing server in app:"
        )
    for index, tool in enumerate(config.tools):
        if config.app is None and tool.function is None:
            yield where.at(
                ("tools", index, "function"),
                "required (package.module:function); tools by name alone need app:",
            )
        if config.app is not None and tool.function is not None:
            yield where.at(
                ("tools", index, "function"),
                "not allowed with app:, whose tools are configured by name; remove it",
            )
        if config.app is not None and tool.name is None:
            yield where.at(("tools", index, "name"), "required with app: to pick the app's tool")


def _grants(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    for index, tool in enumerate(config.tools):
        seen: dict[str, int] = {}
        for position, grant in enumerate(tool.grants):
            path = ("tools", index, "grants", position, "resource")
            if grant.resource in seen:
                yield where.at(path, f"already granted as grants[{seen[grant.resource]}]")
            seen.setdefault(grant.resource, position)
            if urlsplit(grant.resource).query:
                yield where.at(
                    path,
                    "has a ?query, which RFC 8707 advises against; the zone may refuse it",
                    "warning",
                )


def _secret_files(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    for name in ("client_secret_file", "private_key_file"):
        secret_file = getattr(config.credentials, name, None)
        mode = loose_mode(secret_file.path) if secret_file is not None else None
        if mode is not None:
            yield where.at(
                ("credentials", name),
                f"the file is readable by group or others (mode {mode:04o}); chmod 600 it",
                "warning",
            )


def _token_shapes(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    """Settings that accept another server's token shapes, where they cost safety."""
    zone = config.zone
    for index, issuer in enumerate(zone.accepted_issuers):
        segments = urlsplit(issuer).path.strip("/").split("/")
        if "{" in issuer or any(segment in _SHARED_TENANTS for segment in segments):
            yield where.at(
                ("zone", "accepted_issuers", index),
                "an accepted issuer is compared exactly and must name your own tenant; "
                "templates and common/organizations/consumers would accept other tenants' "
                "tokens signed with the same keys",
            )
    if zone.tokens_without_audience:
        yield where.at(
            ("zone", "tokens_without_audience"),
            "tokens without aud are bound to no server: ANY access token of these app "
            "clients is accepted, whatever it was meant for; use a client dedicated to this "
            "server",
            "warning",
        )
    if zone.exchange.flavour == "on_behalf_of" and zone.exchange.target != "resource":
        yield where.at(
            ("zone", "exchange", "target"),
            "on_behalf_of names the API in scope (<audience or resource>/<scope>); "
            "target is not used",
            "warning",
        )


def _workload_identity(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    credentials = config.credentials
    if not isinstance(credentials, WorkloadIdentityCredentials):
        return
    try:
        _, expires_at = read_platform_token(credentials.token_file)
    except ConfigurationError as exc:  # the file changed since it was loaded
        yield where.at(("credentials", "token_file"), exc.message)
        return
    if expires_at is not None and expires_at <= time.time():
        yield where.at(
            ("credentials", "token_file"),
            "the token in this file has expired; the platform must rotate it before the "
            "server exchanges tokens",
            "warning",
        )


def _metrics_port(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    metrics = config.observability.metrics
    if metrics is None:
        return
    host, port = metrics.address
    server = config.server
    hosts = {host, server.effective_host}
    wildcard = {"0.0.0.0", "::"}  # noqa: S104 - compared with, not bound
    if port == server.effective_port and (len(hosts) == 1 or hosts & wildcard):
        yield where.at(
            ("observability", "metrics", "listen"),
            f"port {port} is the MCP server's; metrics need a listener of their own",
        )
