"""The shared token cache's pure parts, without sockets: keys, entry names, sealing, URLs."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from keycard_serve import ExchangedToken
from keycard_serve._sealing import (
    Sealer,
    default_namespace,
    entry_name,
    parse_encryption_key,
)
from keycard_serve._shared_cache import SharedTokenCache, parse_cache_url

KEY_1 = os.urandom(32)
KEY_2 = os.urandom(32)
CLIENT = "weather-mcp-client"
CACHE_KEY = (
    hashlib.sha256(b"eyJhbGciOi.caller.token").hexdigest(),
    "https://api.example/",
    ("mail.read",),
    CLIENT,
)


# --- encryption keys ---------------------------------------------------------------------------


def test_a_base64_key_of_32_random_bytes_parses() -> None:
    assert parse_encryption_key(base64.b64encode(KEY_1).decode()) == KEY_1
    assert parse_encryption_key(base64.urlsafe_b64encode(KEY_1).decode().rstrip("=")) == KEY_1
    assert parse_encryption_key(f"  {base64.b64encode(KEY_1).decode()}\n") == KEY_1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not base64 at all!", "not base64"),
        (base64.b64encode(b"k" * 16).decode(), "decodes to 16 bytes"),
        (base64.b64encode(os.urandom(33)).decode(), "decodes to 33 bytes"),
        ("", "decodes to 0 bytes"),
        (base64.b64encode(b"correct horse battery staple 123").decode(), "not random bytes"),
        (base64.b64encode(bytes(32)).decode(), "not random bytes"),
    ],
)
def test_a_malformed_key_is_a_clear_error_that_does_not_repeat_it(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        parse_encryption_key(text)
    assert "openssl rand -base64 32" in str(caught.value)
    if text.strip():
        assert text not in str(caught.value)


# --- entry names -------------------------------------------------------------------------------


def test_entry_names_are_stable_hashes_that_show_nothing_of_the_key() -> None:
    name = entry_name("weather-prod", CACHE_KEY)
    assert name == entry_name("weather-prod", CACHE_KEY)  # every replica finds the same entry
    prefix, namespace, digest = name.split(":")
    assert (prefix, namespace, len(digest)) == ("keycard-serve", "weather-prod", 64)
    for shown in (CACHE_KEY[0], CACHE_KEY[0][:16], "api.example", "mail.read", CLIENT):
        assert shown not in name


@pytest.mark.parametrize(
    "other",
    [
        (CACHE_KEY[0], "https://api.example/other", ("mail.read",), CLIENT),
        (CACHE_KEY[0], "https://api.example/", (), CLIENT),
        (CACHE_KEY[0], "https://api.example/", ("mail.read",), "another-client"),
        (hashlib.sha256(b"another caller").hexdigest(), *CACHE_KEY[1:]),
    ],
)
def test_any_difference_in_the_cache_key_is_another_entry(other: tuple) -> None:
    assert entry_name("ns", other) != entry_name("ns", CACHE_KEY)


def test_namespaces_separate_servers_and_must_be_plain_names() -> None:
    assert entry_name("a", CACHE_KEY) != entry_name("b", CACHE_KEY)
    for bad in ("", "has space", "a:b", "x" * 65, "été"):
        with pytest.raises(ValueError, match="namespace"):
            entry_name(bad, CACHE_KEY)


def test_the_default_namespace_is_the_base_url_without_scheme() -> None:
    assert default_namespace("https://mcp.example.com/") == "mcp.example.com"
    assert default_namespace("http://127.0.0.1:8000/tools/") == "127.0.0.1-8000-tools"
    entry_name(default_namespace("https://" + "x" * 200 + ".example/"), CACHE_KEY)  # valid


# --- sealing -----------------------------------------------------------------------------------

NAME = entry_name("ns", CACHE_KEY)
PLAINTEXT = b'{"record":{"access_token":"eyJ.secret.jwt"}}'


def test_a_sealed_entry_opens_under_its_own_name_and_hides_its_contents() -> None:
    sealed = Sealer([KEY_1]).seal(NAME, PLAINTEXT)
    assert Sealer([KEY_1]).open(NAME, sealed) == PLAINTEXT
    assert b"eyJ" not in sealed and b"secret" not in sealed
    assert Sealer([KEY_1]).seal(NAME, PLAINTEXT) != sealed  # a fresh nonce each time


def test_an_entry_copied_to_another_name_does_not_open() -> None:
    sealed = Sealer([KEY_1]).seal(NAME, PLAINTEXT)
    assert Sealer([KEY_1]).open(entry_name("ns", (*CACHE_KEY[:3], "other")), sealed) is None
    assert Sealer([KEY_1]).open(entry_name("other-ns", CACHE_KEY), sealed) is None


def test_every_flipped_bit_and_every_truncation_is_refused() -> None:
    sealer = Sealer([KEY_1])
    sealed = sealer.seal(NAME, PLAINTEXT)
    for index in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[index] ^= 0x01
        assert sealer.open(NAME, bytes(tampered)) is None, index
    for length in range(len(sealed)):
        assert sealer.open(NAME, sealed[:length]) is None, length
    assert sealer.open(NAME, sealed + b"\x00") is None


def test_an_entry_sealed_with_an_unknown_key_or_planted_is_refused() -> None:
    assert Sealer([KEY_2]).open(NAME, Sealer([KEY_1]).seal(NAME, PLAINTEXT)) is None
    assert Sealer([KEY_1]).open(NAME, PLAINTEXT) is None
    assert Sealer([KEY_1]).open(NAME, b"\x01" + os.urandom(60)) is None
    assert Sealer([KEY_1]).open(NAME, b"\x01" + bytes(64 * 1024)) is None  # oversized


def test_rotation_the_first_key_seals_and_every_key_opens() -> None:
    old, rotated = Sealer([KEY_1]), Sealer([KEY_2, KEY_1])
    assert rotated.open(NAME, old.seal(NAME, PLAINTEXT)) == PLAINTEXT
    assert old.open(NAME, rotated.seal(NAME, PLAINTEXT)) is None  # sealed with the new key
    assert Sealer([KEY_2]).open(NAME, rotated.seal(NAME, PLAINTEXT)) == PLAINTEXT


def test_a_sealer_needs_proper_keys_and_never_shows_them() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Sealer([])
    with pytest.raises(ValueError, match="32 bytes"):
        Sealer([b"short"])
    shown = repr(Sealer([KEY_1, KEY_2]))
    assert shown == "Sealer(<2 keys>)"


# --- store URLs and construction ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("rediss://cache.internal:6380/2", "rediss://cache.internal:6380/2"),
        ("valkey://valkey:6379", "redis://valkey:6379"),
        ("VALKEYS://:pw@valkey:6380/1", "rediss://:pw@valkey:6380/1"),
    ],
)
def test_store_urls_in_every_supported_scheme(url: str, expected: str) -> None:
    assert parse_cache_url(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://:s3cret@cache:6379/0", "unsupported scheme http://"),
        ("cache:6379", "unsupported scheme cache://"),
        ("redis://:s3cret@/0", "no host"),
        ("redis://:s3cret@cache:99999/0", "port"),
        ("redis://:s3cret@cache:0/0", "port 0"),
        ("redis://:s3cret@cache:6379/zero", "database"),
    ],
)
def test_a_bad_store_url_is_a_clear_error_without_the_password(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        parse_cache_url(url)
    assert "s3cret" not in str(caught.value)


def test_constructing_the_cache_checks_everything_and_contacts_nothing() -> None:
    # Port 9 (discard) on a documentation address: a connection attempt would hang or fail.
    cache = SharedTokenCache(
        "valkey://user:s3cret@192.0.2.1:9/0",
        encryption_keys=[KEY_1],
        namespace="ns",
        record_type=ExchangedToken,
    )
    assert repr(cache) == "SharedTokenCache(store='192.0.2.1:9', namespace='ns')"
    with pytest.raises(ValueError, match="namespace"):
        SharedTokenCache(
            "redis://h", encryption_keys=[KEY_1], namespace="a b", record_type=ExchangedToken
        )
    with pytest.raises(ValueError, match="at least one"):
        SharedTokenCache("redis://h", encryption_keys=[], namespace="a", record_type=ExchangedToken)
    with pytest.raises(TypeError, match="dataclass"):
        SharedTokenCache("redis://h", encryption_keys=[KEY_1], namespace="a", record_type=dict)
