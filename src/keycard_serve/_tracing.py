"""OpenTelemetry spans of keycard-serve, through ``opentelemetry-api`` only.

Without an SDK the API's tracer is a no-op (a span costs a context switch of a few
microseconds and records nothing); with one configured (``configure_sdk`` from the YAML file,
or the user's own ``TracerProvider``, e.g. ``opentelemetry-instrument``), the spans are
exported. Spans started inside a tool call nest under FastMCP's span of that call.

Span names (``SPAN_*``) and attributes (``ATTR_*``): attribute values are resources, URLs from
the zone's metadata, codes and statuses, never a token, a secret or an assertion.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from ._version import __version__
from .errors import ConfigurationError, KeycardServeError

T = TypeVar("T")

__all__ = [
    "ATTR_CACHED",
    "ATTR_ERROR_CODE",
    "ATTR_HTTP_STATUS",
    "ATTR_OUTCOME",
    "ATTR_RESOURCE",
    "ATTR_URL",
    "SPAN_DISCOVERY",
    "SPAN_EXCHANGE",
    "SPAN_JWKS",
    "SPAN_VERIFY",
    "TracingSetup",
    "active",
    "configure_sdk",
    "span",
    "traced_fetch",
    "tracer",
]

tracer = trace.get_tracer("keycard_serve", __version__)

SPAN_VERIFY = "keycard_serve.verify_token"
SPAN_EXCHANGE = "keycard_serve.token_exchange"
SPAN_DISCOVERY = "keycard_serve.discovery"
SPAN_JWKS = "keycard_serve.jwks_fetch"

ATTR_RESOURCE = "keycard_serve.resource"
ATTR_CACHED = "keycard_serve.cached"
ATTR_OUTCOME = "keycard_serve.outcome"  # ok, or what went wrong (a code)
ATTR_ERROR_CODE = "error.type"  # OpenTelemetry semantic convention
ATTR_HTTP_STATUS = "http.response.status_code"
ATTR_URL = "url.full"

_EXPORTERS = ("otlp", "console")


def active() -> bool:
    """Whether an SDK (a real tracer provider) is installed: without one every span is a
    no-op, and hot paths may skip making them at all."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


# Entered on every call while nothing records spans: reusable, and its span records nothing.
_NO_SPAN: AbstractContextManager[Span] = contextlib.nullcontext(trace.INVALID_SPAN)


def span(name: str, kind: SpanKind = SpanKind.INTERNAL) -> AbstractContextManager[Span]:
    """Span ``name`` as the current span (exceptions are not recorded: callers set
    ``ATTR_ERROR_CODE``), or, while no SDK is installed, a shared context whose span records
    nothing: the API's own no-op span still costs about 15 us per call in context switching.
    Callers guard their attributes with ``span.is_recording()`` either way."""
    if not active():
        return _NO_SPAN
    return tracer.start_as_current_span(name, kind=kind, record_exception=False)


async def traced_fetch(
    name: str,
    fetch: Callable[[], Awaitable[T]],
    *,
    record: Callable[[str], None],
    url: str,
    result_url: Callable[[T], str] | None = None,
) -> T:
    """``await fetch()`` in span ``name``, counted by ``record`` with ``"ok"`` or the code of
    the ``KeycardServeError`` it raised (re-raised). The span's URL is ``url``, or
    ``result_url(result)`` on success (where the document really came from)."""
    with span(name) as current:
        try:
            result = await fetch()
        except KeycardServeError as exc:
            record(exc.code)
            if current.is_recording():
                current.set_attributes(
                    {ATTR_URL: url, ATTR_OUTCOME: exc.code, ATTR_ERROR_CODE: exc.code}
                )
            raise
        record("ok")
        if current.is_recording():
            where = result_url(result) if result_url is not None else url
            current.set_attributes({ATTR_URL: where, ATTR_OUTCOME: "ok"})
        return result


class TracingSetup:
    """A tracer provider this process installed; ``shutdown`` flushes its spans."""

    def __init__(self, provider: object | None) -> None:
        self._provider = provider

    def shutdown(self) -> None:
        """Export what is still queued and stop (at server exit)."""
        if self._provider is not None:
            self._provider.shutdown()  # type: ignore[attr-defined]


def configure_sdk(exporter: str) -> TracingSetup:
    """Install an SDK ``TracerProvider`` exporting with ``exporter`` (``otlp`` or ``console``).

    Configured by the standard environment variables: ``OTEL_SERVICE_NAME`` (default
    ``keycard-serve``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS`` (OTLP over
    HTTP/protobuf). A provider installed before (by ``opentelemetry-instrument``, or the
    embedding application) is kept and nothing is added. Raises ``ConfigurationError`` naming
    the packages to install when the SDK or the exporter is missing.
    """
    if exporter not in _EXPORTERS:
        raise ConfigurationError(f"unknown span exporter {exporter!r}; use otlp or console")
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return TracingSetup(None)  # someone configured tracing already: theirs wins
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        if exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        needed = "opentelemetry-sdk" + (
            " opentelemetry-exporter-otlp-proto-http" if exporter == "otlp" else ""
        )
        raise ConfigurationError(
            f"observability.tracing needs the OpenTelemetry SDK ({exc.name} is missing): "
            f"pip install {needed}",
            code="tracing_sdk_missing",
        ) from None
    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    attributes = {} if named else {SERVICE_NAME: "keycard-serve"}
    provider = TracerProvider(resource=Resource.create(attributes))
    span_exporter = OTLPSpanExporter() if exporter == "otlp" else ConsoleSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    return TracingSetup(provider)
