"""The ``AuthProvider`` a loaded config describes: zone, credentials, scopes, token types.

The launcher serves with it, ``validate --online`` checks it against the zone, and the
development zone's ``token`` command reads the same scopes, so all three agree on one reading
of the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..credentials import ApplicationCredential, ClientSecret, PrivateKeyJWT, WorkloadIdentity
from ..errors import ConfigurationError
from .loader import LoadedConfig
from .models import ClientSecretCredentials, ServeConfig, WorkloadIdentityCredentials

if TYPE_CHECKING:
    from ..provider import AuthProvider

__all__ = ["advertised_scopes", "build_provider", "credential_from"]


def advertised_scopes(loaded: LoadedConfig) -> list[str]:
    """Every scope the server may ask of a caller, in order: the zone's, then each tool's.

    This is ``scopes_supported`` of the protected-resource metadata (RFC 9728 section 2).
    """
    scopes = [*loaded.config.zone.required_scopes, *(s for t in loaded.tools for s in t.scopes)]
    return list(dict.fromkeys(scopes))


def credential_from(config: ServeConfig) -> ApplicationCredential | None:
    """The token-endpoint credential the config names, or None (a dev zone brings its own)."""
    credentials = config.credentials
    if credentials is None:
        return None
    if isinstance(credentials, ClientSecretCredentials):
        return ClientSecret((credentials.client_id, credentials.secret.get_secret_value()))
    if isinstance(credentials, WorkloadIdentityCredentials):
        return WorkloadIdentity(credentials.token_file, credentials.client_id)
    return PrivateKeyJWT(
        credentials.client_id,
        credentials.private_key.get_secret_value(),
        key_id=credentials.key_id,
        algorithm=credentials.algorithm,
        assertion_audience=credentials.assertion_audience,
    )


def build_provider(
    loaded: LoadedConfig,
    *,
    zone_url: str | None = None,
    credential: ApplicationCredential | None = None,
) -> AuthProvider:
    """An ``AuthProvider`` for the config; no network I/O.

    A dev zone passes its running issuer as ``zone_url`` and its server client as
    ``credential``; without them a dev-zone config raises ``ConfigurationError``.
    """
    from ..provider import AuthProvider  # FastMCP: only for the commands that serve or check

    config = loaded.config
    zone = config.zone
    if zone.dev is not None and zone_url is None:
        raise ConfigurationError("a dev zone must be running before the provider is built")
    cache = config.cache
    return AuthProvider(
        zone_id=zone.id,
        zone_url=zone_url or zone.url,
        mcp_server_name=config.server.name,
        mcp_base_url=config.server.base_url,
        application_credential=credential or credential_from(config),
        required_scopes=zone.required_scopes,
        scope_hierarchy=zone.scope_hierarchy,
        allowed_origins=config.server.allowed_origins,
        scopes_supported=advertised_scopes(loaded),
        accepted_token_types=(
            (*zone.accepted_token_types, None)
            if zone.allow_untyped_tokens
            else zone.accepted_token_types
        ),
        accepted_issuers=zone.accepted_issuers,
        accepted_audiences=zone.accepted_audiences,
        tokens_without_audience=zone.tokens_without_audience,
        scope_claims=zone.scope_claims,
        scope_prefix=zone.scope_prefix or "",
        exchange=zone.exchange.profile,
        cache_url=cache.url.get_secret_value() if cache else None,
        cache_encryption_keys=cache.keys if cache else (),
        cache_namespace=cache.namespace if cache else None,
    )
