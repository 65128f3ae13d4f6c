"""``validate --online``: ask the zone whether a loaded config would work, without serving.

Discovery must succeed (RFC 8414, with a matching issuer) and, when the zone lists its grant
types, name token exchange; the credentials must be accepted by the token endpoint. The
credential check sends a token exchange (RFC 8693) with a deliberately invalid subject token:
an authorization server authenticates the client before it looks at the grant (RFC 6749
section 5.2), so the OAuth error code alone tells bad credentials (``invalid_client``) and a
client not allowed the grant (``unauthorized_client``) from a probe refused for its subject
token (``invalid_grant``, ``invalid_target``, ``invalid_scope``). ``invalid_request`` (RFC 8693
section 2.2.2's answer for a bad subject token, but also some servers' answer for a grant the
client may not use) and unknown codes are reported as what they are, a refused probe, with
no claim about the credentials. An exchange that could not be made at all is reported as
"could not check", never as bad credentials. A dev zone is not checked (it lives inside the
launcher), and the result says so. The grant looked for and the probe sent follow
``zone.exchange`` (Entra's on-behalf-of is the ``jwt-bearer`` grant).

With a sample token (``validate --online --token``), its shape is held against the config
(``token_shape``: issuer vs the discovery issuer, audience, ``typ``, where the scopes sit) and,
when nothing there is wrong, it is verified as the server would (signature, expiry); the
token never appears in a finding.

With a ``cache:`` section, the shared token cache must answer a PING (nothing is read or
written), dev zone or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .._discovery import ZoneDiscovery
from .._exchange import TokenExchanger
from .._http import ClientPool
from .._protocol import JWT_BEARER_GRANT
from .._sealing import default_namespace
from .._shared_cache import SharedTokenCache
from .._urls import resolve_zone_url
from ..errors import DiscoveryError, JWKSError, TokenError, TokenExchangeError
from ._provider import build_provider, credential_from
from .findings import Finding
from .loader import LoadedConfig
from .token_shape import decode_sample, token_shape_findings

__all__ = ["check_online"]

_PROBE_SUBJECT = "keycard-serve-validate-probe"
_PROBE_RESOURCE = "https://keycard-serve.invalid/validate"
# OAuth error codes that say the client authenticated and the probe's subject token or
# target was refused, as it should be.
_PROBE_REFUSED = ("invalid_grant", "invalid_target", "invalid_scope")
_PING_TIMEOUT = 2.0  # seconds: a CI runner reaching a managed store is slower than loopback


async def check_online(
    loaded: LoadedConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sample_token: str | None = None,
) -> list[Finding]:
    """The problems the zone reports with ``loaded``, placed on the config's lines.

    Empty when all is well; for a dev zone (it lives inside the launcher) a warning that
    nothing was checked. ``transport`` replaces the network for discovery and the probe
    (tests); verifying ``sample_token`` (an access token from the zone) fetches the zone's
    keys over the network. Never raises for an unreachable zone or store: that is a finding.
    """
    config = loaded.config
    store_findings = await _cache_findings(loaded)
    if config.zone.dev is not None:
        message = "online checks skipped: a development zone runs inside the launcher"
        return [*store_findings, loaded.locator.at(("zone", "dev"), message, "warning")]
    pool = ClientPool(transport=transport)
    try:
        discovery = ZoneDiscovery(resolve_zone_url(config.zone.id, config.zone.url), pool.get)
        try:
            metadata = await discovery.metadata()
        except DiscoveryError as exc:
            message = f"discovery failed: {exc.message}"
            return [*store_findings, loaded.locator.at(("zone",), message)]
        findings = store_findings
        profile = config.zone.exchange.profile
        supported = metadata.document.get("grant_types_supported")
        # Only a server that may delegate needs the grant (Cognito's configs have neither).
        delegates = config.credentials is not None or any(t.grants for t in config.tools)
        if delegates and isinstance(supported, list) and profile.grant_type not in supported:
            if profile.flavour == "on_behalf_of":
                message = "the zone does not list the jwt-bearer grant (on-behalf-of)"
            else:
                message = "the zone does not list the token-exchange grant"
                if JWT_BEARER_GRANT in supported:
                    message += "; for Microsoft Entra ID set zone.exchange.flavour: on_behalf_of"
            findings.append(loaded.locator.at(("zone",), message))
        credential = credential_from(config)
        if credential is not None:
            exchanger = TokenExchanger(
                discovery.metadata, credential, pool.get, retries=0, profile=profile
            )
            findings += await _credential_findings(loaded, exchanger)
        if sample_token is not None:
            findings += await _sample_findings(loaded, sample_token, metadata.issuer)
        return findings
    finally:
        await pool.aclose()


async def _cache_findings(loaded: LoadedConfig) -> list[Finding]:
    cache = loaded.config.cache
    if cache is None:
        return []
    store = SharedTokenCache(
        cache.url.get_secret_value(),
        encryption_keys=cache.keys,
        namespace=cache.namespace or default_namespace(loaded.config.server.base_url),
        record_type=_Probe,
        timeout=_PING_TIMEOUT,
    )
    try:
        if await store.ping():
            return []
    finally:
        await store.aclose()
    message = f"the shared token cache at {store.where} did not answer a PING"
    return [loaded.locator.at(("cache", "url"), message)]


@dataclass(frozen=True)
class _Probe:
    """The record type of the PING-only store (nothing is read or written)."""


async def _sample_findings(loaded: LoadedConfig, token: str, issuer: str) -> list[Finding]:
    """The sample token's shape against the config, then a real verification if it fits."""
    try:
        sample = decode_sample(token)
    except ValueError as exc:
        return [loaded.locator.at(("zone",), str(exc))]
    findings = token_shape_findings(sample, loaded.config, issuer, loaded.locator)
    if any(finding.severity == "error" for finding in findings):
        return findings
    provider = build_provider(loaded)
    try:
        path = loaded.config.server.path
        await provider.verify(token, provider.protected_resource.audiences(path))
    except TokenError as exc:
        findings.append(loaded.locator.at(("zone",), f"the sample token is refused: {exc.message}"))
    except (DiscoveryError, JWKSError) as exc:
        message = f"could not verify the sample token: {exc.message}"
        findings.append(loaded.locator.at(("zone",), message, "warning"))
    finally:
        await provider.aclose()
    return findings


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
    if exc.error == "unauthorized_client":
        reason = exc.description or exc.error
        message = f"this client may not use token exchange: {reason}"
        return [loaded.locator.at(where, message)]
    if exc.error is None:  # no OAuth answer: network, timeout, discovery, HTTP error page
        return [loaded.locator.at(where, f"could not check the credentials: {exc.message}")]
    if exc.error not in _PROBE_REFUSED:
        said = f"{exc.error} ({exc.description})" if exc.description else exc.error
        message = (
            f"the zone refused the probe: {said}; the credentials were not refused as "
            "invalid_client, but this answer does not confirm them"
        )
        return [loaded.locator.at(where, message, "warning")]
    return []
