"""From a loaded config to a FastMCP server: provider, auth, tools wrapped with their grants."""

from __future__ import annotations

from fastmcp import FastMCP
from fastmcp.tools import FunctionTool, Tool
from starlette.middleware import Middleware

from ..config import ClientSecretCredentials, LoadedConfig, ServeConfig
from ..credentials import ApplicationCredential, ClientSecret, PrivateKeyJWT
from ..errors import ConfigurationError
from ..fastmcp_auth import KeycardAuth
from ..grant import grant_decorator
from ..provider import AuthProvider
from .runtime import Runtime
from .scope_guard import ToolScopeGuard

__all__ = [
    "advertised_scopes",
    "build_provider",
    "build_server",
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
        accepted_token_types=zone.accepted_token_types,
    )


async def build_server(loaded: LoadedConfig, runtime: Runtime) -> FastMCP:
    """The FastMCP server of ``loaded``: a new one, or the adopted ``app:`` with auth added."""
    auth = runtime.current.provider.get_remote_auth_provider()
    if loaded.app is not None:
        mcp = loaded.app
        mcp.auth = auth
        for spec in loaded.tools:
            if spec.grants:
                tool = await mcp.get_tool(spec.name)
                if not isinstance(tool, FunctionTool):
                    raise ConfigurationError(
                        f"tool {spec.name!r} of the app is not a plain function tool; "
                        "grants can only wrap functions",
                        code="grant_target",
                    )
                wrapped = grant_decorator(runtime.binding(spec.name))(tool.fn)
                mcp.local_provider.remove_tool(spec.name)
                mcp.add_tool(tool.model_copy(update={"fn": wrapped}))
        return mcp
    mcp = FastMCP(loaded.config.server.name, auth=auth)
    for spec in loaded.tools:
        assert spec.function is not None  # function mode, imports checked by the loader
        fn = spec.function
        if spec.grants:
            fn = grant_decorator(runtime.binding(spec.name))(fn)
        mcp.add_tool(Tool.from_function(fn, name=spec.name, description=spec.description))
    return mcp


def http_middleware(runtime: Runtime, auth: KeycardAuth) -> list[Middleware]:
    """Middleware for ``http_app``: per-tool inbound scopes as 403 ``insufficient_scope``."""
    path = runtime.current.loaded.config.server.path
    base_scopes = list(runtime.current.loaded.config.zone.required_scopes)

    def challenge(missing):
        scopes = " ".join(dict.fromkeys([*base_scopes, *missing]))
        return (
            f'Bearer error="insufficient_scope", scope="{scopes}", '
            f'resource_metadata="{auth.resource_metadata_url}"'
        )

    return [
        Middleware(
            ToolScopeGuard,
            path=path,
            required_scopes=lambda name: runtime.current.scopes(name),
            challenge=challenge,
        )
    ]
