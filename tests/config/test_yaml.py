"""The YAML layer: what is refused before validation, and what plain scalars mean."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from keycard_serve.config import ServeConfig
from keycard_serve.config._yaml import MAX_BYTES, parse_yaml

from .conftest import ENV, VALID, error_text, load


def _billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_fast_and_before_pydantic(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # str(ValidationError) on the expanded data hung for over a minute (security-catalogue
    # 0.5): the file must never get that far.
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("pydantic saw the alias bomb")

    monkeypatch.setattr(ServeConfig, "model_validate", fail)
    path = write(_billion_laughs())
    started = time.perf_counter()
    text = error_text(path)
    assert time.perf_counter() - started < 0.5
    assert f"{path}:1:4: error: anchors and aliases" in text


@pytest.mark.parametrize(
    ("tag", "argument"),
    [
        ("!!python/object/apply:os.system", '["touch {marker}"]'),
        ("!!python/name:os.system", '""'),
        ("!!python/object/new:pathlib.Path", '["{marker}"]'),
    ],
)
def test_python_tags_construct_nothing(
    write: Callable[..., Path], tmp_path: Path, tag: str, argument: str
) -> None:
    marker = tmp_path / "pwned"
    value = f"{tag} {argument.format(marker=marker)}"
    path = write(VALID.replace("name: Weather Tools", f"name: {value}"))
    assert f"{path}:3:9: error: server.name: YAML tag {tag} is not allowed" in error_text(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"\n\n", b"# nothing here\n", b"---\n"])
def test_empty_files(write: Callable[..., Path], content: bytes) -> None:
    path = write(content)
    assert error_text(path).endswith(
        f"{path}:1:1: error: file is empty; expected a mapping with version, server, zone and tools"
    )


def test_control_characters(write: Callable[..., Path]) -> None:
    path = write(VALID.replace("Weather Tools", "Weather\x07Tools"))
    assert f"{path}:3:16: error: control character U+0007 is not allowed" in error_text(path)


def test_oversized_file_is_refused_before_parsing(write: Callable[..., Path]) -> None:
    path = write(VALID + "#" * MAX_BYTES)
    assert f"{path}:1:1: error: file is larger than 1024 KiB; refusing to parse it" in error_text(
        path
    )


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert f"{tmp_path / 'nope.yaml'}:1:1: error: file not found" in error_text(
        tmp_path / "nope.yaml"
    )
    assert f"{tmp_path}:1:1: error: is a directory" in error_text(tmp_path)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'0123'", "0123"),  # quoted: text, as in YAML 1.2 (1.1 read 0123 as the octal 83)
        ("no", "no"),  # YAML 1.1: False
        ("1:20", "1:20"),  # YAML 1.1: sexagesimal 80
        ("2026-11-28", "2026-11-28"),  # YAML 1.1: a date
        ('"1e3"', "1e3"),
        ("'~'", "~"),
    ],
)
def test_plain_scalars_stay_strings(
    write: Callable[..., Path], in_repo: Path, text: str, value: str
) -> None:
    path = write(VALID.replace("client_id: ${KEYCARD_CLIENT_ID}", f"client_id: {text}"))
    assert load(path).config.credentials.client_id == value


@pytest.mark.parametrize(
    ("text", "kind"), [("0123", "number"), ("1e3", "number"), ("true", "boolean")]
)
def test_plain_numbers_and_booleans_are_not_text(
    write: Callable[..., Path], text: str, kind: str
) -> None:
    """YAML 1.2, and so the JSON Schema in an editor, reads these as numbers or booleans."""
    path = write(VALID.replace("client_id: ${KEYCARD_CLIENT_ID}", f"client_id: {text}"))
    assert (
        f"error: credentials.client_id: expected a string, got the {kind} {text}; quote it if "
        f'it is text: "{text}"'
    ) in error_text(path)


@pytest.mark.parametrize(("text", "value"), [("8000", 8000), ('"${PORT}"', 8000), ("1", 1)])
def test_ports_are_plain_decimal_numbers(
    write: Callable[..., Path], in_repo: Path, text: str, value: int
) -> None:
    path = write(VALID.replace("  base_url:", f"  port: {text}\n  base_url:"))
    assert load(path, {**ENV, "PORT": "8000"}).config.server.port == value


@pytest.mark.parametrize("text", ["0", "65536", "-1", "+80", "1_000", "0x1F", "8000.0"])
def test_ports_out_of_range_or_not_decimal(write: Callable[..., Path], text: str) -> None:
    path = write(VALID.replace("  base_url:", f"  port: {text}\n  base_url:"))
    assert f"{path}:4:9: error: server.port: must be" in error_text(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"8000"', 'must be a number without quotes (a quoted "8000" is text)'),
        ("true", "must be a number, not true"),
    ],
)
def test_quoted_ports_are_text(write: Callable[..., Path], text: str, message: str) -> None:
    path = write(VALID.replace("  base_url:", f"  port: {text}\n  base_url:"))
    assert f"{path}:4:9: error: server.port: {message}" in error_text(path)


@pytest.mark.parametrize("text", ['"true"', "'False'"])
def test_quoted_booleans_are_text(write: Callable[..., Path], text: str) -> None:
    path = write(VALID.replace("  base_url:", f"  stateless: {text}\n  base_url:"))
    assert (
        f"{path}:4:14: error: server.stateless: must be true or false without quotes "
        f'(a quoted "{text[1:-1]}" is text)'
    ) in error_text(path)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("TRUE", True)])
def test_booleans_are_true_or_false_only(
    write: Callable[..., Path], in_repo: Path, text: str, value: bool
) -> None:
    path = write(VALID.replace("  base_url:", f"  stateless: {text}\n  base_url:"))
    assert load(path).config.server.stateless is value


@pytest.mark.parametrize("text", ["", "~", "null"])
def test_null_values_count_as_absent(write: Callable[..., Path], text: str) -> None:
    path = write(VALID.replace("name: Weather Tools", f"name: {text}"))
    assert f"{path}:3:3: error: server.name: expected a string, got nothing" in error_text(path)


def test_positions_point_at_keys_and_values() -> None:
    document = parse_yaml(b"server:\n  name: x\ntools:\n  - grants: [a, b]\n")
    assert document.keys[("server", "name")] == (2, 3)
    assert document.values[("server", "name")] == (2, 9)
    assert document.values[("server",)] == (1, 1)  # a block: its key's line
    assert document.values[("tools", 0, "grants", 1)] == (4, 17)
