"""How issues read as text, as GitHub annotations and as JSON."""

from __future__ import annotations

import json

from keycard_serve.config import ConfigError, ConfigIssue
from keycard_serve.errors import ConfigurationError

PORT = ConfigIssue("cfg.yaml", 7, 9, "server.port", "must be a decimal number", "error")
QUERY = ConfigIssue("cfg.yaml", 12, 5, "tools[1].grants[0].resource", "has a ?query", "warning")
EMPTY = ConfigIssue("cfg.yaml", None, None, "", "file is empty")


def test_text() -> None:
    assert PORT.format_text() == "cfg.yaml:7:9: error: server.port: must be a decimal number"
    assert EMPTY.format_text() == "cfg.yaml: error: file is empty"


def test_github_annotation_escapes_its_separators() -> None:
    assert QUERY.format_github() == (
        "::warning file=cfg.yaml,line=12,col=5::tools[1].grants[0].resource: has a ?query"
    )
    odd = ConfigIssue("a,b:c.yaml", 1, 1, "x", "50% done\nnext")
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
    issues = [ConfigIssue("cfg.yaml", line, 1, "x", "unknown key") for line in range(1, 121)]
    lines = str(ConfigError(issues)).splitlines()
    assert lines[0] == "invalid configuration cfg.yaml (120 errors):"
    assert lines[-1] == "... and 70 more"
    assert len(lines) == 52
