"""Field types for the config models: how a YAML string may become a port, a bool, a secret.

The YAML reader hands a plain number or boolean over as a ``Scalar`` (its text and its YAML
1.2 kind) and everything else as a string, so these types decide the meaning, and decide it
strictly, agreeing with the JSON Schema editors check: ``8000`` is a port but ``"8000"``,
``0777`` and ``1_000`` are not, ``true`` is a bool but ``"true"`` and ``no`` are not, and a
text field refuses a plain ``42`` (quote it). ``${NAME}`` is expanded only in fields typed
``Env...``; elsewhere it is an error, so a reference can never silently stay literal.
Expansion needs a ``LoadContext`` (passed as pydantic's validation context); models built in
Python take values as given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    StringConstraints,
    ValidationInfo,
)

from .._sealing import entry_name, parse_encryption_key
from .._shared_cache import parse_cache_url
from .._urls import endpoint_path, resolve_zone_url
from ..credentials import read_platform_token
from ..errors import ConfigurationError
from ._interpolate import InterpolationError, interpolate, secret_reference
from ._secrets import SecretFile, read_secret_file
from ._urls import check_http_url, check_origin
from ._yaml import Scalar

__all__ = [
    "BaseURL",
    "Boolean",
    "CacheNamespace",
    "CacheURL",
    "ClientIdentifier",
    "ClientSecretFileRef",
    "EncryptionKey",
    "EnvText",
    "ListenAddress",
    "LoadContext",
    "LogPath",
    "MCPPath",
    "ObjectRef",
    "Origin",
    "Port",
    "ResourceURI",
    "Scope",
    "Secret",
    "SecretFileRef",
    "Text",
    "TokenFileRef",
    "ToolName",
    "Version",
    "Workers",
    "ZoneId",
    "ZoneURL",
    "check_tool_name",
    "parse_boolean",
    "split_listen_address",
    "yaml_boolean",
]

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_OBJECT_REF = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 section 3.3 scope-token
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # MCP tool-name guidance (SEP-986)
_VSCHAR = re.compile(r"[\x20-\x7e]+")  # RFC 6749 appendix A: client_id and client_secret
_TRUE = ("true", "True", "TRUE")
_FALSE = ("false", "False", "FALSE")


@dataclass(frozen=True)
class LoadContext:
    """What validation needs from outside the file: the environment, the file's directory."""

    environ: Mapping[str, str]
    base_dir: Path


def _load_context(info: ValidationInfo) -> LoadContext | None:
    return info.context if isinstance(info.context, LoadContext) else None


def _expand(value: Any, info: ValidationInfo) -> Any:
    context = _load_context(info)
    if context is not None and isinstance(value, str):
        return interpolate(value, context.environ)
    return value


def _literal(value: Any) -> Any:
    if isinstance(value, str) and "${" in value:
        raise ValueError("${...} is not expanded in this field; write the value itself")
    return value


def _decimal(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not _DECIMAL.fullmatch(value):
        raise ValueError("must be a decimal number such as 8000 (no sign, leading zero or '_')")
    return int(value)


def _yaml_number(value: Any, info: ValidationInfo) -> Any:
    """A plain YAML number as its text, for ``_decimal``; a quoted one in a file is refused."""
    if isinstance(value, Scalar):
        if value.kind != "number":
            raise ValueError(f"must be a number, not {value.text}")
        return value.text
    if isinstance(value, str) and _load_context(info) is not None and _DECIMAL.fullmatch(value):
        raise ValueError(f'must be a number without quotes (a quoted "{value}" is text)')
    return value


def yaml_boolean(value: Any, info: ValidationInfo) -> Any:
    """``parse_boolean`` for a plain YAML true or false; in a file, a quoted ``"true"`` is
    text and refused (ValueError), as the JSON Schema refuses it. Non-strings unchanged."""
    if isinstance(value, Scalar):
        return parse_boolean(value.text)
    if isinstance(value, str) and _load_context(info) is not None and value in _TRUE + _FALSE:
        raise ValueError(f'must be true or false without quotes (a quoted "{value}" is text)')
    return parse_boolean(value)


def parse_boolean(value: Any) -> Any:
    """True or False for the YAML 1.2 spellings of true and false; non-strings unchanged."""
    if not isinstance(value, str):
        return value
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("must be true or false (yes, no, on and off are not booleans here)")


def _secret(value: Any, info: ValidationInfo) -> Any:
    context = _load_context(info)
    if context is None or not isinstance(value, str):
        return value
    try:
        secret_reference(value)
    except InterpolationError as exc:
        raise ValueError(
            f"{exc}; write ${{NAME}} to take it from the environment, or use {info.field_name}_file"
        ) from None
    return interpolate(value, context.environ)


def _printable(value: str | SecretStr) -> str | SecretStr:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not _VSCHAR.fullmatch(text):
        raise ValueError("may only contain printable ASCII characters (RFC 6749 VSCHAR)")
    return value


def _secret_file(value: Any, info: ValidationInfo) -> SecretFile:
    if isinstance(value, SecretFile):
        return value
    if not isinstance(value, str | Path):
        raise ValueError("expected a file path")
    context = _load_context(info)
    path = Path(_expand(str(value), info)).expanduser()
    # Relative to the config file, not to wherever the server happens to be started.
    base = context.base_dir if context is not None else Path(os.getcwd())
    return read_secret_file(base / path)


def _token_file(value: Any, info: ValidationInfo) -> Path:
    """A workload identity token file: relative to the config, there now, holding a JWT.

    Only the path is kept: the platform rotates the file, so it is read at every exchange.
    """
    if isinstance(value, Path):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a file path")
    context = _load_context(info)
    base = context.base_dir if context is not None else Path(os.getcwd())
    path = base / Path(_expand(value, info)).expanduser()
    try:
        read_platform_token(path)
    except ConfigurationError as exc:
        raise ValueError(exc.message) from None
    return path


def _printable_file(value: SecretFile) -> SecretFile:
    _printable(value.value)
    return value


def _cache_url(value: Any, info: ValidationInfo) -> Any:
    """A store URL: a password in it must come from the environment, not the file."""
    if not isinstance(value, str) or _load_context(info) is None or "${" in value:
        return _expand(value, info)
    try:
        password = urlsplit(value).password
    except ValueError:
        password = None  # the URL's own check says what is wrong with it
    if password:
        raise ValueError(
            "a password must not be written in the file: put the whole URL in the environment "
            "and write url: ${CACHE_URL}"
        )
    return value


def _checked_cache_url(value: SecretStr) -> SecretStr:
    parse_cache_url(value.get_secret_value())
    return value


def _encryption_key(value: SecretStr) -> SecretStr:
    parse_encryption_key(value.get_secret_value())
    return value


def _namespace(value: str) -> str:
    entry_name(value, ())
    return value


def _object_ref(value: str) -> str:
    if not _OBJECT_REF.fullmatch(value):
        raise ValueError("must name a Python object as package.module:attribute")
    return value


def _scope(value: str) -> str:
    if not _SCOPE.fullmatch(value):
        raise ValueError("a scope is one word without spaces, quotes or backslashes")
    return value


def _zone_id(value: str) -> str:
    try:
        resolve_zone_url(value, None)
    except ConfigurationError:
        raise ValueError(
            "a Keycard zone id is 1-63 lowercase letters, digits and '-' (not at either end)"
        ) from None
    return value


def _mcp_path(value: str) -> str:
    """The path in its one canonical spelling (``/mcp`` for ``/mcp/``, ``//mcp``,
    ``/a/../mcp``), where the launcher mounts the endpoint and the URLs are built."""
    if not value.startswith("/") or any(char in value for char in "?# "):
        raise ValueError("must be a URL path starting with '/', without '?', '#' or spaces")
    return endpoint_path(value)


def check_tool_name(name: str) -> str:
    """ValueError unless ``name`` is 1-128 of ``A-Z a-z 0-9 _ - .``, what MCP clients accept."""
    if not _TOOL_NAME.fullmatch(name):
        raise ValueError("a tool name is 1-128 letters, digits, '_', '-' or '.'")
    return name


def split_listen_address(value: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port`` or ``[v6]:port``; ValueError otherwise."""
    host, colon, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("write an IPv6 address in brackets: [::1]:9464")
    if not colon or not host or not _DECIMAL.fullmatch(port) or int(port) > 65535:
        raise ValueError("must be host:port, e.g. 127.0.0.1:9464 (port 0: any free port)")
    return host, int(port)


def _listen_address(value: str) -> str:
    split_listen_address(value)
    return value


def _log_path(value: str, info: ValidationInfo) -> str:
    if value == "-":
        return value
    context = _load_context(info)
    base = context.base_dir if context is not None else Path(os.getcwd())
    path = base / Path(value).expanduser()  # relative to the config file
    if not path.parent.is_dir():
        raise ValueError(f"the directory {path.parent} does not exist")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; name a file")
    return str(path)


# For the JSON Schema only: what an editor should accept where a port goes.
_PortNumber = Annotated[int, Field(ge=1, le=65535)]
_WorkerCount = Annotated[int, Field(ge=1, le=256)]
_Reference = Annotated[str, StringConstraints(pattern=r"\$\{")]

_NonEmpty = StringConstraints(min_length=1)
_EnvInput = BeforeValidator(_expand, json_schema_input_type=str)

Text = Annotated[str, _NonEmpty, BeforeValidator(_literal)]
EnvText = Annotated[str, _NonEmpty, _EnvInput]
Version = Annotated[
    Literal[1],
    BeforeValidator(_decimal),
    BeforeValidator(_yaml_number, json_schema_input_type=Literal[1]),
]
Boolean = Annotated[bool, BeforeValidator(yaml_boolean, json_schema_input_type=bool)]
Port = Annotated[
    int,
    Field(ge=1, le=65535),
    BeforeValidator(_decimal),
    BeforeValidator(_expand),
    BeforeValidator(_yaml_number, json_schema_input_type=Union[_PortNumber, _Reference]),  # noqa: UP007
]
Workers = Annotated[
    int,
    Field(ge=1, le=256),
    BeforeValidator(_decimal),
    BeforeValidator(_expand),
    BeforeValidator(_yaml_number, json_schema_input_type=Union[_WorkerCount, _Reference]),  # noqa: UP007
]
ClientIdentifier = Annotated[str, _NonEmpty, AfterValidator(_printable), _EnvInput]
Secret = Annotated[
    SecretStr,
    AfterValidator(_printable),
    BeforeValidator(_secret, json_schema_input_type=str),
]
EncryptionKey = Annotated[
    SecretStr,
    AfterValidator(_encryption_key),
    BeforeValidator(_secret, json_schema_input_type=str),
]
CacheURL = Annotated[
    SecretStr,
    AfterValidator(_checked_cache_url),
    BeforeValidator(_cache_url, json_schema_input_type=str),
]
CacheNamespace = Annotated[str, AfterValidator(_namespace), BeforeValidator(_literal)]
SecretFileRef = Annotated[
    SecretFile,
    PlainValidator(_secret_file, json_schema_input_type=str),
    PlainSerializer(lambda secret_file: str(secret_file.path), return_type=str),
]
ClientSecretFileRef = Annotated[SecretFileRef, AfterValidator(_printable_file)]
TokenFileRef = Annotated[
    Path,
    PlainValidator(_token_file, json_schema_input_type=str),
    PlainSerializer(str, return_type=str),
]
BaseURL = Annotated[str, AfterValidator(check_http_url), _EnvInput]
ZoneURL = Annotated[str, AfterValidator(partial(check_http_url, require_tls=True)), _EnvInput]
ResourceURI = Annotated[
    str, AfterValidator(partial(check_http_url, allow_query=True, require_tls=True)), _EnvInput
]
ZoneId = Annotated[str, AfterValidator(_zone_id), _EnvInput]
Origin = Annotated[str, AfterValidator(check_origin), _EnvInput]
MCPPath = Annotated[str, AfterValidator(_mcp_path), BeforeValidator(_literal)]
ObjectRef = Annotated[str, AfterValidator(_object_ref), BeforeValidator(_literal)]
Scope = Annotated[str, AfterValidator(_scope), BeforeValidator(_literal)]
ToolName = Annotated[str, AfterValidator(check_tool_name), BeforeValidator(_literal)]
ListenAddress = Annotated[str, _NonEmpty, AfterValidator(_listen_address), _EnvInput]
LogPath = Annotated[str, _NonEmpty, AfterValidator(_log_path), _EnvInput]
