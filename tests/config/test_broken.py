"""The battery of broken configs: each file states, in ``# expect:`` lines, what a user sees.

An expectation is the start of one reported line after the file name, e.g.
``# expect: 7:9: error: server.port: must be a decimal number``. Every error the loader
reports must be expected, and every expectation reported, so noise fails a test as well.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import error_text

BROKEN = Path(__file__).parent / "broken"
_EXPECT = re.compile(rb"^# expect: (.*)$", re.MULTILINE)


def _expectations(path: Path) -> list[str]:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # utf-16.yaml states its error in UTF-16
        data = data.decode("utf-16").encode()
    found = [match.decode() for match in _EXPECT.findall(data)]
    assert found, f"{path.name} has no '# expect:' line"
    return [f"{path}:{text}" for text in found]  # every finding has a line, 1:1 for the file


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda path: path.stem)
def test_broken_config_reports_exactly_the_expected_errors(path: Path, in_repo: Path) -> None:
    reported = error_text(path)
    errors = [line for line in reported.splitlines() if ": error: " in line]
    expected = _expectations(path)
    for expectation in expected:
        assert any(line.startswith(expectation) for line in errors), reported
    assert len(errors) == len(expected), reported
