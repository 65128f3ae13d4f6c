"""Metrics, audit log, OTLP spans and JSON logs of ``keycard-serve CONFIG``, turned on from YAML.

One server process against the real test authorization server takes a fixed script of calls
(granted, cached, failing exchanges, remembered refusals, a refused scope, refused tokens, a
failed and a good reload); each test checks one output against that script, exactly.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.launcher import launch
from tests.support.servers import free_port, serve_asgi

WEATHER, MAIL, DENIED = (
    "https://api.weather.example/",
    "https://mail.example/",
    "https://denied.example/",
)

CONFIG = """\
version: 1
server:
  name: Observed
  base_url: {base_url}
zone:
  url: {issuer}
  required_scopes: [mcp:tools]
credentials:
  client_id: ${{TEST_CLIENT_ID}}
  client_secret: ${{TEST_CLIENT_SECRET}}
observability:
  metrics: {{listen: "127.0.0.1:0"}}
  audit: {{path: audit.jsonl}}
  tracing: {{exporter: otlp}}
tools:
  - function: examples.delegation:whoami
    grants: [{weather}, {mail}]
  - function: examples.delegation:whoami
    name: mixed
    grants: [{weather}, {denied}]
  - function: examples.calendar:sync_calendar
    name: sync
    scopes: [calendar:write]
    grants: [https://calendar.example/]
{extra}"""

JSONRPC_HEADERS = {"Accept": "application/json, text/event-stream"}


@dataclass
class Collector:
    """A stand-in OpenTelemetry collector: the OTLP/HTTP trace requests it received."""

    requests: list[ExportTraceServiceRequest] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)

    async def traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        self.requests.append(message)
        self.received.set()
        return Response(b"", media_type="application/x-protobuf")

    def spans(self) -> list[tuple[dict, object]]:
        """(resource attributes, span) of every span received."""
        found = []
        for message in self.requests:
            for resource_spans in message.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found


@dataclass
class Observed:
    """What the script did and what came out."""

    tokens: dict[str, str]
    secret: str
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    metrics_before_reload: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    audit: list[dict]
    audit_text: str
    log: str
    collector: Collector


def sample(metrics, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(url: str) -> dict:
    text = httpx.get(url).raise_for_status().text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def poll(condition: Callable[[], object], what: str, timeout: float = 15) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def post_call(url: str, token: str, tool: str, **headers: str) -> httpx.Response:
    return httpx.post(
        url,
        headers={"Authorization": f"Bearer {token}", **JSONRPC_HEADERS, **headers},
        json={
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": tool, "arguments": {}},
        },
    )


@pytest.fixture(scope="module")
def observed(authserver, tmp_path_factory) -> Observed:
    tmp = tmp_path_factory.mktemp("observed")
    collector = Collector()
    receiver = Starlette(routes=[Route("/v1/traces", collector.traces, methods=["POST"])])
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp / "keycard-serve.yaml"

    def text(extra: str = "") -> str:
        return CONFIG.format(
            base_url=base_url,
            issuer=authserver.issuer,
            weather=WEATHER,
            mail=MAIL,
            denied=DENIED,
            extra=extra,
        )

    config.write_text(text())
    client_id, secret = authserver.clients["mcp-server"]
    with serve_asgi(receiver) as collector_url:
        env = {
            "TEST_CLIENT_ID": client_id,
            "TEST_CLIENT_SECRET": secret,
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector_url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        args = [str(config), "--log-format", "json", "--log-level", "info"]
        with launch(args, base_url=base_url, env=env, log_path=tmp / "log.txt") as server:
            metrics_url = poll(
                lambda: re.search(r"metrics +(http://\S+/metrics)", server.log()),
                "the banner's metrics URL",
            ).group(1)
            tokens = {
                "alice": authserver.user_token("alice", server.mcp_url),
                "wrong_audience": authserver.user_token("alice", "http://127.0.0.1:1/mcp"),
                "malformed": "not-a-jwt-" + os.urandom(8).hex(),
            }
            _script(server, tokens)
            before = scrape(metrics_url)
            _reloads(server, config, text)
            after = scrape(metrics_url)
            audit_path = tmp / "audit.jsonl"
            poll(
                lambda: audit_path.exists() and len(audit_path.read_text().splitlines()) >= 7,
                "seven audit lines",
            )
            poll(
                lambda: any(
                    span.name == "keycard_serve.token_exchange" for _, span in collector.spans()
                ),
                "exchange spans at the collector",
            )
            server.process.send_signal(signal.SIGINT)
            server.process.wait(timeout=10)
        audit_text = audit_path.read_text()
        return Observed(
            tokens=tokens,
            secret=secret,
            metrics=after,
            metrics_before_reload=before,
            audit=[json.loads(line) for line in audit_text.splitlines()],
            audit_text=audit_text,
            log=server.log(),
            collector=collector,
        )


def _script(server, tokens: dict[str, str]) -> None:
    """The calls every test below counts."""

    async def calls() -> None:
        async with Client(server.mcp_url, auth=tokens["alice"]) as client:
            first = await client.call_tool("whoami", {})  # two exchanges
            second = await client.call_tool("whoami", {})  # both cached
            mixed = await client.call_tool("mixed", {})  # weather cached, denied refused
            again = await client.call_tool("mixed", {})  # denied: the remembered refusal
        assert first.data["status"] == second.data["status"] == "success"
        assert set(mixed.data["errors"]) == set(again.data["errors"]) == {DENIED}

    asyncio.run(calls())
    refused_scope = post_call(server.mcp_url, tokens["alice"], "sync", **{"X-Request-Id": "req-7"})
    assert refused_scope.status_code == 403
    for name in ("wrong_audience", "malformed"):
        assert post_call(server.mcp_url, tokens[name], "whoami").status_code == 401


def _reloads(server, config: Path, text: Callable[[str], str]) -> None:
    """A broken edit (reload fails), then a good one (a tool added), each applied by SIGHUP."""

    def health() -> dict:
        return httpx.get(server.base_url + "healthz").json()

    config.write_text(text() + "  - function: examples.delegation:missing\n")
    server.process.send_signal(signal.SIGHUP)
    poll(lambda: health()["last_reload_error"], "the failed reload")
    good = text("  - function: examples.weather:forecast\n    grants: [" + WEATHER + "]\n")
    config.write_text(good)
    server.process.send_signal(signal.SIGHUP)
    digest = hashlib.sha256(good.encode()).hexdigest()
    poll(lambda: health()["config"]["sha256"] == digest, "the good reload")


def test_tool_calls_are_counted_by_tool_and_outcome(observed):
    metrics = observed.metrics
    name = "keycard_serve_tool_calls_total"
    assert sample(metrics, name, tool="whoami", outcome="ok") == 2
    assert sample(metrics, name, tool="mixed", outcome="access_error") == 2
    assert sample(metrics, name, tool="sync", outcome="scope_refused") == 1
    assert {labels for (metric, labels) in metrics if metric == name} == {
        (("outcome", "ok"), ("tool", "whoami")),
        (("outcome", "access_error"), ("tool", "mixed")),
        (("outcome", "scope_refused"), ("tool", "sync")),
    }


def test_exchanges_cache_lookups_and_durations_are_counted_per_resource(observed):
    metrics = observed.metrics
    name = "keycard_serve_token_exchanges_total"
    assert sample(metrics, name, resource=WEATHER, outcome="ok") == 1
    assert sample(metrics, name, resource=MAIL, outcome="ok") == 1
    assert sample(metrics, name, resource=DENIED, outcome="invalid_target") == 1
    assert sum(v for (metric, _), v in metrics.items() if metric == name) == 3
    lookups = "keycard_serve_token_cache_lookups_total"
    # whoami: 2 misses, then 2 hits; mixed: weather hit twice, denied a miss then refused.
    assert sample(metrics, lookups, tier="memory", result="miss") == 3
    assert sample(metrics, lookups, tier="memory", result="hit") == 4
    assert sample(metrics, lookups, tier="memory", result="refused") == 1
    assert sample(metrics, lookups, tier="memory", result="expired") == 0
    duration = "keycard_serve_token_exchange_duration_seconds_count"
    assert sample(metrics, duration, resource=WEATHER) == 1
    assert sample(metrics, duration, resource=DENIED) == 1
    assert sample(metrics, "keycard_serve_token_exchange_duration_seconds_sum", resource=MAIL) > 0


def test_refused_bearer_tokens_and_zone_fetches_are_counted(observed):
    metrics = observed.metrics
    refused = "keycard_serve_bearer_tokens_refused_total"
    assert sample(metrics, refused, reason="invalid_audience") == 1
    assert sample(metrics, refused, reason="malformed") == 1
    assert sum(v for (metric, _), v in metrics.items() if metric == refused) == 2
    assert sample(metrics, "keycard_serve_jwks_fetches_total", result="ok") == 1
    assert sample(metrics, "keycard_serve_discovery_fetches_total", result="ok") == 1
    assert sample(metrics, "keycard_serve_circuit_breaker_open") == 0


def test_reloads_are_counted_and_the_in_sync_gauge_follows_them(observed):
    before, after = observed.metrics_before_reload, observed.metrics
    reloads = "keycard_serve_config_reloads_total"
    assert sample(before, "keycard_serve_config_in_sync") == 1
    assert sample(before, reloads, result="failed") == 0
    assert sample(after, reloads, result="failed") == 1
    assert sample(after, reloads, result="ok") == 1
    assert sample(after, "keycard_serve_config_in_sync") == 1
    loaded = "keycard_serve_config_last_load_timestamp_seconds"
    assert sample(after, loaded) > sample(before, loaded) > time.time() - 600


def test_the_audit_log_has_one_line_per_call_and_refusal(observed):
    events = [(e["event"], e.get("tool")) for e in observed.audit]
    assert events == [
        ("tool_call", "whoami"),
        ("tool_call", "whoami"),
        ("tool_call", "mixed"),
        ("tool_call", "mixed"),
        ("scope_refused", "sync"),
        ("token_refused", None),
        ("token_refused", None),
    ]
    first, second, mixed, again, scope, audience, malformed = observed.audit
    for event in observed.audit:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["time"])
        assert event["duration_ms"] >= 0
        assert event["request_id"]
    for event in (first, second, mixed, again, scope):
        assert (event["sub"], event["client_id"]) == ("alice", "user-alice")
    outcomes = [{r["resource"]: r["outcome"] for r in e["resources"]} for e in observed.audit[:4]]
    assert outcomes == [
        {WEATHER: "exchanged", MAIL: "exchanged"},
        {WEATHER: "cached", MAIL: "cached"},
        {WEATHER: "cached", DENIED: "invalid_target"},
        {WEATHER: "cached", DENIED: "invalid_target"},
    ]
    outcome = [e["outcome"] for e in observed.audit[:4]]
    assert outcome == ["ok", "ok", "access_error", "access_error"]
    assert (scope["missing_scopes"], scope["status"], scope["request_id"]) == (
        ["calendar:write"],
        403,
        "req-7",
    )
    assert (audience["reason"], malformed["reason"]) == ("invalid_audience", "malformed")
    assert audience["status"] == malformed["status"] == 401


def test_no_token_or_secret_reaches_the_audit_log_the_log_or_the_spans(observed):
    spans = repr([span for _, span in observed.collector.spans()])
    for secret in [*observed.tokens.values(), observed.secret]:
        assert secret not in observed.audit_text
        assert secret not in observed.log
        assert secret not in spans
    assert "arguments" not in observed.audit_text


def test_spans_reach_an_otlp_collector_from_the_yaml_alone(observed):
    spans = observed.collector.spans()
    names = {span.name for _, span in spans}
    assert {
        "keycard_serve.verify_token",
        "keycard_serve.token_exchange",
        "keycard_serve.discovery",
        "keycard_serve.jwks_fetch",
    } <= names
    assert {resource.get("service.name") for resource, _ in spans} == {"keycard-serve"}
    exchanges = [span for _, span in spans if span.name == "keycard_serve.token_exchange"]
    attributes = [
        {a.key: a.value for a in span.attributes if a.key == "keycard_serve.resource"}
        for span in exchanges
    ]
    assert len(attributes) == 8  # 2 + 2 + 2 + 2 grants over four calls


def test_json_logs_are_one_object_per_line_with_the_audit_field_names(observed):
    records = []
    for line in observed.log.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
        else:  # the banner, on standard output
            assert not line or line.startswith(("keycard-serve: ", "  ")), f"not JSON: {line!r}"
    assert records
    for record in records:
        assert set(record) >= {"time", "level", "logger", "message"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    loggers = {record["logger"] for record in records}
    assert "uvicorn.error" in loggers  # uvicorn's own lines are JSON too
    assert any("config not reloaded" in record["message"] for record in records)


def test_with_workers_the_supervisor_serves_the_sum_of_their_metrics(authserver, tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp_path / "keycard-serve.yaml"
    config.write_text(
        CONFIG.format(
            base_url=base_url,
            issuer=authserver.issuer,
            weather=WEATHER,
            mail=MAIL,
            denied=DENIED,
            extra="",
        )
        .replace("  tracing: {exporter: otlp}\n", "")
        .replace("  base_url: ", "  stateless: true\n  base_url: ")
    )
    client_id, secret = authserver.clients["mcp-server"]
    env = {"TEST_CLIENT_ID": client_id, "TEST_CLIENT_SECRET": secret}
    args = [str(config), "--workers", "2"]
    with launch(args, base_url=base_url, env=env, log_path=tmp_path / "log.txt") as server:
        metrics_url = poll(
            lambda: re.search(r"metrics +(http://\S+/metrics)", server.log()),
            "the banner's metrics URL",
        ).group(1)
        token = authserver.user_token("alice", server.mcp_url)
        calls = 8

        async def call() -> None:
            for _ in range(calls):  # a new client each time: the kernel picks a worker
                async with Client(server.mcp_url, auth=token) as client:
                    assert (await client.call_tool("whoami", {})).data["status"] == "success"

        asyncio.run(call())
        metrics = scrape(metrics_url)
        audit = poll(
            lambda: (
                (tmp_path / "audit.jsonl").exists()
                and len((tmp_path / "audit.jsonl").read_text().splitlines()) == calls
                and (tmp_path / "audit.jsonl").read_text()
            ),
            "one audit line per call",
        )
    assert sample(metrics, "keycard_serve_tool_calls_total", tool="whoami", outcome="ok") == calls
    hits = sample(metrics, "keycard_serve_token_cache_lookups_total", tier="memory", result="hit")
    misses = sample(
        metrics, "keycard_serve_token_cache_lookups_total", tier="memory", result="miss"
    )
    assert hits + misses == 2 * calls  # two grants per call, whichever worker served it
    exchanges = sample(
        metrics, "keycard_serve_token_exchanges_total", resource=WEATHER, outcome="ok"
    )
    assert exchanges == misses / 2 and 1 <= exchanges <= 2  # one per worker that served
    assert sample(metrics, "keycard_serve_config_in_sync") == 1
    events = [json.loads(line) for line in audit.splitlines()]
    assert [event["tool"] for event in events] == ["whoami"] * calls
    assert len({event["request_id"] for event in events}) == calls
