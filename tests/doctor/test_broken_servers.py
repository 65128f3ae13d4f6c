"""keycard-serve doctor against deliberately broken servers: each fault is named, with its fix.

``Setup()`` describes a protected resource and its authorization server that pass every
client; each test changes one thing. ``{base}`` and ``{zone}`` in a setting stand for the
MCP server's and the authorization server's origins.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from keycard_serve.cli import app
from keycard_serve.doctor import CLIENTS
from tests.support.servers import bound_socket, serve_asgi

runner = CliRunner()
CANARY = "CANARY-5ecret-do-not-print"
PRM_PATHS = (
    "/.well-known/oauth-protected-resource/mcp",
    "/mcp/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource",
)
MIRROR_PATHS = (
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/.well-known/openid-configuration/mcp",
    "/mcp/.well-known/openid-configuration",
)


@dataclass(frozen=True)
class Setup:
    challenge: str | None = (
        'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
    )
    prm_paths: tuple[str, ...] = PRM_PATHS
    resource: str = "{base}/mcp"
    mirror_paths: tuple[str, ...] = MIRROR_PATHS
    cors: bool = True
    authorization_server: str = "{zone}"
    as_paths: tuple[str, ...] = ("/.well-known/oauth-authorization-server",)
    issuer: str = "{zone}"
    pkce_methods: tuple[str, ...] = ("S256",)
    registration_endpoint: bool = True
    cimd: bool = False
    extra_routes: tuple[Route, ...] = field(default=())


@contextlib.contextmanager
def running(setup: Setup) -> Iterator[str]:
    """Serve ``setup``; yield the MCP endpoint URL."""
    base_sock, zone_sock = bound_socket(), bound_socket()
    base_port, zone_port = base_sock.getsockname()[1], zone_sock.getsockname()[1]
    base, zone = f"http://127.0.0.1:{base_port}", f"http://127.0.0.1:{zone_port}"

    def fill(text: str) -> str:
        return text.format(base=base, zone=zone)

    metadata = {
        "issuer": fill(setup.issuer),
        "authorization_endpoint": f"{zone}/authorize",
        "token_endpoint": f"{zone}/token",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": list(setup.pkce_methods),
        "client_id_metadata_document_supported": setup.cimd,
    }
    if setup.registration_endpoint:
        metadata["registration_endpoint"] = f"{zone}/register"

    async def challenge(request: Request) -> Response:
        headers = {"WWW-Authenticate": fill(setup.challenge)} if setup.challenge else {}
        body = {"error": "invalid_token", "error_description": CANARY}
        return JSONResponse(body, status_code=401, headers=headers)

    async def prm(request: Request) -> Response:
        return JSONResponse(
            {
                "resource": fill(setup.resource),
                "authorization_servers": [fill(setup.authorization_server)],
                "x": CANARY,
            }
        )

    async def as_metadata(request: Request) -> Response:
        return JSONResponse(metadata)

    routes = [
        Route("/mcp", challenge, methods=["POST"]),
        *(Route(path, prm) for path in setup.prm_paths),
        *(Route(path, as_metadata) for path in setup.mirror_paths),
        *setup.extra_routes,
    ]
    cors = Middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version"],
        expose_headers=["WWW-Authenticate", "Mcp-Session-Id"],
    )
    server = Starlette(routes=routes, middleware=[cors] if setup.cors else [])
    authorization_server = Starlette(
        routes=[Route(path, as_metadata) for path in setup.as_paths],
        middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_headers=["*"])],
    )
    with serve_asgi(authorization_server, sock=zone_sock), serve_asgi(server, sock=base_sock):
        yield f"{base}/mcp"


def doctor(setup: Setup, *args: str) -> tuple[int, str]:
    with running(setup) as url:
        result = runner.invoke(app, ["doctor", url, *args])
    return result.exit_code, result.output


def block(output: str, client: str) -> str:
    """The part of the text report about one client."""
    for part in output.split("\n\n"):
        if part.startswith(f"{client}: "):
            return part
    raise AssertionError(f"no block for {client} in:\n{output}")


def test_the_healthy_setup_passes_every_client():
    code, output = doctor(Setup())
    assert code == 0, output


FAULTS = {
    "relative resource_metadata": (
        Setup(challenge='Bearer resource_metadata="/.well-known/oauth-protected-resource/mcp"'),
        [(client.name, "challenge-resource-metadata") for client in CLIENTS],
        "advertise the absolute URL resource_metadata=",
        [],
    ),
    "no WWW-Authenticate": (
        Setup(challenge=None),
        [(client.name, "challenge") for client in CLIENTS],
        "401 with no WWW-Authenticate, not Bearer",
        [],
    ),
    "error= without a token": (
        Setup(
            challenge='Bearer error="invalid_token", '
            'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
        ),
        [("vscode", "challenge-no-error")],
        "send error= only when a token was presented",
        [],
    ),
    "PRM only at the root": (
        Setup(
            challenge='Bearer resource_metadata="{base}/.well-known/oauth-protected-resource"',
            prm_paths=("/.well-known/oauth-protected-resource",),
        ),
        [("vscode", "prm-location"), ("claude-ai", "prm-location"), ("cursor", "legacy-urls")],
        "point resource_metadata at the path-inserted",
        ["ts-sdk", "python-sdk"],
    ),
    "PRM missing where the challenge points": (
        Setup(prm_paths=("/.well-known/oauth-protected-resource",)),
        [("ts-sdk", "prm-found"), ("vscode", "prm-found"), ("claude-ai", "prm-found")],
        "serve RFC 9728 metadata at http://127.0.0.1:",
        ["python-sdk"],  # it falls back to the root even when the header named a URL
    ),
    "base URL as the resource": (
        Setup(resource="{base}/"),
        [("vscode", "prm-resource"), ("claude-ai", "prm-resource")],
        "resource in metadata does not match the URL the client was given",
        ["ts-sdk", "python-sdk", "cursor", "mcp-remote", "inspector"],
    ),
    "resource on another origin": (
        Setup(resource="https://mcp.example/mcp"),
        [(client.name, "prm-resource") for client in CLIENTS],
        "set server.base_url (mcp_base_url) to the public URL clients are given",
        [],
    ),
    "issuer mismatch": (
        Setup(issuer="{zone}/tenant"),
        [("ts-sdk", "as-issuer"), ("python-sdk", "as-issuer"), ("claude-ai", "as-issuer")],
        "exactly as the zone's metadata spells it (RFC 8414 3.3)",
        ["vscode"],  # VS Code does not compare the issuer
    ),
    "no S256": (
        Setup(pkce_methods=("plain",)),
        [(client.name, "pkce-s256") for client in CLIENTS],
        "must list S256 in code_challenge_methods_supported",
        [],
    ),
    "client ID metadata documents but no DCR": (
        Setup(registration_endpoint=False, cimd=True),
        [("vscode", "registration"), ("cursor", "registration")],
        "VS Code then prompts users for a client id and secret",
        ["ts-sdk", "claude-ai", "python-sdk", "inspector", "mcp-remote"],
    ),
    "no CORS": (
        Setup(cors=False),
        [("inspector", "cors-discovery"), ("inspector", "cors-mcp"), ("inspector", "cors-expose")],
        "Access-Control-Expose-Headers: WWW-Authenticate, Mcp-Session-Id",
        [client.name for client in CLIENTS if client.name != "inspector"],
    ),
    "Cursor's 404s": (
        Setup(prm_paths=PRM_PATHS[::2], mirror_paths=()),
        [("cursor", "legacy-urls"), ("mcp-remote", "legacy-urls")],
        "older clients stop on a 404",
        ["ts-sdk", "vscode", "claude-ai", "python-sdk", "inspector"],
    ),
}


@pytest.mark.parametrize(("setup", "failing", "fix", "passing"), FAULTS.values(), ids=FAULTS)
def test_each_fault_is_named_with_its_fix(setup, failing, fix, passing):
    code, output = doctor(setup)
    assert code == 1, output
    for client, check in failing:
        lines = block(output, client).splitlines()
        assert lines[0].endswith("— FAIL"), lines[0]
        failed = [i for i, line in enumerate(lines) if line.startswith(f"  FAIL {check}: ")]
        assert failed, f"{client} does not fail {check}:\n" + "\n".join(lines)
        assert lines[failed[0] + 1].startswith("       fix: ")
    assert fix in output
    for client in passing:
        assert block(output, client).splitlines()[0].endswith("— PASS"), output
    assert CANARY not in output


def test_json_names_the_same_faults():
    code, output = doctor(Setup(resource="{base}/"), "--format", "json")
    assert code == 1
    report = json.loads(output)
    failures = {
        (client["name"], check["name"]): check["fix"]
        for client in report["clients"]
        for check in client["checks"]
        if not check["ok"]
    }
    assert set(failures) == {("vscode", "prm-resource"), ("claude-ai", "prm-resource")}
    assert all(fix for fix in failures.values())
    assert CANARY not in output


def test_only_origins_the_server_names_are_contacted_and_redirects_are_not_followed():
    hits: list[str] = []

    async def count(request: Request) -> Response:
        hits.append(request.url.path)
        return PlainTextResponse("bystander")

    bystander = Starlette(routes=[Route("/{path:path}", count)])
    with serve_asgi(bystander) as elsewhere:

        async def moved(request: Request) -> Response:
            return RedirectResponse(f"{elsewhere}/prm", status_code=302)

        setup = Setup(
            challenge=f'Bearer resource_metadata="{elsewhere}/prm"',
            prm_paths=(),
            extra_routes=(Route("/.well-known/oauth-protected-resource/mcp", moved),),
        )
        code, output = doctor(setup, "--client", "ts-sdk", "--client", "python-sdk")
    assert code == 1
    assert hits == []
    assert "not sent: neither the MCP origin nor the PRM's authorization server" in output
    assert f"302 (redirect to {elsewhere}/prm, not followed)" in output


def test_an_issuer_with_a_path_is_looked_up_in_each_client_order():
    setup = Setup(
        authorization_server="{zone}/tenant",
        issuer="{zone}/tenant",
        as_paths=("/tenant/.well-known/openid-configuration",),
    )
    code, output = doctor(setup, "--format", "json")
    assert code == 0, output
    report = json.loads(output)
    ours = urlsplit(report["url"]).netloc
    tried = {  # what each client asked the authorization server, in order
        client["name"]: [
            urlsplit(request["url"]).path
            for request in client["requests"]
            if urlsplit(request["url"]).netloc != ours
        ]
        for client in report["clients"]
    }
    spec = [
        "/.well-known/oauth-authorization-server/tenant",
        "/.well-known/openid-configuration/tenant",
        "/tenant/.well-known/openid-configuration",
    ]
    for name in ("ts-sdk", "vscode", "claude-ai", "python-sdk", "mcp-remote"):
        assert tried[name] == spec, name
    assert tried["cursor"] == [spec[0], "/.well-known/oauth-authorization-server", *spec[1:]]


def test_choosing_clients_limits_the_verdict():
    code, output = doctor(Setup(cors=False), "--client", "vscode", "--client", "ts-sdk")
    assert code == 0, output
    assert "inspector" not in output


def test_a_check_that_fails_for_one_client_only_fails_that_client():
    setup = replace(Setup(), resource="{base}/mcp/")  # /mcp/ does not cover /mcp for the TS SDK
    code, output = doctor(setup, "--client", "ts-sdk", "--client", "python-sdk")
    assert code == 1
    assert "FAIL prm-resource" in block(output, "ts-sdk")
    assert block(output, "python-sdk").splitlines()[0].endswith("— PASS")
