"""``${VAR}`` expansion: the forms allowed, and what is never done."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from keycard_serve.config import load_config
from keycard_serve.config._interpolate import InterpolationError, interpolate

from .conftest import ENV, VALID, error_text

ENVIRON = {"HOST": "api.example", "EMPTY": "", "NESTED": "${HOST}", "CMD": "$(id)"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://${HOST}/", "https://api.example/"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),  # as in the shell, ':-' also covers empty
        ("${MISSING:-}", ""),
        ("costs $$5", "costs $5"),
        ("$${HOST}", "${HOST}"),
        ("${NESTED}", "${HOST}"),  # a value from the environment is never expanded again
        ("${CMD}", "$(id)"),
        ("no references", "no references"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, ENVIRON) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${MISSING}", "environment variable MISSING is not set; export MISSING=... before"),
        ("${MISSING}", "or write ${MISSING:-default} where a default value is acceptable"),
        ("${EMPTY}", "environment variable EMPTY is empty"),
        ("$HOST", "a '$' must start ${NAME}"),
        ("$(id)", "a '$' must start ${NAME}"),
        ("trailing $", "a '$' must start ${NAME}"),
        ("${HOST", "unterminated or nested"),
        ("${A:-${HOST}}", "unterminated or nested"),
        ("${HOST:?required}", "is not a supported reference"),
        ("${1ABC}", "is not a supported reference"),
    ],
)
def test_interpolate_refuses(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message.replace("$", r"\$").replace("(", r"\(")):
        interpolate(text, ENVIRON)


def test_missing_variable_is_named_but_no_value_is_shown(write: Callable[..., Path]) -> None:
    path = write(VALID.replace("id: my-zone", "id: ${ZONE}-${REGION}"))
    text = error_text(path, {**ENV, "ZONE": "visible-if-leaked"})
    assert f"{path}:6:7: error: zone.id: environment variable REGION is not set" in text
    assert "visible-if-leaked" not in text


def test_environ_defaults_to_os_environ(
    write: Callable[..., Path], in_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = write(VALID.replace("id: my-zone", "id: ${KEYCARD_ZONE_ID}"))
    assert load_config(path).config.zone.id == "my-zone"


def test_dollars_outside_interpolated_fields_are_plain_text(
    write: Callable[..., Path], in_repo: Path
) -> None:
    path = write(VALID + "    description: Costs $5 per $$ spent\n")
    assert load_config(path, environ=ENV).tools[0].description == "Costs $5 per $$ spent"
