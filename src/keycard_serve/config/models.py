"""The config file's schema: pydantic models, the single source of truth.

Every model forbids unknown keys, because a misspelt key that is silently ignored can switch
off a check, and is frozen, because a loaded config is shared by concurrent requests. Rules
that involve several sections (http base URL only with a dev zone, tools in ``app:`` mode,
names that must be unique) live in ``_rules.py`` and ``imports.py``, where each problem can be
reported at its own line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .._algorithms import SIGNING_ALGORITHMS
from .._exchange_profile import ExchangeProfile, token_type_uri
from .._sealing import parse_encryption_key
from .._urls import normalize_base_url, resource_url
from ._secrets import SecretFile, check_private_key
from ._types import (
    BaseURL,
    Boolean,
    CacheNamespace,
    CacheURL,
    ClientIdentifier,
    ClientSecretFileRef,
    EncryptionKey,
    EnvText,
    ListenAddress,
    LogPath,
    MCPPath,
    ObjectRef,
    Origin,
    Port,
    ResourceURI,
    Scope,
    Secret,
    SecretFileRef,
    Text,
    TokenFileRef,
    ToolName,
    Version,
    Workers,
    ZoneId,
    ZoneURL,
    split_listen_address,
    yaml_boolean,
)

__all__ = [
    "AuditConfig",
    "CacheConfig",
    "ClientSecretCredentials",
    "Credentials",
    "DevZoneConfig",
    "ExchangeConfig",
    "GrantConfig",
    "MetricsConfig",
    "ObservabilityConfig",
    "PrivateKeyJWTCredentials",
    "ServeConfig",
    "ServerConfig",
    "ToolConfig",
    "TracingConfig",
    "WorkloadIdentityCredentials",
    "ZoneConfig",
]

_Target = Literal["resource", "audience", "both"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ServerConfig(_Model):
    """The MCP server: its name, public URL and how it listens."""

    name: EnvText
    """MCP server name, also the resource_name in the protected-resource metadata."""
    base_url: BaseURL
    """Public URL clients use; plain http only on loopback or with a dev zone. ${VAR} allowed."""
    host: EnvText | None = None
    """Interface to listen on; defaults to the host of base_url. ${VAR} allowed."""
    port: Port | None = None
    """Port to listen on; defaults to the port of base_url. ${VAR} allowed."""
    path: MCPPath = "/mcp"
    """Path of the MCP endpoint."""
    transport: Literal["streamable-http", "sse"] = "streamable-http"
    """MCP transport."""
    stateless: Boolean = False
    """Serve stateless HTTP (needed for several workers or replicas)."""
    workers: Workers = 1
    """Processes sharing the listening socket (run --workers overrides it). ${VAR} allowed."""
    allowed_origins: tuple[Origin, ...] | None = None
    """Browser origins (scheme://host[:port]) allowed besides base_url's own; other Origin
    headers get 403. Default: loopback origins, on connections that arrive over loopback."""
    list_tools: Literal["all", "permitted"] = "all"
    """tools/list shows all tools (all), or only those the caller's token has scopes for."""
    version: EnvText | None = None
    """Version reported to clients (serverInfo.version); keycard-serve's when absent. With
    app:, the app's own FastMCP(version=...) is reported instead. ${VAR} allowed."""

    @property
    def effective_host(self) -> str:
        """``host``, else the host of ``base_url``."""
        return self.host or urlsplit(self.base_url).hostname or "127.0.0.1"

    @property
    def effective_port(self) -> int:
        """``port``, else the port of ``base_url``, else the scheme's default port."""
        if self.port is not None:
            return self.port
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def keeps_sessions(self) -> bool:
        """Whether clients hold sessions here (to be told of tool-list changes): always over
        SSE, which has no stateless mode, else unless ``stateless``."""
        return self.transport == "sse" or not self.stateless

    @property
    def mcp_url(self) -> str:
        """The MCP endpoint's URL in its canonical spelling: the resource clients ask tokens for
        (RFC 8707) and the audience the server accepts, e.g. ``https://mcp.example.com/mcp``."""
        return resource_url(normalize_base_url(self.base_url), self.path)


class DevZoneConfig(_Model):
    """An embedded development zone on loopback, for trying things out without Keycard."""

    user: Text = "alice"
    """The user the development zone signs in."""
    port: Port | None = None
    """Port of the development zone; a free one when absent."""


def _dev_zone(value: Any, info: ValidationInfo) -> Any:
    try:
        value = yaml_boolean(value, info)
    except ValueError as exc:
        either = "true, false or a mapping of dev zone settings"
        raise ValueError(str(exc).replace("true or false", either, 1)) from None
    if value is True:
        return {}
    return None if value is False else value


class ExchangeConfig(_Model):
    """How delegation is asked for (README: "Using another authorization server")."""

    flavour: Literal["token_exchange", "on_behalf_of"] = "token_exchange"
    """token_exchange (RFC 8693), or on_behalf_of (Microsoft Entra ID's jwt-bearer grant)."""
    target: _Target = "resource"
    """How grants name their API: resource (RFC 8707), audience (Keycloak, Okta, Auth0), both."""
    subject_token_type: Text = "access_token"
    """subject_token_type sent: access_token, jwt, or an absolute URI (Auth0 custom exchange)."""
    requested_token_type: Text = "access_token"
    """requested_token_type sent: access_token, jwt, a URI, or omit to leave it out."""
    issued_token_types: tuple[Literal["access_token", "jwt", "missing"], ...] = Field(
        default=("access_token",), min_length=1
    )
    """issued_token_type values accepted in answers; missing accepts an answer without one."""

    @field_validator("subject_token_type", "requested_token_type")
    @classmethod
    def _token_type(cls, value: str, info: ValidationInfo) -> str:
        if value == "omit" and info.field_name == "requested_token_type":
            return value
        token_type_uri(value)
        return value

    @property
    def profile(self) -> ExchangeProfile:
        """The ``ExchangeProfile`` these settings describe."""
        requested = self.requested_token_type
        return ExchangeProfile(
            flavour=self.flavour,
            target=self.target,
            subject_token_type=self.subject_token_type,
            requested_token_type=None if requested == "omit" else requested,
            issued_token_types=tuple(
                None if kind == "missing" else kind for kind in self.issued_token_types
            ),
        )


class ZoneConfig(_Model):
    """The Keycard zone that issues and verifies tokens: exactly one of url, id or dev."""

    url: ZoneURL | None = None
    """Authorization server URL (https, or http on loopback). ${VAR} allowed."""
    id: ZoneId | None = None
    """Keycard zone id; the zone URL is https://<id>.keycard.cloud. ${VAR} allowed."""
    dev: Annotated[
        DevZoneConfig | None,
        BeforeValidator(_dev_zone, json_schema_input_type=Union[bool, DevZoneConfig]),  # noqa: UP007
    ] = None
    """true, or settings for an embedded development zone."""
    required_scopes: tuple[Scope, ...] = ()
    """Scopes every inbound token must carry."""
    accepted_token_types: tuple[Text, ...] = Field(default=("at+jwt",), min_length=1)
    """JWT typ header values accepted on inbound tokens (RFC 9068)."""
    allow_untyped_tokens: Boolean = False
    """Also accept inbound tokens without a typ header, for zones that do not set one."""
    accepted_issuers: tuple[ZoneURL, ...] = ()
    """Exact iss values accepted besides the discovery issuer (Entra v1). ${VAR} allowed."""
    accepted_audiences: tuple[EnvText, ...] = ()
    """Exact aud values accepted besides this server's URLs (a client id, api://...)."""
    tokens_without_audience: tuple[ClientIdentifier, ...] = ()
    """Client ids whose access tokens may have no aud (Amazon Cognito); costs audience binding."""
    scope_claims: tuple[Text, ...] = Field(default=("scope", "scp"), min_length=1)
    """Claims inbound scopes are read from, each a string or an array (add permissions...)."""
    scope_prefix: EnvText | None = None
    """Put before token scopes that lack it (Entra: scp tools.read is api://app/tools.read)."""
    exchange: ExchangeConfig = ExchangeConfig()
    """How delegation is asked for: flavour, target, token types."""
    scope_hierarchy: dict[Scope, tuple[Scope, ...]] = {}
    """Scopes that imply others, e.g. {"tools:admin": ["tools:read"]}; transitive, no cycles."""

    @model_validator(mode="after")
    def _one_source(self) -> ZoneConfig:
        given = [name for name in ("url", "id", "dev") if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"found {' and '.join(given)}" if given else "found none"
            raise ValueError(f"give exactly one of url, id or dev ({found})")
        return self


class ClientSecretCredentials(_Model):
    """client_secret_basic: the server's client id and secret at the zone."""

    type: Literal["client_secret"] = "client_secret"
    """Credential kind; client_secret when absent."""
    client_id: ClientIdentifier
    """Client id of this server at the zone. ${VAR} allowed."""
    client_secret: Secret | None = None
    """Must be ${VAR}: a secret is never written in the file."""
    client_secret_file: ClientSecretFileRef | None = None
    """File holding the secret, relative to this config file. ${VAR} allowed."""

    @model_validator(mode="after")
    def _one_secret(self) -> ClientSecretCredentials:
        if (self.client_secret is None) == (self.client_secret_file is None):
            raise ValueError("give exactly one of client_secret or client_secret_file")
        return self

    @property
    def secret(self) -> SecretStr:
        """The client secret, from the environment or from the secret file."""
        if self.client_secret is not None:
            return self.client_secret
        assert self.client_secret_file is not None  # one of the two, by _one_secret
        return self.client_secret_file.value


class PrivateKeyJWTCredentials(_Model):
    """private_key_jwt (RFC 7523): the server signs an assertion with its private key."""

    type: Literal["private_key_jwt"]
    """Credential kind."""
    client_id: ClientIdentifier
    """Client id of this server at the zone. ${VAR} allowed."""
    key_id: EnvText | None = None
    """kid header of the assertion, naming the key registered at the zone. ${VAR} allowed."""
    algorithm: Literal[SIGNING_ALGORITHMS] = "RS256"  # type: ignore[valid-type]
    """Signing algorithm; must fit the key."""
    assertion_audience: Literal["token_endpoint", "issuer"] = "token_endpoint"
    """aud of the assertion: the token endpoint (RFC 7523), or the issuer (FAPI 2.0)."""
    private_key_file: SecretFileRef
    """Unencrypted PEM private key, relative to this config file. ${VAR} allowed."""

    @field_validator("private_key_file")
    @classmethod
    def _key_fits(cls, value: SecretFile, info: ValidationInfo) -> SecretFile:
        algorithm = info.data.get("algorithm")
        if algorithm is not None:  # else the algorithm itself was refused
            check_private_key(value.value, algorithm)
        return value

    @property
    def private_key(self) -> SecretStr:
        """The PEM text of the private key."""
        return self.private_key_file.value


class WorkloadIdentityCredentials(_Model):
    """Workload identity: a platform-issued JWT, re-read from its file, as the client assertion."""

    type: Literal["workload_identity"]
    """Credential kind."""
    token_file: TokenFileRef
    """File the platform keeps a JWT in (Kubernetes projected token), relative to this file."""
    client_id: ClientIdentifier | None = None
    """Client id of this server at the zone, sent when given. ${VAR} allowed."""


def _default_credentials_type(value: Any) -> Any:
    if isinstance(value, dict) and "type" not in value:
        return {**value, "type": "client_secret"}
    return value


Credentials = Annotated[
    Union[ClientSecretCredentials, PrivateKeyJWTCredentials, WorkloadIdentityCredentials],  # noqa: UP007
    Field(discriminator="type"),
    BeforeValidator(_default_credentials_type),
]


class GrantConfig(_Model):
    """A downstream resource a tool may reach through token exchange (RFC 8693)."""

    resource: ResourceURI
    """Absolute https URI of the resource (RFC 8707), no fragment. ${VAR} allowed."""
    scopes: tuple[Scope, ...] = ()
    """Scopes requested in the exchange."""
    audience: EnvText | None = None
    """RFC 8693 audience naming the API at the zone (a client id, an API identifier)."""
    target: _Target | None = None
    """resource, audience or both; defaults to zone.exchange.target."""


def _grant_shorthand(value: Any) -> Any:
    return {"resource": value} if isinstance(value, str) else value


class ToolConfig(_Model):
    """A tool to serve: a function (or, with app:, a tool of that app by name) and its access."""

    function: ObjectRef | None = None
    """The tool function as package.module:function."""
    name: ToolName | None = None
    """Tool name; defaults to the function's name. With app:, the app's tool to configure."""
    description: Text | None = None
    """Tool description; defaults to the function's docstring."""
    scopes: tuple[Scope, ...] = ()
    """Scopes the caller's token needs for this tool (403 insufficient_scope otherwise)."""
    grants: tuple[
        Annotated[
            GrantConfig,
            BeforeValidator(_grant_shorthand, json_schema_input_type=Union[str, GrantConfig]),  # noqa: UP007
        ],
        ...,
    ] = ()
    """Resources the tool gets delegated tokens for: a URI, or {resource, scopes}."""


class CacheConfig(_Model):
    """A Redis or Valkey store that every worker and replica shares for exchanged tokens,
    encrypted with AES-256-GCM; absent, each process keeps its own cache only."""

    url: CacheURL
    """redis://, rediss://, valkey:// or valkeys://HOST:PORT/DB. ${VAR} allowed (required
    when the URL holds a password)."""
    encryption_keys: tuple[EncryptionKey, ...] = ()
    """Each ${VAR}: 32 random bytes in base64 (openssl rand -base64 32). The first encrypts,
    all decrypt (rotation)."""
    encryption_keys_file: SecretFileRef | None = None
    """Instead of encryption_keys: a file with one base64 key per line, relative to this
    config file. ${VAR} allowed."""
    namespace: CacheNamespace | None = None
    """Separates servers sharing one store (A-Z a-z 0-9 . _ -); default from server.base_url."""

    @field_validator("encryption_keys_file")
    @classmethod
    def _keys_in_file(cls, value: SecretFile | None) -> SecretFile | None:
        if value is not None:
            for number, line in enumerate(value.value.get_secret_value().splitlines(), 1):
                if line.strip():
                    try:
                        parse_encryption_key(line)
                    except ValueError as exc:
                        raise ValueError(f"line {number} of the file: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> CacheConfig:
        if bool(self.encryption_keys) == (self.encryption_keys_file is not None):
            raise ValueError("give exactly one of encryption_keys or encryption_keys_file")
        return self

    @property
    def keys(self) -> tuple[bytes, ...]:
        """The 32-byte keys, the sealing one first."""
        if self.encryption_keys_file is not None:
            lines = self.encryption_keys_file.value.get_secret_value().splitlines()
        else:
            lines = [key.get_secret_value() for key in self.encryption_keys]
        return tuple(parse_encryption_key(line) for line in lines if line.strip())


class MetricsConfig(_Model):
    """Prometheus metrics on a listener of their own, never on the MCP port."""

    listen: ListenAddress
    """host:port of the metrics listener, e.g. 127.0.0.1:9464 (served at /metrics)."""

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to bind."""
        return split_listen_address(self.listen)


class AuditConfig(_Model):
    """An audit trail: one JSON line per tool call and per refused token or scope."""

    path: LogPath
    """File to append to (relative to this config file), or - for standard error."""


class TracingConfig(_Model):
    """Export OpenTelemetry spans (needs opentelemetry-sdk; configured by OTEL_* variables)."""

    exporter: Literal["otlp", "console"] = "otlp"
    """otlp (HTTP/protobuf to OTEL_EXPORTER_OTLP_ENDPOINT) or console (standard output)."""


class ObservabilityConfig(_Model):
    """Metrics, spans and the audit log; each off unless given."""

    metrics: MetricsConfig | None = None
    """Serve Prometheus metrics: {listen: 127.0.0.1:9464}."""
    audit: AuditConfig | None = None
    """Write the audit log: {path: /var/log/keycard-serve/audit.jsonl} or {path: "-"}."""
    tracing: TracingConfig | None = None
    """Export spans: {exporter: otlp}."""


class ServeConfig(_Model):
    """A keycard-serve configuration file."""

    version: Version
    """Format version; always 1."""
    server: ServerConfig
    """The MCP server: name, public URL, listening address."""
    zone: ZoneConfig
    """The Keycard zone (or development zone) that issues the tokens."""
    credentials: Credentials | None = None
    """How the server authenticates to the zone; optional only with a dev zone."""
    cache: CacheConfig | None = None
    """Exchanged tokens shared by every worker and replica (Redis or Valkey), encrypted."""
    app: ObjectRef | None = None
    """An existing FastMCP server (or zero-argument factory) as package.module:attribute."""
    tools: tuple[ToolConfig, ...] = ()
    """Tools to serve, or with app: grants and scopes for the app's tools."""
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    """Log level of keycard-serve."""
    log_format: Literal["text", "json"] = "text"
    """text, or json: one JSON object per log line."""
    observability: ObservabilityConfig = ObservabilityConfig()
    """Prometheus metrics, OpenTelemetry spans and the audit log (all off by default)."""
