"""Prometheus instruments: off by default, bounded labels, and the sum over worker processes."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from keycard_serve import _metrics


def samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_nothing_is_counted_until_enabled_and_codes_outside_the_sets_are_other():
    _metrics.disable()
    _metrics.record_exchange("https://api.example/", "ok", 0.1)  # no registry: a no-op
    registry = _metrics.enable()
    try:
        _metrics.record_exchange("https://api.example/", "invalid_target", 0.2)
        _metrics.record_exchange("https://api.example/", "zone said <script>", 0.2)
        _metrics.record_bearer_refused("expired")
        _metrics.record_bearer_refused("some new code")
        _metrics.record_jwks_fetch("jwks_timeout")
        found = samples(generate_latest(registry).decode())
    finally:
        _metrics.disable()
    exchanges = {
        labels: value
        for (name, labels), value in found.items()
        if name == "keycard_serve_token_exchanges_total"
    }
    assert exchanges == {
        (("outcome", "invalid_target"), ("resource", "https://api.example/")): 1,
        (("outcome", "other"), ("resource", "https://api.example/")): 1,
    }
    refused = "keycard_serve_bearer_tokens_refused_total"
    assert found[(refused, (("reason", "expired"),))] == 1
    assert found[(refused, (("reason", "other"),))] == 1
    assert found[("keycard_serve_jwks_fetches_total", (("result", "jwks_timeout"),))] == 1


WORKER = """
import sys
from keycard_serve import _metrics
_metrics.enable()
_metrics.record_tool_call("forecast", "ok")
_metrics.record_cache_lookup("memory", "hit")
_metrics.record_cache_lookup("shared", "miss")
_metrics.set_circuit_open(sys.argv[1] == "open")
_metrics.record_config_reload("ok", in_sync=sys.argv[1] != "open")
"""


def test_with_workers_the_listener_serves_the_sum_over_processes(tmp_path, monkeypatch):
    monkeypatch.setenv(_metrics.MULTIPROC_ENV, str(tmp_path))
    env = {**os.environ, _metrics.MULTIPROC_ENV: str(tmp_path)}
    workers = {
        state: subprocess.Popen([sys.executable, "-c", WORKER, state], env=env)
        for state in ("open", "closed")
    }
    assert all(worker.wait(timeout=60) == 0 for worker in workers.values())
    listener = _metrics.start_listener("127.0.0.1", 0, None)
    try:
        found = samples(httpx.get(listener.url).raise_for_status().text)
        _metrics.mark_process_dead(workers["open"].pid)  # the supervisor saw it exit
        after = samples(httpx.get(listener.url).raise_for_status().text)
    finally:
        listener.close()
    assert found[("keycard_serve_tool_calls_total", (("outcome", "ok"), ("tool", "forecast")))] == 2
    lookups = "keycard_serve_token_cache_lookups_total"
    assert found[(lookups, (("result", "hit"), ("tier", "memory")))] == 2
    assert found[(lookups, (("result", "miss"), ("tier", "shared")))] == 2
    assert found[("keycard_serve_config_reloads_total", (("result", "ok"),))] == 2
    # Gauges are not summed: any worker's open breaker shows, any worker out of sync shows.
    assert found[("keycard_serve_circuit_breaker_open", ())] == 1
    assert found[("keycard_serve_config_in_sync", ())] == 0
    assert after[("keycard_serve_circuit_breaker_open", ())] == 0
    assert after[("keycard_serve_config_in_sync", ())] == 1
    assert after[("keycard_serve_tool_calls_total", (("outcome", "ok"), ("tool", "forecast")))] == 2
