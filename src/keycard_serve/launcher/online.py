"""``validate --online``: ask the zone whether the config would work, without serving.

Discovery must succeed with a matching issuer, and the credentials must be accepted by the
token endpoint. The credential check sends a token exchange with a deliberately invalid
subject token: an authorization server authenticates the client first (RFC 6749 section
5.2), so ``invalid_client`` means bad credentials and any other error means good ones.
"""

from __future__ import annotations

import logging

from .._delegation import Grant
from ..config import LoadedConfig
from ..errors import DiscoveryError
from ..provider import AuthProvider
from .assemble import build_provider

__all__ = ["online_problems"]

_PROBE_SUBJECT = "keycard-serve-validate-probe"


async def online_problems(loaded: LoadedConfig) -> list[tuple[str, str, str]]:
    """(field path, message, severity) for each problem the zone reports; empty when all is well."""
    if loaded.config.zone.dev is not None:
        return []  # the dev zone lives inside the launcher: nothing to reach yet
    provider = build_provider(loaded)
    try:
        try:
            metadata = await provider.metadata()
        except DiscoveryError as exc:
            return [("zone", f"discovery failed: {exc.message}", "error")]
        problems: list[tuple[str, str, str]] = []
        exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
        supported = metadata.document.get("grant_types_supported")
        if isinstance(supported, list) and exchange not in supported:
            problems.append(("zone", "the zone does not list the token-exchange grant", "error"))
        if provider.application_credential is not None:
            problems += await _credential_problems(provider)
        return problems
    finally:
        await provider.aclose()


async def _credential_problems(provider: AuthProvider) -> list[tuple[str, str, str]]:
    probe = "https://keycard-serve.invalid/validate"
    # The probe is meant to fail; its failure is the answer, not news for the log.
    delegation_log = logging.getLogger("keycard_serve._delegation")
    level = delegation_log.level
    delegation_log.setLevel(logging.ERROR)
    try:
        access = await provider.delegate(_PROBE_SUBJECT, None, [Grant(probe)])
    finally:
        delegation_log.setLevel(level)
    error = access.get_resource_errors(probe) or {}
    oauth_error, detail = error.get("error"), error.get("description") or ""
    if oauth_error in ("invalid_client", "unauthorized_client"):
        return [
            ("credentials", f"the zone refused the client credentials ({oauth_error})", "error")
        ]
    if "grant" in detail.lower() and "not allowed" in detail.lower():
        return [("credentials", f"this client may not use token exchange: {detail}", "error")]
    if error.get("code") in ("network", "timeout", "discovery_failed", "too_large", "redirect"):
        message = f"could not check the credentials: {error.get('message')}"
        return [("credentials", message, "error")]
    if oauth_error not in (None, "invalid_request", "invalid_grant", "invalid_target"):
        return [("credentials", f"unexpected answer to the probe: {oauth_error}", "warning")]
    return []
