"""keycard-serve doctor against our own server: every client passes, each in its own order.

The zone is the embedded development zone (it has dynamic client registration); the
oidc-provider test server has none, and the doctor says so and nothing else.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from keycard_serve import AuthProvider
from keycard_serve.cli import app
from keycard_serve.devzone import DevZone
from keycard_serve.doctor import CLIENTS, diagnose, render_text
from keycard_serve.doctor.clients import Registration
from tests.support.mcp_server import RunningServer, serve_mcp
from tests.support.servers import bound_socket, free_port, serve_asgi

runner = CliRunner()


@contextlib.contextmanager
def _serve_ours(zone_url: str) -> Iterator[RunningServer]:
    def build(base_url: str) -> FastMCP:
        provider = AuthProvider(
            zone_url=zone_url,
            mcp_server_name="Doctor",
            mcp_base_url=base_url,
            required_scopes=["mcp:tools"],
        )
        return FastMCP("Doctor", auth=provider.get_remote_auth_provider())

    with serve_mcp(build) as running:
        yield running


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevZone]:
    sock = bound_socket()
    zone = DevZone(port=sock.getsockname()[1], state_dir=tmp_path_factory.mktemp("zone"))
    with serve_asgi(zone.app, sock=sock):
        yield zone


@pytest.fixture(scope="module")
def server(zone: DevZone) -> Iterator[RunningServer]:
    with _serve_ours(zone.issuer) as running:
        yield running


async def test_every_client_passes(server):
    diagnosis = await diagnose(server.mcp_url)
    assert [report.profile.name for report in diagnosis.clients] == [c.name for c in CLIENTS]
    assert diagnosis.ok, render_text(diagnosis)


async def test_each_client_replays_its_own_sequence(server, zone):
    diagnosis = await diagnose(server.mcp_url)
    requests = {
        report.profile.name: [(e.method, e.url, e.status) for e in report.exchanges]
        for report in diagnosis.clients
    }
    base, issuer, mcp = server.base_url, zone.issuer, server.mcp_url
    prm = f"{base}.well-known/oauth-protected-resource/mcp"
    metadata = f"{issuer}/.well-known/oauth-authorization-server"
    common = [("POST", mcp, 401), ("GET", prm, 200), ("GET", metadata, 200)]
    for name in ("ts-sdk", "vscode", "claude-ai", "python-sdk"):
        assert requests[name] == common, name
    assert requests["mcp-remote"] == [
        *common,
        ("GET", f"{base}.well-known/oauth-authorization-server", 200),
    ]
    assert requests["cursor"] == [
        *common,
        ("GET", f"{mcp}/.well-known/oauth-protected-resource", 200),
        ("GET", f"{base}.well-known/oauth-authorization-server/mcp", 200),
        ("GET", f"{base}.well-known/oauth-authorization-server", 200),
        ("GET", f"{base}.well-known/openid-configuration/mcp", 200),
        ("GET", f"{mcp}/.well-known/openid-configuration", 200),
    ]
    # A browser preflights each request with a non-safelisted header, then the signed-in POST.
    assert [(method, url) for method, url, _ in requests["inspector"]] == [
        ("OPTIONS", mcp),
        ("POST", mcp),
        ("OPTIONS", prm),
        ("GET", prm),
        ("OPTIONS", metadata),
        ("GET", metadata),
        ("OPTIONS", mcp),
    ]


async def test_browser_checks_only_for_the_inspector(server):
    diagnosis = await diagnose(server.mcp_url)
    for report in diagnosis.clients:
        cors = [check.name for check in report.checks if check.name.startswith("cors-")]
        expected = ["cors-discovery", "cors-mcp", "cors-expose", "cors-authorization-server"]
        assert cors == (expected if report.profile.name == "inspector" else [])


def test_cli_prints_every_request_and_check_and_exits_0(server):
    result = runner.invoke(app, ["doctor", server.mcp_url])
    assert result.exit_code == 0, result.output
    for profile in CLIENTS:
        assert f"{profile.name}: {profile.title} — PASS" in result.output
    assert f"POST {server.mcp_url} -> 401" in result.output
    assert "FAIL" not in result.output
    assert result.output.rstrip().endswith(f"PASS: all {len(CLIENTS)} clients pass")


def test_cli_json_for_chosen_clients(server):
    args = ["doctor", server.mcp_url, "--format", "json", "--client", "vscode"]
    result = runner.invoke(app, [*args, "--client", "cursor"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [client["name"] for client in report["clients"]] == ["vscode", "cursor"]
    vscode = report["clients"][0]
    assert vscode["requests"][0] == {
        "method": "POST",
        "url": server.mcp_url,
        "status": 401,
        "summary": "no content-type, 0 bytes",
    }
    assert {check["name"] for check in vscode["checks"]} >= {
        "challenge",
        "challenge-no-error",
        "challenge-resource-metadata",
        "prm-location",
        "prm-found",
        "prm-resource",
        "prm-authorization-servers",
        "as-metadata",
        "pkce-s256",
        "registration",
    }


def test_cli_takes_the_url_from_a_config(server, tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "version: 1\n"
        f"server: {{name: Doctor, base_url: '{server.base_url}'}}\n"
        "zone: {dev: true}\n"
        "tools: [{function: 'examples.weather:forecast'}]\n"
    )
    result = runner.invoke(app, ["doctor", str(config), "--client", "claude-ai"])
    assert result.exit_code == 0, result.output
    assert f"keycard-serve doctor {server.mcp_url}" in result.output


def test_register_registers_what_vscode_and_claude_ai_would(server, zone):
    result = runner.invoke(app, ["doctor", server.mcp_url, "--register", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    registered = [
        client["name"]
        for client in report["clients"]
        for check in client["checks"]
        if check["name"] == "dcr" and check["ok"]
    ]
    assert registered == ["vscode", "claude-ai"]
    assert "client_id" not in result.stdout  # bodies are summarised, never shown


@pytest.mark.parametrize(
    "args",
    [
        ["doctor", "ftp://127.0.0.1/mcp"],
        ["doctor", "http://user:pw@127.0.0.1:9/mcp"],
        ["doctor", "no-such-config.yaml"],
        ["doctor", "http://127.0.0.1:9/mcp", "--client", "netscape"],
        ["doctor", "http://127.0.0.1:9/mcp", "--format", "xml"],
    ],
)
def test_usage_errors_exit_2(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output


def test_the_base_url_instead_of_the_mcp_url_gets_did_you_mean(server):
    result = runner.invoke(app, ["doctor", server.base_url])
    assert result.exit_code == 1
    hint = (
        f"did you mean {server.mcp_url}? {server.base_url} is not an MCP endpoint, and "
        f"{server.mcp_url} answers as a protected one: keycard-serve doctor {server.mcp_url}"
    )
    assert result.output.splitlines()[2] == hint  # first, under the title
    assert result.output.rstrip().endswith(hint)  # and last, under the verdict
    assert result.output.count(f"fix: did you mean {server.mcp_url}?") == len(CLIENTS)
    as_json = runner.invoke(app, ["doctor", server.base_url, "--format", "json"])
    assert json.loads(as_json.stdout)["did_you_mean"] == server.mcp_url


def test_no_did_you_mean_when_nothing_answers_one_path_down(authserver):
    """A 404 whose /mcp is no protected MCP endpoint either: no guess."""
    result = runner.invoke(app, ["doctor", authserver.issuer + "/nothing/", "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["clients"][0]["requests"][0]["status"] == 404
    assert report["did_you_mean"] is None


def test_an_unreachable_server_fails_every_client():
    result = runner.invoke(app, ["doctor", f"http://127.0.0.1:{free_port()}/mcp", "--timeout", "1"])
    assert result.exit_code == 1
    assert result.output.count("FAIL challenge: no answer from") == len(CLIENTS)


def test_with_oidc_provider_only_registration_fails(authserver):
    """oidc-provider as configured for the tests has no registration endpoint."""
    with _serve_ours(authserver.issuer) as running:
        result = runner.invoke(app, ["doctor", running.mcp_url, "--format", "json"])
    assert result.exit_code == 1
    failures = {
        (client["name"], check["name"])
        for client in json.loads(result.stdout)["clients"]
        for check in client["checks"]
        if not check["ok"]
    }
    assert failures == {(profile.name, "registration") for profile in CLIENTS}


@contextlib.contextmanager
def _document_host(members: dict[str, object] | None = None) -> Iterator[str]:
    """A client ID metadata document on loopback, as a CIMD client publishes it."""
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/oauth/client.json"
    document = {"client_id": url, "redirect_uris": ["http://127.0.0.1:9/callback"]}

    async def serve(request: Request) -> Response:
        return JSONResponse({**document, **(members or {})})

    with serve_asgi(Starlette(routes=[Route("/oauth/client.json", serve)]), sock=sock):
        yield url


def _checks(output: str) -> dict[tuple[str, str], bool]:
    return {
        (client["name"], check["name"]): check["ok"]
        for client in json.loads(output)["clients"]
        for check in client["checks"]
    }


def test_a_cimd_client_signs_in_with_its_document(server, zone):
    with _document_host() as url:
        args = ["doctor", server.mcp_url, "--client-metadata-url", url, "--format", "json"]
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    checks = _checks(result.stdout)
    cimd = [p.name for p in CLIENTS if p.registration is Registration.dcr_or_cimd]
    assert cimd  # the TypeScript and Python SDKs, claude.ai
    for name in cimd:
        assert checks[name, "cimd-supported"] and checks[name, "cimd-authorize"], name
        assert (name, "registration") not in checks
    assert checks["vscode", "registration"]  # VS Code registers by DCR still


def test_a_document_naming_another_client_id_fails(server):
    with _document_host({"client_id": "https://other.example/client.json"}) as url:
        args = ["doctor", server.mcp_url, "--client-metadata-url", url, "--client", "ts-sdk"]
        result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "FAIL cimd-document" in result.output


def test_a_zone_without_cimd_fails_the_cimd_clients(authserver):
    with _serve_ours(authserver.issuer) as running, _document_host() as url:
        args = ["doctor", running.mcp_url, "--client-metadata-url", url, "--client", "ts-sdk"]
        result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 1
    assert _checks(result.stdout)["ts-sdk", "cimd-supported"] is False
