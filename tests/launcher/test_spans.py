"""OpenTelemetry spans read back with the SDK's in-memory exporter, over real HTTP and a real AS.

The tracer provider is process-wide, so this module installs the SDK's provider once (if no
other test did) and adds an exporter of its own.
"""

from __future__ import annotations

import pytest
from fastmcp import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult

from keycard_serve.config import import_tools, load_config
from keycard_serve.launcher.assemble import served_app
from tests.support.launcher import ROOT
from tests.support.servers import bound_socket, serve_asgi

WEATHER, MAIL, DENIED = (
    "https://api.weather.example/",
    "https://mail.example/",
    "https://denied.example/",
)

CONFIG = """\
version: 1
server: {name: Spans, base_url: "BASE_URL"}
zone: {url: "ISSUER", required_scopes: [mcp:tools]}
credentials: {client_id: "${ID}", client_secret: "${SECRET}"}
tools:
  - function: examples.delegation:whoami
    grants: ["https://api.weather.example/", "https://mail.example/"]
  - function: examples.delegation:whoami
    name: mixed
    grants: ["https://denied.example/"]
"""


class _Switch(Sampler):
    """Samples everything while ``on``; off, spans are non-recording (as without an SDK)."""

    on = False

    def should_sample(self, parent_context, trace_id, name, *args, **kwargs) -> SamplingResult:
        sampler = ALWAYS_ON if self.on else ALWAYS_OFF
        return sampler.should_sample(parent_context, trace_id, name, *args, **kwargs)

    def get_description(self) -> str:
        return "test switch"


_SWITCH = _Switch()
_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def exporter():
    """The in-memory exporter, recording for the length of one test only.

    The global tracer provider cannot be removed once set, so the SDK provider installed here
    stays for the rest of the session, sampling nothing: later tests see no-op spans again.
    """
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(sampler=_SWITCH)
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    assert provider.sampler is _SWITCH, "another test installed a tracer provider"
    _EXPORTER.clear()
    _SWITCH.on = True
    yield _EXPORTER
    _SWITCH.on = False
    _EXPORTER.clear()


@pytest.fixture
async def spans(authserver, exporter, tmp_path, monkeypatch):
    """Three calls (two exchanges, both cached, a refused one); the spans they made."""
    monkeypatch.chdir(ROOT)
    sock = bound_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    path = tmp_path / "spans.yaml"
    path.write_text(CONFIG.replace("BASE_URL", base_url).replace("ISSUER", authserver.issuer))
    client_id, secret = authserver.clients["mcp-server"]
    loaded = import_tools(load_config(path, environ={"ID": client_id, "SECRET": secret}))
    token = authserver.user_token("alice", base_url + "mcp")
    async with served_app(loaded) as served:
        with serve_asgi(served.app, sock=sock):
            async with Client(base_url + "mcp", auth=token) as client:
                await client.call_tool("whoami", {})
                await client.call_tool("whoami", {})
                await client.call_tool("mixed", {})
    return token, secret, exporter.get_finished_spans()


def _tool_spans(spans, tool: str):
    """FastMCP's server-side spans of calls of ``tool`` (the in-process client has its own)."""
    return [
        s
        for s in spans
        if s.kind is trace.SpanKind.SERVER and (s.attributes or {}).get("gen_ai.tool.name") == tool
    ]


async def test_each_grant_is_a_span_under_the_tool_call_span(spans):
    _token, _secret, finished = spans
    whoami = _tool_spans(finished, "whoami")
    assert len(whoami) == 2
    exchanges = [s for s in finished if s.name == "keycard_serve.token_exchange"]
    by_parent = {
        tool.context.span_id: sorted(
            (s.attributes["keycard_serve.resource"], s.attributes["keycard_serve.cached"])
            for s in exchanges
            if s.parent is not None and s.parent.span_id == tool.context.span_id
        )
        for tool in whoami
    }
    assert sorted(by_parent.values()) == [
        sorted([(WEATHER, False), (MAIL, False)]),
        sorted([(WEATHER, True), (MAIL, True)]),
    ]
    traces = {tool.context.trace_id for tool in whoami}
    for span in exchanges:
        assert span.kind is trace.SpanKind.CLIENT
    assert {s.context.trace_id for s in exchanges} - traces == {
        _tool_spans(finished, "mixed")[0].context.trace_id
    }


async def test_a_refused_exchange_carries_its_code_and_status(spans):
    _token, _secret, finished = spans
    (mixed,) = _tool_spans(finished, "mixed")
    (refused,) = [
        s
        for s in finished
        if s.name == "keycard_serve.token_exchange"
        and s.parent is not None
        and s.parent.span_id == mixed.context.span_id
    ]
    attributes = dict(refused.attributes)
    assert attributes == {
        "keycard_serve.resource": DENIED,
        "keycard_serve.cached": False,
        "keycard_serve.outcome": "invalid_target",
        "error.type": "invalid_target",
        "http.response.status_code": 400,
    }
    assert refused.status.status_code is trace.StatusCode.ERROR


async def test_verification_discovery_and_jwks_have_spans_without_secrets(spans):
    token, secret, finished = spans
    names = [s.name for s in finished]
    assert names.count("keycard_serve.discovery") == 1
    assert names.count("keycard_serve.jwks_fetch") == 1
    verified = [s for s in finished if s.name == "keycard_serve.verify_token"]
    assert verified and all(s.attributes["keycard_serve.outcome"] == "ok" for s in verified)
    (jwks,) = [s for s in finished if s.name == "keycard_serve.jwks_fetch"]
    assert jwks.attributes["keycard_serve.outcome"] == "ok"
    assert jwks.attributes["url.full"].endswith("/jwks")
    for span in finished:
        text = repr(dict(span.attributes or {})) + repr([e.attributes for e in span.events])
        text += span.status.description or ""
        assert token not in text and secret not in text
