"""The keycard-serve config file: YAML in, a validated ``ServeConfig`` or precise findings out.

``load_config`` reads and validates a file without running any user code; ``import_tools``
then imports the tools (or the app) it names, for the commands that serve them. Every
problem of either step is a ``Finding`` with file, line, column and field.
"""

from __future__ import annotations

from ._tools import ToolSpec
from .findings import ConfigError, Finding
from .imports import import_tools
from .loader import LoadedConfig, load_config
from .models import (
    CacheConfig,
    ClientSecretCredentials,
    DevZoneConfig,
    ExchangeConfig,
    GrantConfig,
    PrivateKeyJWTCredentials,
    ServeConfig,
    ServerConfig,
    ToolConfig,
    WorkloadIdentityCredentials,
    ZoneConfig,
)
from .schema import json_schema

__all__ = [
    "CacheConfig",
    "ClientSecretCredentials",
    "ConfigError",
    "DevZoneConfig",
    "ExchangeConfig",
    "Finding",
    "GrantConfig",
    "LoadedConfig",
    "PrivateKeyJWTCredentials",
    "ServeConfig",
    "ServerConfig",
    "ToolConfig",
    "ToolSpec",
    "WorkloadIdentityCredentials",
    "ZoneConfig",
    "import_tools",
    "json_schema",
    "load_config",
]
