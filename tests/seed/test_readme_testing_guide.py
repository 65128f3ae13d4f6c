"""The README's "Testing your tools" section, run as written.

The code blocks are read from README.md itself, so the guide cannot drift from what works:
the pytest samples are executed and their test functions called; the development-zone
recipe runs its ``curl`` commands against a real development zone and serves the library
sample with the credentials they return, then calls its tool over HTTP with the caller token.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastmcp import Client

from keycard_serve.devzone import DevZone
from tests.support.servers import bound_socket, serve_asgi

ROOT = Path(__file__).resolve().parents[2]
SECTION = (
    (ROOT / "README.md").read_text().split("## Testing your tools", 1)[1].split("\n## ", 1)[0]
)
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", SECTION, re.DOTALL)
PYTHON = [code for language, code in BLOCKS if language == "python"]
SHELL = [code for language, code in BLOCKS if language == "sh"]
SAMPLE_BASE_URL = "http://127.0.0.1:8001/"


def _module(code: str, name: str) -> ModuleType:
    module = ModuleType(name)
    sys.modules[name] = module  # pydantic (FastMCP's tool schemas) resolves names there
    try:
        exec(compile(code, f"README.md:{name}", "exec"), module.__dict__)
    finally:
        del sys.modules[name]
    return module


async def _run_tests(module: ModuleType) -> list[str]:
    names = [name for name in vars(module) if name.startswith("test_")]
    for name in names:
        await getattr(module, name)()
    return names


def test_the_section_has_its_samples() -> None:
    assert len(PYTHON) == 3
    assert len(SHELL) == 1


async def test_mock_access_context_around_the_in_memory_client() -> None:
    names = await _run_tests(_module(PYTHON[0], "readme_mock"))
    assert names == [
        "test_forecast_gets_the_delegated_token",
        "test_forecast_when_the_exchange_fails",
    ]


async def test_server_from_config_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader adds the config directory
    names = await _run_tests(_module(PYTHON[1], "readme_config"))
    assert names == ["test_the_config_grants_sync_calendar_and_mail"]


@pytest.fixture
def zone(tmp_path: Path) -> Iterator[DevZone]:
    sock = bound_socket()
    zone = DevZone(port=sock.getsockname()[1], state_dir=tmp_path / "zone")
    with serve_asgi(zone.app, sock=sock):
        yield zone


def _commands(script: str) -> list[str]:
    """The script's commands: continuation lines joined, comments and ZONE= dropped."""
    joined = script.replace("\\\n", " ")
    lines = [line.split("   #", 1)[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "ZONE="))]


def _sh(command: str, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        ["bash", "-c", command], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_library_credentials_on_the_dev_zone(
    zone: DevZone, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = bound_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    register_server, register_caller, token = _commands(SHELL[0].replace(SAMPLE_BASE_URL, base_url))
    env = {"ZONE": zone.issuer}
    server = _sh(register_server, env)
    caller = _sh(register_caller, env)
    env |= {"CALLER_ID": caller["client_id"], "CALLER_SECRET": caller["client_secret"]}
    bearer = _sh(token, env)["access_token"]

    monkeypatch.setenv("ZONE", zone.issuer)
    monkeypatch.setenv("CLIENT_ID", server["client_id"])
    monkeypatch.setenv("CLIENT_SECRET", server["client_secret"])
    sample = _module(PYTHON[2].replace(SAMPLE_BASE_URL, base_url), "readme_library")
    with serve_asgi(sample.mcp.http_app(path="/mcp"), sock=sock):
        async with Client(base_url + "mcp", auth=bearer) as client:
            result = await client.call_tool("delegated", {})
    assert re.fullmatch(r"exchanged a \d+-character token", result.data)
