"""From a loaded config to a FastMCP server: provider, auth, tools wrapped with their grants."""

from __future__ import annotations

from starlette.middleware import Middleware

from .._fastmcp_auth import KeycardAuth
from ..config import ClientSecretCredentials, LoadedConfig, ServeConfig
from ..credentials import ApplicationCredential, ClientSecret, PrivateKeyJWT
from ..errors import ConfigurationError
from ..provider import AuthProvider
from .runtime import Runtime
from .scope_guard import ToolScopeGuard

__all__ = [
    "advertised_scopes",
    "build_provider",
    "credential_from",
    "http_middleware",
]


def advertised_scopes(loaded: LoadedConfig) -> list[str]:
    """Every scope the server may ask of a caller: the zone's, then each tool's."""
    scopes = [*loaded.config.zone.required_scopes, *(s for t in loaded.tools for s in t.scopes)]
    return list(dict.fromkeys(scopes))


def credential_from(config: ServeConfig) -> ApplicationCredential | None:
    """The token-endpoint credential the config names, or None."""
    credentials = config.credentials
    if credentials is None:
        return None
    if isinstance(credentials, ClientSecretCredentials):
        return ClientSecret((credentials.client_id, credentials.secret.get_secret_value()))
    return PrivateKeyJWT(
        credentials.client_id,
        credentials.private_key.get_secret_value(),
        key_id=credentials.key_id,
        algorithm=credentials.algorithm,
    )


def build_provider(
    loaded: LoadedConfig,
    *,
    zone_url: str | None = None,
    credential: ApplicationCredential | None = None,
) -> AuthProvider:
    """An ``AuthProvider`` for the config; a dev zone passes its own URL and credential."""
    config = loaded.config
    zone = config.zone
    if zone.dev is not None and zone_url is None:
        raise ConfigurationError("a dev zone must be running before the provider is built")
    return AuthProvider(
        zone_id=zone.id,
        zone_url=zone_url or zone.url,
        mcp_server_name=config.server.name,
        mcp_base_url=config.server.base_url,
        application_credential=credential or credential_from(config),
        required_scopes=zone.required_scopes,
        scopes_supported=advertised_scopes(loaded),
        accepted_token_types=(
            (*zone.accepted_token_types, None)
            if zone.allow_untyped_tokens
            else zone.accepted_token_types
        ),
    )


def http_middleware(runtime: Runtime, auth: KeycardAuth) -> list[Middleware]:
    """Middleware for ``http_app``: per-tool inbound scopes as 403 ``insufficient_scope``."""
    return [
        Middleware(
            ToolScopeGuard,
            path=runtime.current.loaded.config.server.path,
            required_scopes=lambda name: runtime.current.scopes(name),
            challenge=auth.insufficient_scope_challenge,
        )
    ]
