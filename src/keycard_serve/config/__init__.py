"""The keycard-serve config file: YAML in, a validated ``ServeConfig`` or precise errors out."""

from __future__ import annotations

from .imports import ToolSpec
from .issues import ConfigError, ConfigIssue
from .loader import LoadedConfig, load_config
from .models import (
    ClientSecretCredentials,
    DevZoneConfig,
    GrantConfig,
    PrivateKeyJWTCredentials,
    ServeConfig,
    ServerConfig,
    ToolConfig,
    ZoneConfig,
)
from .schema import json_schema

__all__ = [
    "ClientSecretCredentials",
    "ConfigError",
    "ConfigIssue",
    "DevZoneConfig",
    "GrantConfig",
    "LoadedConfig",
    "PrivateKeyJWTCredentials",
    "ServeConfig",
    "ServerConfig",
    "ToolConfig",
    "ToolSpec",
    "ZoneConfig",
    "json_schema",
    "load_config",
]
