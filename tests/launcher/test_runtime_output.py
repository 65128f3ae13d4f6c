"""What a running launcher prints and reports: each line once, one format, the app's version."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from keycard_serve import __version__
from tests.support.launcher import ROOT, launch
from tests.support.servers import free_port

TOOLS = """\
def fails() -> str:
    raise RuntimeError("the tool broke")


def fine() -> str:
    return "fine"
"""

CONFIG = """\
version: 1
server:
  name: Output
  base_url: {base_url}
{version}zone:
  dev: true
tools:
  - function: output_tools:fails
  - function: output_tools:fine
"""


def start(tmp: Path, version: str = ""):
    (tmp / "output_tools.py").write_text(TOOLS)
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp / "keycard-serve.yaml"
    config.write_text(CONFIG.format(base_url=base_url, version=version))
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp / "state")}
    return config, env, launch([str(config)], base_url=base_url, env=env, log_path=tmp / "log.txt")


def token(config: Path, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "keycard_serve", "token", str(config)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


async def test_lifecycle_lines_once_and_fastmcp_lines_in_our_format(tmp_path):
    config, env, launching = start(tmp_path, version="  version: 2.5.0\n")
    with launching as running:
        async with Client(running.mcp_url, auth=token(config, env), mode="legacy") as client:
            assert client.initialize_result.server_info.version == "2.5.0"
            with pytest.raises(ToolError):
                await client.call_tool("fails", {})
        running.process.send_signal(signal.SIGINT)
        running.process.wait(timeout=20)
        log = running.log()
    # One server process, whatever runs inside it (the development zone is a second server).
    for line in ("Started server process", "Shutting down", "Finished server process"):
        assert log.count(line) == 1, f"{line!r}:\n{log}"
    # FastMCP's own report of the failed tool comes through our handler, not its rich one.
    (failure,) = [line for line in log.splitlines() if "Error calling tool 'fails'" in line]
    assert failure.startswith("ERROR fastmcp.server.server: "), failure
    assert not re.search(r"^\[\d\d/\d\d/\d\d", log, re.MULTILINE)  # rich's time column
    assert "INFO:     " not in log  # uvicorn's own format


async def test_server_version_defaults_to_keycard_serves(tmp_path):
    config, env, launching = start(tmp_path)
    with launching as running:
        async with Client(running.mcp_url, auth=token(config, env), mode="legacy") as client:
            assert client.initialize_result.server_info.version == __version__
            assert (await client.call_tool("fine", {})).data == "fine"
