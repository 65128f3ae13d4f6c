"""Rules that span sections of a validated config, reported at the field that breaks them.

They live here rather than in model validators because a model validator can only report at
its own model, while these name the exact field (``tools[2].function``) and line.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from ._locate import Locator
from ._secrets import loose_mode
from ._urls import is_plain_remote_http
from .findings import Finding
from .models import ServeConfig

__all__ = ["check_rules"]


def check_rules(config: ServeConfig, where: Locator) -> list[Finding]:
    """Every cross-section problem of ``config``, errors and warnings, placed by ``where``."""
    return [
        *_zone_dependent(config, where),
        *_tool_shapes(config, where),
        *_grants(config, where),
        *_secret_files(config, where),
    ]


def _zone_dependent(config: ServeConfig, where: Locator) -> Iterator[Finding]:
    if config.zone.dev is not None:
        return
    if config.credentials is None:
        yield where.at(("credentials",), "required unless the zone is a dev zone (dev: true)")
    if is_plain_remote_http(config.server.base_url):
        yield where.at(
            ("server", "base_url"),
            "plain http is only allowed for loopback hosts unless the zone is dev; use https",
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
