"""How findings read as text, as GitHub annotations and as JSON; every one has a line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from keycard_serve.config import ConfigError, Finding, load_config
from keycard_serve.errors import ConfigurationError

PORT = Finding("cfg.yaml", 7, 9, "server.port", "must be a decimal number", "error")
QUERY = Finding("cfg.yaml", 12, 5, "tools[1].grants[0].resource", "has a ?query", "warning")
EMPTY = Finding("cfg.yaml", 1, 1, "", "file is empty")


def test_text() -> None:
    assert PORT.format_text() == "cfg.yaml:7:9: error: server.port: must be a decimal number"
    assert EMPTY.format_text() == "cfg.yaml:1:1: error: file is empty"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"# only a comment\n", "file is empty"),
        (b"---\n", "file is empty"),
        (b"x" * (1024 * 1024 + 1), "file is larger than 1024 KiB"),
    ],
)
def test_a_whole_file_problem_is_placed_at_1_1(
    write: Callable[..., Path], content: bytes, message: str
) -> None:
    path = write(content)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    (finding,) = raised.value.findings
    assert (finding.line, finding.column, finding.field) == (1, 1, "")
    assert finding.message.startswith(message)
    assert finding.format_github().startswith(f"::error file={path},line=1,col=1::{message}")


def test_a_missing_file_is_placed_at_1_1(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "absent.yaml", environ={})
    assert [(f.line, f.column, f.message) for f in raised.value.findings] == [
        (1, 1, "file not found")
    ]


def test_github_annotation_escapes_its_separators() -> None:
    assert QUERY.format_github() == (
        "::warning file=cfg.yaml,line=12,col=5::tools[1].grants[0].resource: has a ?query"
    )
    odd = Finding("a,b:c.yaml", 1, 1, "x", "50% done\nnext")
    assert odd.format_github() == "::error file=a%2Cb%3Ac.yaml,line=1,col=1::x: 50%25 done%0Anext"


def test_json() -> None:
    assert json.loads(json.dumps(PORT.to_dict())) == {
        "file": "cfg.yaml",
        "line": 7,
        "column": 9,
        "path": "server.port",
        "message": "must be a decimal number",
        "severity": "error",
    }


def test_error_is_one_block_errors_first() -> None:
    error = ConfigError([QUERY, PORT])
    assert isinstance(error, ConfigurationError) and error.code == "invalid_config"
    assert str(error) == (
        "invalid configuration cfg.yaml (1 error, 1 warning):\n"
        "cfg.yaml:7:9: error: server.port: must be a decimal number\n"
        "cfg.yaml:12:5: warning: tools[1].grants[0].resource: has a ?query"
    )


def test_long_lists_are_cut() -> None:
    findings = [Finding("cfg.yaml", line, 1, "x", "unknown key") for line in range(1, 121)]
    lines = str(ConfigError(findings)).splitlines()
    assert lines[0] == "invalid configuration cfg.yaml (120 errors):"
    assert lines[-1] == "... and 70 more"
    assert len(lines) == 52
