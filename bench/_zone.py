"""A stand-in Keycard zone for the warm-path benchmark, run as its own process on loopback.

    python bench/_zone.py '{"jwk": {...public JWK...}}'

Serves RFC 8414 metadata, the JWKS holding the bench's signing key, and an RFC 8693 token
endpoint that answers every token-exchange request after an added delay (the latency of a
real zone), with an opaque token valid for an hour. Client credentials are not checked: the
bench measures the resource server, not the zone. Prints ``PORT <n>`` once it serves.

Control, for the bench only: ``POST /_bench/delay?seconds=0.02`` sets the added delay;
``GET /_bench/stats`` returns the requests counted by kind since the start
(``token``, ``metadata``, ``jwks``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import sys
from collections import Counter
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__: list[str] = []

_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _app(issuer: str, jwk: dict[str, Any]) -> Starlette:
    counts: Counter[str] = Counter()
    state = {"delay": 0.0}

    async def metadata(request: Request) -> Response:
        counts["metadata"] += 1
        return JSONResponse(
            {
                "issuer": issuer,
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/jwks",
                "grant_types_supported": [_TOKEN_EXCHANGE],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(request: Request) -> Response:
        counts["jwks"] += 1
        return JSONResponse({"keys": [jwk]})

    async def token(request: Request) -> Response:
        form = await request.form()
        counts["token"] += 1
        if form.get("grant_type") != _TOKEN_EXCHANGE or not form.get("subject_token"):
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if state["delay"]:
            await asyncio.sleep(state["delay"])
        return JSONResponse(
            {
                "access_token": f"downstream-{secrets.token_urlsafe(12)}",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3600,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def delay(request: Request) -> Response:
        state["delay"] = float(request.query_params["seconds"])
        return JSONResponse(state)

    async def stats(request: Request) -> Response:
        return JSONResponse(dict(counts))

    return Starlette(
        routes=[
            Route("/.well-known/oauth-authorization-server", metadata),
            Route("/.well-known/openid-configuration", metadata),
            Route("/jwks", jwks),
            Route("/token", token, methods=["POST"]),
            Route("/_bench/delay", delay, methods=["POST"]),
            Route("/_bench/stats", stats),
        ]
    )


def main() -> None:
    settings = json.loads(sys.argv[1])
    # proto must say TCP, or asyncio leaves Nagle on and each answer waits ~40 ms for an ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = _app(f"http://127.0.0.1:{port}", settings["jwk"])
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=600
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        print(f"PORT {port}", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
