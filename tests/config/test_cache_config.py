"""The ``cache:`` section and ``server.workers``: what loads, and what is refused at file:line."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from keycard_serve import AuthProvider, ConfigurationError
from keycard_serve.config._provider import build_provider

from .conftest import ENV, VALID, error_text, load

KEY_1 = base64.b64encode(os.urandom(32)).decode()
KEY_2 = base64.b64encode(os.urandom(32)).decode()
CACHE_ENV = {**ENV, "KS_CACHE_KEY": KEY_1, "KS_CACHE_KEY_OLD": KEY_2}


def with_cache(section: str) -> str:
    return VALID.replace("tools:", f"cache:\n{section}tools:", 1)


CACHE = with_cache(
    "  url: redis://127.0.0.1:6379/0\n"
    "  encryption_keys:\n"
    "    - ${KS_CACHE_KEY}\n"
    "    - ${KS_CACHE_KEY_OLD}\n"
)


def test_a_cache_section_loads_its_keys_in_order(write: Callable[..., Path]) -> None:
    cache = load(write(CACHE), CACHE_ENV, imports=False).config.cache
    assert cache is not None
    assert cache.url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert cache.keys == (base64.b64decode(KEY_1), base64.b64decode(KEY_2))
    assert cache.namespace is None
    assert KEY_1 not in repr(cache) and KEY_1 not in str(cache.model_dump())


def test_without_a_cache_section_there_is_no_shared_tier(write: Callable[..., Path]) -> None:
    assert load(write(VALID), imports=False).config.cache is None


def test_keys_may_come_from_a_file_one_per_line(write: Callable[..., Path]) -> None:
    write(f"{KEY_1}\n\n{KEY_2}\n", "cache.keys")
    text = with_cache("  url: valkey://cache:6379/2\n  encryption_keys_file: cache.keys\n")
    cache = load(write(text), imports=False).config.cache
    assert cache.keys == (base64.b64decode(KEY_1), base64.b64decode(KEY_2))


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            f"  url: redis://h/0\n  encryption_keys:\n    - {KEY_1}\n",
            "13:7: error: cache.encryption_keys[0]: must not be written in the file; write "
            "${NAME} to take it from the environment, or use encryption_keys_file",
        ),
        (
            "  url: redis://h/0\n  encryption_keys:\n    - ${SHORT_KEY}\n",
            "13:7: error: cache.encryption_keys[0]: an encryption key is 32 random bytes in "
            "base64, this one decodes to 16 bytes",
        ),
        (
            "  url: memcached://h:11211\n  encryption_keys:\n    - ${KS_CACHE_KEY}\n",
            "11:8: error: cache.url: unsupported scheme memcached://",
        ),
        (
            "  url: redis://:hunter2@h:6379/0\n  encryption_keys:\n    - ${KS_CACHE_KEY}\n",
            "11:8: error: cache.url: a password must not be written in the file",
        ),
        (
            "  url: redis://h/zero\n  encryption_keys:\n    - ${KS_CACHE_KEY}\n",
            "11:8: error: cache.url: the database (the URL's path) must be a number",
        ),
        ("  url: redis://h/0\n", "10:1: error: cache: give exactly one of encryption_keys"),
        (
            "  url: redis://h/0\n  encryption_keys:\n    - ${KS_CACHE_KEY}\n  namespace: a/b\n",
            "14:14: error: cache.namespace: a cache namespace is 1 to 64 characters",
        ),
        (
            "  url: redis://h/0\n  encryption_keys:\n    - ${KS_CACHE_KEY}\n  ttl: 5\n",
            "14:3: error: cache.ttl: unknown key",
        ),
    ],
)
def test_a_bad_cache_section_is_an_error_at_its_line(
    write: Callable[..., Path], section: str, expected: str
) -> None:
    env = {**CACHE_ENV, "SHORT_KEY": base64.b64encode(b"k" * 16).decode()}
    reported = error_text(write(with_cache(section)), env, imports=False)
    places = [line.split(".yaml:", 1)[-1] for line in reported.splitlines()]
    assert any(place.startswith(expected) for place in places), reported
    assert "hunter2" not in reported and KEY_1 not in reported


def test_a_bad_key_in_the_keys_file_names_its_line_not_its_value(
    write: Callable[..., Path],
) -> None:
    write(f"{KEY_1}\nnot-a-key\n", "cache.keys")
    text = with_cache("  url: redis://h/0\n  encryption_keys_file: cache.keys\n")
    reported = error_text(write(text), imports=False)
    assert "cache.encryption_keys_file: line 2 of the file: not base64" in reported
    assert KEY_1 not in reported


def test_a_password_may_come_with_the_whole_url_from_the_environment(
    write: Callable[..., Path],
) -> None:
    text = with_cache("  url: ${CACHE_URL}\n  encryption_keys:\n    - ${KS_CACHE_KEY}\n")
    env = {**CACHE_ENV, "CACHE_URL": "rediss://:hunter2@cache.internal:6380/0"}
    cache = load(write(text), env, imports=False).config.cache
    assert cache.url.get_secret_value() == env["CACHE_URL"]
    assert "hunter2" not in repr(cache)


def test_the_provider_gets_the_shared_tier_named_after_the_base_url(
    write: Callable[..., Path],
) -> None:
    provider = build_provider(load(write(CACHE), CACHE_ENV, imports=False))
    assert repr(provider._shared_cache) == (
        "SharedTokenCache(store='127.0.0.1:6379', namespace='127.0.0.1-8000')"
    )


def test_the_library_takes_the_same_three_settings() -> None:
    provider = AuthProvider(
        zone_id="my-zone",
        mcp_base_url="https://mcp.example.com/",
        cache_url="valkey://cache:6379/0",
        cache_encryption_keys=[KEY_1, base64.b64decode(KEY_2)],
        cache_namespace="weather-prod",
    )
    assert "weather-prod" in repr(provider._shared_cache)
    with pytest.raises(ConfigurationError, match="32 random bytes") as caught:
        AuthProvider(
            zone_id="my-zone",
            mcp_base_url="https://mcp.example.com/",
            cache_url="redis://cache/0",
            cache_encryption_keys=["c2hvcnQ="],
        )
    assert caught.value.code == "cache_config"
    with pytest.raises(ConfigurationError, match="without cache_url"):
        AuthProvider(
            zone_id="my-zone", mcp_base_url="https://x.example/", cache_encryption_keys=[KEY_1]
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4", 4), ("${WORKERS}", 3)],
)
def test_workers(write: Callable[..., Path], value: str, expected: int) -> None:
    text = VALID.replace("zone:", f"  workers: {value}\nzone:", 1)
    config = load(write(text), {**ENV, "WORKERS": "3"}, imports=False).config
    assert config.server.workers == expected
    assert load(write(VALID), imports=False).config.server.workers == 1


@pytest.mark.parametrize("value", ["0", "-1", "two", "04"])
def test_workers_must_be_a_positive_number(write: Callable[..., Path], value: str) -> None:
    text = VALID.replace("zone:", f"  workers: {value}\nzone:", 1)
    assert "5:12: error: server.workers:" in error_text(write(text), imports=False)
