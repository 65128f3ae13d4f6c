"""What a doctor run found: per client, its requests and its checks."""

from __future__ import annotations

from dataclasses import dataclass

from .clients import ClientProfile
from .probe import Exchange

__all__ = ["Check", "ClientReport", "Diagnosis"]


@dataclass(frozen=True)
class Check:
    """One requirement of one client; ``fix`` says what to change when it fails."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class ClientReport:
    profile: ClientProfile
    exchanges: tuple[Exchange, ...]
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)


@dataclass(frozen=True)
class Diagnosis:
    """``nearby``: the MCP endpoint found one path segment below ``url`` when ``url`` itself
    is not one (the base URL given instead of the endpoint's), else None."""

    url: str
    clients: tuple[ClientReport, ...]
    nearby: str | None = None

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.clients)
