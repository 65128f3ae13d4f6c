"""``validate --online``: ask the zone whether a loaded config would work, without serving.

Discovery must succeed (RFC 8414, with a matching issuer) and, when the zone lists its grant
types, name token exchange; the credentials must be accepted by the token endpoint. The
credential check sends a token exchange (RFC 8693) with a deliberately invalid subject token:
an authorization server authenticates the client before it looks at the grant (RFC 6749
section 5.2), so the error code tells bad credentials (``invalid_client``) and a client not
allowed the grant (``unauthorized_client``) from good ones (any other refusal). An exchange
that could not be made at all is reported as "could not check", never as bad credentials.
"""

from __future__ import annotations

import httpx

from .._discovery import ZoneDiscovery
from .._exchange import TokenExchanger
from .._http import ClientPool
from .._protocol import TOKEN_EXCHANGE_GRANT
from .._urls import resolve_zone_url
from ..errors import DiscoveryError, TokenExchangeError
from ._provider import credential_from
from .findings import Finding
from .loader import LoadedConfig

__all__ = ["check_online"]

_PROBE_SUBJECT = "keycard-serve-validate-probe"
_PROBE_RESOURCE = "https://keycard-serve.invalid/validate"
# OAuth error codes that say the client authenticated but the probe itself was refused.
_PROBE_REFUSED = ("invalid_request", "invalid_grant", "invalid_target", "invalid_scope")
_OIDC_PROVIDER_GRANT_REFUSED = "requested grant type is not allowed for this client"


async def check_online(
    loaded: LoadedConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[Finding]:
    """The problems the zone reports with ``loaded``, placed on the config's lines.

    Empty when all is well, and for a dev zone (it lives inside the launcher). ``transport``
    replaces the network (tests). Never raises for an unreachable zone: that is a finding.
    """
    config = loaded.config
    if config.zone.dev is not None:
        return []
    pool = ClientPool(transport=transport)
    try:
        discovery = ZoneDiscovery(resolve_zone_url(config.zone.id, config.zone.url), pool.get)
        try:
            metadata = await discovery.metadata()
        except DiscoveryError as exc:
            return [loaded.locator.at(("zone",), f"discovery failed: {exc.message}")]
        findings = []
        supported = metadata.document.get("grant_types_supported")
        if isinstance(supported, list) and TOKEN_EXCHANGE_GRANT not in supported:
            message = "the zone does not list the token-exchange grant"
            findings.append(loaded.locator.at(("zone",), message))
        credential = credential_from(config)
        if credential is not None:
            exchanger = TokenExchanger(discovery.metadata, credential, pool.get, retries=0)
            findings += await _credential_findings(loaded, exchanger)
        return findings
    finally:
        await pool.aclose()


async def _credential_findings(loaded: LoadedConfig, exchanger: TokenExchanger) -> list[Finding]:
    try:
        await exchanger.exchange(_PROBE_SUBJECT, _PROBE_RESOURCE)
    except TokenExchangeError as exc:
        return _judge(loaded, exc)
    message = "the zone exchanged an invalid subject token; check that it validates tokens"
    return [loaded.locator.at(("credentials",), message, "warning")]


def _judge(loaded: LoadedConfig, exc: TokenExchangeError) -> list[Finding]:
    where = ("credentials",)
    if exc.error == "invalid_client":
        message = "the zone refused the client credentials (invalid_client)"
        return [loaded.locator.at(where, message)]
    if exc.error == "unauthorized_client" or _grant_refused_by_oidc_provider(exc):
        reason = exc.description or exc.error
        message = f"this client may not use token exchange: {reason}"
        return [loaded.locator.at(where, message)]
    if exc.error is None:  # no OAuth answer: network, timeout, discovery, HTTP error page
        return [loaded.locator.at(where, f"could not check the credentials: {exc.message}")]
    if exc.error not in _PROBE_REFUSED:
        message = f"unexpected answer to the probe: {exc.error}"
        return [loaded.locator.at(where, message, "warning")]
    return []


def _grant_refused_by_oidc_provider(exc: TokenExchangeError) -> bool:
    """node-oidc-provider answers a client not allowed a grant with ``invalid_request`` and
    this description, where RFC 6749 section 5.2 says ``unauthorized_client``."""
    return exc.error == "invalid_request" and exc.description == _OIDC_PROVIDER_GRANT_REFUSED
