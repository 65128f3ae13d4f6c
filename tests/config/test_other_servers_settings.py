"""Other servers' settings: the workload identity token file, the exchange flavour."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from keycard_serve.config import WorkloadIdentityCredentials, load_config
from keycard_serve.config._provider import credential_from
from keycard_serve.credentials import WorkloadIdentity
from tests.test_exchange_profile import platform_token

from .conftest import error_text

CONFIG = """\
version: 1
server: {name: t, base_url: "http://127.0.0.1:8000/"}
zone:
  url: https://zone.test
credentials:
  type: workload_identity
  token_file: ${TOKEN_DIR}/token
  client_id: mcp
tools:
  - function: examples.weather:forecast
    grants: [https://api.weather.example/]
"""


def test_a_jwt_in_the_file_is_a_credential_read_at_each_use(write: Callable[..., Path]) -> None:
    token_file = write(platform_token({"exp": time.time() + 600}), "secrets/token")
    loaded = load_config(write(CONFIG), environ={"TOKEN_DIR": str(token_file.parent)})
    credentials = loaded.config.credentials
    assert isinstance(credentials, WorkloadIdentityCredentials)
    assert credentials.token_file == token_file and loaded.warnings == ()
    credential = credential_from(loaded.config)
    assert isinstance(credential, WorkloadIdentity) and credential.client_id == "mcp"


def test_a_relative_token_file_is_next_to_the_config(write: Callable[..., Path]) -> None:
    token_file = write(platform_token({}), "token")
    loaded = load_config(write(CONFIG.replace("${TOKEN_DIR}/token", "token")), environ={})
    assert loaded.config.credentials.token_file == token_file


def test_a_missing_or_malformed_file_is_an_error_on_its_line(write: Callable[..., Path]) -> None:
    config = write(CONFIG)
    env = {"TOKEN_DIR": str(config.parent)}
    missing = error_text(config, env)
    assert "error: credentials.token_file: cannot read the workload identity token file" in missing
    write("not-a-jwt", "token")
    assert "does not hold a JWT" in error_text(config, env)


def test_an_expired_token_is_a_warning(write: Callable[..., Path]) -> None:
    write(platform_token({"exp": 1000}), "token")
    config = write(CONFIG)
    loaded = load_config(config, environ={"TOKEN_DIR": str(config.parent)})
    ((warning,),) = (loaded.warnings,)
    assert (warning.field, warning.severity) == ("credentials.token_file", "warning")
    assert "expired" in warning.message


def test_on_behalf_of_with_a_target_is_a_warning(write: Callable[..., Path]) -> None:
    write(platform_token({}), "token")
    text = CONFIG.replace("${TOKEN_DIR}/token", "token").replace(
        "zone:\n", "zone:\n  exchange: {flavour: on_behalf_of, target: audience}\n"
    )
    ((warning,),) = (load_config(write(text), environ={}).warnings,)
    assert warning.field == "zone.exchange.target" and "not used" in warning.message
