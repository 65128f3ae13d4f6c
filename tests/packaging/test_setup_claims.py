"""The README's set-up section says what a fresh machine needs, and what CI runs, truly."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
INSPECTOR = ROOT / "tests" / "clients" / "node_modules" / "@modelcontextprotocol" / "inspector"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_the_readme_states_the_pinned_inspectors_node_requirement() -> None:
    pinned = json.loads((ROOT / "tests" / "clients" / "package.json").read_text())
    version = pinned["dependencies"]["@modelcontextprotocol/inspector"]
    installed = json.loads((INSPECTOR / "package.json").read_text())
    assert installed["version"] == version
    needed = re.fullmatch(r">=\s*([\d.]+)", installed["engines"]["node"])
    assert needed, installed["engines"]
    stated = re.sub(r"\s+", " ", README)
    assert f"The pinned Inspector ({version}) declares Node.js ≥ {needed[1]}" in stated


def test_the_stated_minimum_node_is_the_one_the_tests_run_on() -> None:
    stated = re.search(r"tests, Node\.js ≥ (\d+)", README)
    assert stated
    running = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    major = _version(running.stdout.strip().lstrip("v"))[0]
    # The suite (the Inspector tests included) runs here; the README must not ask for more.
    assert int(stated[1]) <= major


def test_ci_runs_the_readme_test_command_and_ruff() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = (
        "npm ci --prefix tests/authserver && npm ci --prefix tests/clients && python -m pytest"
    )
    assert f"{command}   # run the tests" in README
    assert ci.index("ruff check .") < ci.index(command)
    assert "after `ruff check .`" in README
