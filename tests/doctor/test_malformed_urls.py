"""Malformed URLs, given or served, are findings or usage errors, never tracebacks."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from keycard_serve.cli import app
from tests.support.servers import bound_socket, serve_asgi

runner = CliRunner()


def test_an_out_of_range_port_in_the_argument_is_a_usage_error():
    result = runner.invoke(app, ["doctor", "http://127.0.0.1:99999/mcp"])
    assert result.exit_code == 2
    assert "not an http(s) MCP endpoint URL" in result.output


def test_out_of_range_ports_in_the_metadata_are_failed_checks():
    sock = bound_socket()
    port = sock.getsockname()[1]
    prm_url = f"http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"

    async def mcp(request: Request) -> Response:
        return Response(
            status_code=401, headers={"WWW-Authenticate": f'Bearer resource_metadata="{prm_url}"'}
        )

    async def prm(request: Request) -> Response:
        return JSONResponse(
            {
                "resource": "http://127.0.0.1:99999/mcp",
                "authorization_servers": ["http://127.0.0.1:99999"],
            }
        )

    routes = [
        Route("/mcp", mcp, methods=["POST", "GET"]),
        Route("/.well-known/oauth-protected-resource/mcp", prm),
        Route("/.well-known/oauth-protected-resource", prm),
    ]
    with serve_asgi(Starlette(routes=routes), sock=sock):
        result = runner.invoke(app, ["doctor", f"http://127.0.0.1:{port}/mcp"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "FAIL prm-resource" in result.output
    assert "FAIL prm-authorization-servers" in result.output
