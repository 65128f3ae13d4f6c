"""The MCP Inspector's CLI (npm ``@modelcontextprotocol/inspector``, TypeScript SDK underneath)
listing and calling tools with a bearer token, and signing in by OAuth on its own.

It runs from ``tests/clients/node_modules`` (``npm ci --prefix tests/clients``) with plain
``node``, never ``npx``, so nothing is fetched at run time. Its state (catalog, client config,
OAuth store, secrets) goes to a temporary HOME and an in-memory secret store, and automatic
browser opening is off. Bearer runs add ``--stored-auth-only`` (no interactive sign-in: a
missing or refused token is an exit code); the sign-in run prints its authorization URL and
the test plays the browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.clients.devserver import TOOLS, DevServer
from tests.support.servers import free_port

CLIENTS_DIR = Path(__file__).resolve().parent
INSPECTOR = CLIENTS_DIR / "node_modules" / ".bin" / "mcp-inspector"
EXIT_AUTH_REQUIRED = 3  # the Inspector CLI's EXIT_CODES.AUTH_REQUIRED
ERAS = ["legacy", "modern"]  # 2025-11-25 sessions; 2026-07-28
NAVIGATE = "Please navigate to: "
FORMAT = ("--format", "json")


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The JSON line ``--format json`` prints: the result on stdout, or the error envelope
        last on stderr (after any warnings)."""
        return json.loads(self.stdout or self.stderr.splitlines()[-1])


@dataclass
class SignIn:
    """An Inspector run that signed in: the authorization URLs it sent the user to, and how it
    ended."""

    outcome: Outcome
    authorization_urls: list[str]


@dataclass
class Inspector:
    node: str
    home: Path

    def run(self, url: str, *args: str) -> Outcome:
        """Run the CLI with interactive sign-in refused (what CI should do)."""
        done = subprocess.run(
            self._command(url, "--stored-auth-only", *args),
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    def sign_in(self, url: str, *args: str) -> SignIn:
        """Run the CLI as a user at a terminal: it prints the authorization URL (the browser
        stays off) and this test plays the browser."""
        callback = f"http://127.0.0.1:{free_port()}/oauth/callback"
        command = self._command(url, "--callback-url", callback, *args)
        terminal, stdin = os.openpty()  # a TTY on stdin is what makes it willing to sign in
        with subprocess.Popen(
            command, env=self._env(), stdin=stdin, stdout=PIPE, stderr=PIPE, text=True
        ) as process:
            os.close(stdin)
            watchdog = threading.Timer(60, process.kill)
            watchdog.start()
            urls: list[str] = []
            stderr: list[str] = []
            try:
                assert process.stderr is not None and process.stdout is not None
                for line in process.stderr:
                    stderr.append(line)
                    if line.startswith(NAVIGATE):
                        urls.append(line.removeprefix(NAVIGATE).strip())
                        _browse(urls[-1], callback)
                stdout = process.stdout.read()
                returncode = process.wait()
            finally:
                watchdog.cancel()
                os.close(terminal)
                if process.poll() is None:  # a failed check above: do not wait for its timeout
                    process.kill()
        return SignIn(Outcome(returncode, stdout, "".join(stderr)), urls)

    def _command(self, url: str, *args: str) -> list[str]:
        return [self.node, str(INSPECTOR), "--cli", url, "--transport", "http", *FORMAT, *args]

    def _env(self) -> dict[str, str]:
        """A clean environment: no proxy, no desktop, state under a temporary HOME."""
        return {
            "PATH": str(Path(self.node).parent),
            "HOME": str(self.home),
            "MCP_STORAGE_DIR": str(self.home / "storage"),
            "MCP_CATALOG_PATH": str(self.home / "mcp.json"),
            "MCP_CLIENT_CONFIG_PATH": str(self.home / "client.json"),
            "MCP_INSPECTOR_SECRET_STORE": "memory",  # never the OS keyring
            "MCP_AUTO_OPEN_ENABLED": "false",  # never a browser
            "NO_COLOR": "1",
        }


def _browse(authorization_url: str, callback: str) -> None:
    """The user's browser: the dev zone approves at once and redirects to the CLI's listener."""
    approved = httpx.get(authorization_url)
    assert approved.status_code == 302, approved.text
    location = approved.headers["location"]
    assert location.startswith(callback + "?"), location
    assert httpx.get(location).status_code == 200


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def inspector(tmp_path: Path) -> Inspector:
    if not INSPECTOR.exists():
        raise RuntimeError(
            f"{INSPECTOR} is missing: run `npm ci --prefix tests/clients` "
            "(it installs the pinned MCP Inspector)"
        )
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("`node` (Node.js >= 20) is not on PATH; the Inspector tests need it")
    return Inspector(node, tmp_path)


def _bearer(token: str) -> list[str]:
    return ["--header", f"Authorization: Bearer {token}"]


@pytest.mark.parametrize("era", ERAS)
def test_lists_tools_with_a_bearer_token(
    server: DevServer, token: str, inspector: Inspector, era: str
) -> None:
    outcome = inspector.run(
        server.mcp_url, *_bearer(token), "--protocol-era", era, "--method", "tools/list"
    )
    assert outcome.returncode == 0, outcome
    assert {tool["name"] for tool in outcome.json()["result"]["tools"]} == TOOLS


@pytest.mark.parametrize("era", ERAS)
def test_calls_a_tool_that_sees_its_exchanged_tokens(
    server: DevServer,
    token: str,
    expected_whoami: dict[str, Any],
    inspector: Inspector,
    era: str,
) -> None:
    outcome = inspector.run(
        server.mcp_url,
        *_bearer(token),
        *("--protocol-era", era, "--method", "tools/call", "--tool-name", "whoami"),
    )
    assert outcome.returncode == 0, outcome
    result = outcome.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == expected_whoami
    # 2026-07-28 results carry the server's identity in _meta; 2025-11-25 ones do not.
    assert ("io.modelcontextprotocol/serverInfo" in result.get("_meta", {})) == (era == "modern")


def test_without_a_token_it_reports_auth_required(server: DevServer, inspector: Inspector) -> None:
    outcome = inspector.run(server.mcp_url, "--method", "tools/list")
    assert outcome.returncode == EXIT_AUTH_REQUIRED, outcome
    assert outcome.json()["error"]["code"] == "auth_required"


def test_reads_the_scope_our_403_asks_for(scoped_server: DevServer, inspector: Inspector) -> None:
    token = scoped_server.token("mcp:tools")  # enough to connect, not for sync
    outcome = inspector.run(
        scoped_server.mcp_url, *_bearer(token), "--method", "tools/call", "--tool-name", "sync"
    )
    assert outcome.returncode != 0, outcome
    assert outcome.json()["error"]["message"] == (
        'Insufficient scope: required "mcp:tools calendar:write"'
    )


def test_signs_in_by_oauth_and_calls_a_tool(
    server: DevServer, expected_whoami: dict[str, Any], inspector: Inspector
) -> None:
    signed_in = inspector.sign_in(server.mcp_url, "--method", "tools/call", "--tool-name", "whoami")
    assert signed_in.outcome.returncode == 0, signed_in.outcome
    [authorization_url] = signed_in.authorization_urls
    assert authorization_url.startswith(server.issuer + "/authorize?")
    authorize = _query(authorization_url)
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["resource"] == server.mcp_url
    assert authorize["scope"] == "calendar:write"
    assert signed_in.outcome.json()["result"]["structuredContent"] == expected_whoami
