"""What each MCP client requests during OAuth discovery, and what it rejects — as data.

One ``ClientProfile`` per client; the replay in ``replay.py`` is the same for all of them.
Sources are named on each profile; where public evidence is thin (Cursor, claude.ai) the
profile follows the TypeScript SDK or the MCP 2025-11-25 specification, and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .locations import (
    OAUTH_AS,
    OIDC,
    PRM,
    WellKnown,
    Where,
    exact_match,
    lenient_prefix_match,
    prefix_match,
)

__all__ = ["CLIENTS", "HEADER", "ClientProfile", "Fallback", "Registration"]

HEADER = "header"
"""In a PRM lookup order: the ``resource_metadata`` URL of the 401's ``WWW-Authenticate``."""

INSPECTOR_ORIGIN = "http://localhost:6274"


class Fallback(str, Enum):
    """Which failed answers make a client try its next candidate URL."""

    client_errors = "3xx/4xx/502"  # TS SDK (4xx, 502), Python SDK (3xx-4xx); other 5xx stop it
    any_failure = "any non-200"  # VS Code

    def moves_on(self, status: int | None) -> bool:
        if status is None or self is Fallback.any_failure:
            return True
        return 300 <= status < 500 or status == 502


class Registration(str, Enum):
    """How a client without a pre-registered id gets one."""

    dcr = "dynamic client registration (RFC 7591)"
    dcr_or_cimd = "dynamic client registration or a client ID metadata document"


@dataclass(frozen=True)
class ClientProfile:
    name: str
    title: str
    sources: str
    prm_order: tuple[str | WellKnown, ...]
    """PRM candidates in order: ``HEADER`` or a location relative to the MCP URL."""
    header_only: bool
    """True when a ``resource_metadata`` in the challenge replaces the well-known lookups."""
    resource_rule: Callable[[str, str], bool]
    resource_rule_name: str
    as_order: tuple[WellKnown, ...]
    """Authorization-server metadata candidates, relative to the PRM's first server."""
    fallback: Fallback
    registration: Registration
    checks_issuer: bool = True
    header_must_be_path_inserted: bool = False
    browser_origin: str | None = None
    """Set for browser clients: requests carry this Origin and need CORS."""
    legacy: tuple[WellKnown, ...] = ()
    """Older URLs the client probes on the MCP origin, which must not 404."""
    redirect_uris: tuple[str, ...] = ()
    """What the client registers with; only used by ``--register``."""
    unregistered: str = ""
    """What the client does when it cannot register."""


_SPEC_PRM = (HEADER, WellKnown(PRM, Where.inserted), WellKnown(PRM, Where.root))
# MCP 2025-11-25; TS SDK 2.x buildDiscoveryUrls; Python SDK
# build_oauth_authorization_server_metadata_discovery_urls; VS Code
# fetchAuthorizationServerMetadata. For a root issuer: RFC 8414, then OIDC, at the root.
_SPEC_AS = (
    WellKnown(OAUTH_AS, Where.inserted),
    WellKnown(OIDC, Where.inserted),
    WellKnown(OIDC, Where.appended),
)
# TS SDK 1.x buildDiscoveryUrls also tried RFC 8414 at the root for an issuer with a path.
_TS1_AS = (
    WellKnown(OAUTH_AS, Where.inserted),
    WellKnown(OAUTH_AS, Where.root),
    WellKnown(OIDC, Where.inserted),
    WellKnown(OIDC, Where.appended),
)
# Cursor's 404s in the 0.9.0 README's Troubleshooting log: the appended PRM, then the 1.x order
# with the MCP URL taken as the issuer (the 2025-03-26 fallback when no PRM is found).
_CURSOR_LEGACY = (WellKnown(PRM, Where.appended), *_TS1_AS)
_TS_SOURCES = (
    "typescript-sdk packages/client/src/client/auth.ts, 1.x src/client/auth.ts "
    "(extractWWWAuthenticateParams, discoverMetadataWithFallback, selectResourceURL, "
    "buildDiscoveryUrls, discoverAuthorizationServerMetadata issuer check, "
    "startAuthorization S256); shared auth-utils.ts checkResourceAllowed"
)
_TS = {
    "prm_order": _SPEC_PRM,
    "header_only": True,
    "resource_rule": prefix_match,
    "resource_rule_name": "same origin and path prefix (TS SDK checkResourceAllowed)",
    "as_order": _SPEC_AS,
    "fallback": Fallback.client_errors,
    "registration": Registration.dcr_or_cimd,
}

CLIENTS: tuple[ClientProfile, ...] = (
    ClientProfile(
        name="ts-sdk",
        title="MCP TypeScript SDK (Claude Code)",
        sources=_TS_SOURCES,
        **_TS,
    ),
    ClientProfile(
        name="inspector",
        title="MCP Inspector (TypeScript SDK in a browser, direct connection)",
        sources=_TS_SOURCES + "; cloudflare/workers-oauth-provider PR #136",
        browser_origin=INSPECTOR_ORIGIN,
        **_TS,
    ),
    ClientProfile(
        name="mcp-remote",
        title="mcp-remote (TypeScript SDK; before PR #193 it took the MCP origin as the AS)",
        sources=_TS_SOURCES + "; mcp-remote #192 / PR #193; MCP 2025-03-26 authorization",
        legacy=(WellKnown(OAUTH_AS, Where.root),),
        **_TS,
    ),
    ClientProfile(
        name="vscode",
        title="VS Code",
        sources=(
            "vscode src/vs/base/common/oauth.ts (fetchResourceMetadata, "
            "fetchAuthorizationServerMetadata, fetchDynamicRegistration); "
            "microsoft/vscode #255633, #256236, #282472"
        ),
        prm_order=_SPEC_PRM,
        header_only=True,
        resource_rule=exact_match,
        resource_rule_name="exactly the URL it was given (RFC 9728 section 3.3)",
        as_order=_SPEC_AS,
        fallback=Fallback.any_failure,
        registration=Registration.dcr,
        checks_issuer=False,
        header_must_be_path_inserted=True,
        redirect_uris=(
            "https://insiders.vscode.dev/redirect",
            "https://vscode.dev/redirect",
            "http://127.0.0.1/",
            "http://127.0.0.1:33418/",
        ),
        unregistered="VS Code then prompts users for a client id and secret",
    ),
    ClientProfile(
        name="claude-ai",
        title="claude.ai / Claude Desktop connectors (discovery from Anthropic's backend)",
        sources=(
            "field reports: anthropics/claude-ai-mcp #122, #299, #690, #786; Dokploy/mcp #82; "
            "AS order from MCP 2025-11-25 (not published by Anthropic)"
        ),
        prm_order=_SPEC_PRM,
        header_only=True,
        resource_rule=exact_match,
        resource_rule_name="exactly the URL it was given (token aud must equal it)",
        as_order=_SPEC_AS,
        fallback=Fallback.client_errors,
        registration=Registration.dcr_or_cimd,
        header_must_be_path_inserted=True,
        redirect_uris=("https://claude.ai/api/mcp/auth_callback",),
    ),
    ClientProfile(
        name="cursor",
        title="Cursor (follows the TypeScript SDK; older URLs from the 0.9.0 README)",
        sources=(
            "keycardai-mcp-fastmcp 0.9.0 README, Troubleshooting (Cursor's 404 log); "
            "IBM/mcp-context-forge #3535 / PR #3715; otherwise the TS SDK order, unverified"
        ),
        legacy=_CURSOR_LEGACY,
        **{**_TS, "as_order": _TS1_AS, "registration": Registration.dcr},
    ),
    ClientProfile(
        name="python-sdk",
        title="MCP Python SDK (fastmcp Client)",
        sources=(
            "mcp/client/auth/utils.py (build_protected_resource_metadata_discovery_urls, "
            "build_oauth_authorization_server_metadata_discovery_urls, "
            "validate_metadata_issuer); mcp/shared/auth_utils.py check_resource_allowed"
        ),
        prm_order=_SPEC_PRM,
        header_only=False,
        resource_rule=lenient_prefix_match,
        resource_rule_name="same origin and path prefix (Python SDK check_resource_allowed)",
        as_order=_SPEC_AS,
        fallback=Fallback.client_errors,
        registration=Registration.dcr_or_cimd,
    ),
)
