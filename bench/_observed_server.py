"""``keycard-serve run CONFIG`` with the OpenTelemetry SDK installed first, exporting in memory.

    python bench/_observed_server.py CONFIG

The process's tracer provider is the SDK's, with a ``BatchSpanProcessor`` (what a deployment
uses) feeding an ``InMemorySpanExporter`` that a thread empties every second, so a long run
keeps no spans; keycard-serve keeps a provider that is already installed.
"""

from __future__ import annotations

import sys
import threading

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    stop = threading.Event()

    def empty() -> None:
        while not stop.wait(1.0):
            exporter.clear()

    threading.Thread(target=empty, daemon=True).start()
    from keycard_serve.cli import main as cli

    try:
        cli(["run", *sys.argv[1:]])
    finally:
        stop.set()
        provider.shutdown()


if __name__ == "__main__":
    main()
