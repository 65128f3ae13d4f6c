"""What each command imports: the quick ones never load FastMCP (timings: bench/cli_startup.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs the command in a fresh interpreter, as `keycard-serve ...` does, then prints which
# modules it had imported by the time it exited.
PROBE = """\
import json, sys
from keycard_serve.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported(tmp_path: Path, *args: str, path: Path | None = None) -> set[str]:
    env = {**os.environ, "KEYCARD_SERVE_STATE_DIR": str(tmp_path / "state")}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stdout + done.stderr
    return set(report["modules"])


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_version_and_help_build_no_config_models(tmp_path):
    for args in (["--version"], ["--help"], ["dev", "--help"]):
        modules = imported(tmp_path, *args)
        assert not packages(modules) & {"fastmcp", "mcp", "uvicorn", "starlette"}, args
        assert "keycard_serve.config.models" not in modules, args


@pytest.mark.parametrize(
    "args",
    [
        ["schema"],
        ["plan", "configs/quickstart.yaml"],
        ["token", "configs/quickstart.yaml"],
        ["doctor", "--help"],
    ],
)
def test_commands_that_only_read_a_config_never_import_fastmcp(tmp_path, args):
    assert not packages(imported(tmp_path, *args)) & {"fastmcp", "mcp"}


def test_validate_pays_for_fastmcp_only_through_the_tools_it_imports(tmp_path):
    (tmp_path / "plain_tools.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    config = tmp_path / "plain.yaml"
    config.write_text(
        "version: 1\nserver: {name: p, base_url: 'http://127.0.0.1:8000/'}\n"
        "zone: {dev: true}\ntools: [{function: 'plain_tools:add'}]\n"
    )
    plain = imported(tmp_path, "validate", str(config), path=tmp_path)
    assert "plain_tools" in plain
    assert "fastmcp" not in packages(plain)
    # The example tools take a FastMCP Context: importing them imports FastMCP.
    assert "fastmcp" in packages(imported(tmp_path, "validate", "configs/quickstart.yaml"))
