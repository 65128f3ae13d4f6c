"""Prometheus instruments: what keycard-serve counts, and the listener that serves the counts.

Off by default: until ``enable()`` every ``record_*`` function returns at once, so code paths
call them unconditionally. Label values are bounded: tool names and resources come from the
config, everything else from the closed code sets below (an unknown code is counted as
``other``), never a user id, a token, a URL from a request or free text.

Several processes (``--workers``): when ``PROMETHEUS_MULTIPROC_DIR`` names an empty directory
before the processes start (before ``prometheus_client`` is imported in them), each keeps its
values in files there and ``start_listener`` serves their sum (prometheus_client's multiprocess
mode); the process that supervises the workers serves it and calls ``mark_process_dead(pid)``
when one exits, so the ``live*`` gauges forget it.

The calls other modules make, all cheap (a dictionary look-up and an increment; children for
closed label sets are bound once, in ``enable``):

- ``record_tool_call(tool, outcome)``: outcome in ``TOOL_OUTCOMES``;
- ``record_exchange(resource, outcome, seconds)``: one token-exchange request sent to the zone;
  outcome ``ok`` or the error code (``EXCHANGE_OUTCOMES``);
- ``record_cache_lookup(tier, result)``: tier ``memory`` or ``shared``, result in
  ``CACHE_RESULTS`` (``hit``, ``miss``, ``expired``, ``refused``: a remembered refusal);
- ``record_bearer_refused(reason)`` / ``record_bearer_unchecked(reason)``: a bearer token
  checked and refused (401), or not checkable now (503);
- ``record_jwks_fetch(result)``, ``record_discovery_fetch(result)``: ``ok`` or the error code;
- ``set_circuit_open(is_open)``; ``record_config_reload(result, in_sync)``,
  ``record_config_loaded(epoch_seconds)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client import multiprocess as _multiprocess

__all__ = [
    "BEARER_REASONS",
    "CACHE_RESULTS",
    "CACHE_TIERS",
    "EXCHANGE_OUTCOMES",
    "FETCH_RESULTS",
    "MULTIPROC_ENV",
    "RELOAD_RESULTS",
    "TOOL_OUTCOMES",
    "MetricsListener",
    "disable",
    "enable",
    "enabled",
    "mark_process_dead",
    "record_bearer_refused",
    "record_bearer_unchecked",
    "record_cache_lookup",
    "record_config_loaded",
    "record_config_reload",
    "record_discovery_fetch",
    "record_exchange",
    "record_jwks_fetch",
    "record_tool_call",
    "set_circuit_open",
    "start_listener",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"

# ok: the tool returned with every grant; access_error: it returned, one or more grants
# failed; error: it raised; scope_refused: the token lacks the tool's scopes (403).
TOOL_OUTCOMES = ("ok", "access_error", "error", "scope_refused")
CACHE_TIERS = ("memory", "shared")
CACHE_RESULTS = ("hit", "miss", "expired", "refused")
RELOAD_RESULTS = ("ok", "unchanged", "failed", "restart")
# RFC 6749 section 5.2 and RFC 8693 section 2.2.2 codes, then ours (TokenExchanger.exchange).
EXCHANGE_OUTCOMES = frozenset(
    {
        "ok",
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
        "http_error",
        "invalid_response",
        "timeout",
        "network",
        "redirect",
        "too_large",
        "discovery_failed",
        "zone_unavailable",
        "internal_error",
    }
)
# TokenError codes (JWTVerifier.verify).
BEARER_REASONS = frozenset(
    {
        "malformed",
        "token_too_large",
        "unsupported_algorithm",
        "invalid_type",
        "unsupported_crit",
        "unsupported_cty",
        "jwks_no_matching_key",
        "jwks_invalid_kid",
        "invalid_signature",
        "invalid_issuer",
        "invalid_audience",
        "invalid_key",
        "missing_claim",
        "invalid_claim",
        "expired",
        "not_yet_valid",
    }
)
# JWKS and discovery fetches; also what makes a bearer token uncheckable (503).
FETCH_RESULTS = frozenset(
    {
        "ok",
        "jwks_http_status",
        "jwks_invalid",
        "jwks_timeout",
        "jwks_too_large",
        "jwks_redirect",
        "jwks_network",
        "jwks_unavailable",
        "metadata_unavailable",
        "issuer_mismatch",
        "invalid_token_endpoint",
        "invalid_jwks_uri",
    }
)
# Seconds: a cached exchange never reaches this histogram; the zone answers in ms to seconds.
_EXCHANGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Instruments:
    """The metric families of one ``enable()``, with their closed-set children bound."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.tool_calls = counter(
            "keycard_serve_tool_calls_total", "Tool calls by tool and outcome.", ("tool", "outcome")
        )
        self.exchanges = counter(
            "keycard_serve_token_exchanges_total",
            "Token-exchange requests sent to the zone (RFC 8693), by resource and outcome "
            "(ok, the OAuth error code, or the transport failure).",
            ("resource", "outcome"),
        )
        self.exchange_seconds = Histogram(
            "keycard_serve_token_exchange_duration_seconds",
            "Duration of token-exchange requests, retries included, by resource.",
            ("resource",),
            buckets=_EXCHANGE_BUCKETS,
            registry=registry,
        )
        lookups = counter(
            "keycard_serve_token_cache_lookups_total",
            "Exchanged-token cache lookups by tier (memory, shared) and result "
            "(hit, miss, expired, refused: a remembered refusal).",
            ("tier", "result"),
        )
        refused = counter(
            "keycard_serve_bearer_tokens_refused_total",
            "Bearer tokens checked and refused (401), by reason code.",
            ("reason",),
        )
        unchecked = counter(
            "keycard_serve_bearer_tokens_unchecked_total",
            "Bearer tokens that could not be checked (503: the zone's metadata or keys "
            "unavailable), by reason code.",
            ("reason",),
        )
        jwks = counter("keycard_serve_jwks_fetches_total", "JWKS fetches by result.", ("result",))
        discovery = counter(
            "keycard_serve_discovery_fetches_total",
            "Authorization-server metadata discoveries (RFC 8414) by result.",
            ("result",),
        )
        reloads = counter(
            "keycard_serve_config_reloads_total", "Config reloads by result.", ("result",)
        )
        self.circuit_open = Gauge(
            "keycard_serve_circuit_breaker_open",
            "1 while the circuit breaker of the zone's token endpoint fails calls at once.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.in_sync = Gauge(
            "keycard_serve_config_in_sync",
            "1 when the running config is the file on disk, 0 when the last reload failed or "
            "a change needs a restart.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.loaded_at = Gauge(
            "keycard_serve_config_last_load_timestamp_seconds",
            "When the running config was loaded (epoch seconds).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.lookups = _bind(lookups, CACHE_TIERS, CACHE_RESULTS)
        self.refused = {reason: refused.labels(reason) for reason in (*BEARER_REASONS, OTHER)}
        self.unchecked = {reason: unchecked.labels(reason) for reason in (*FETCH_RESULTS, OTHER)}
        self.jwks = {result: jwks.labels(result) for result in (*FETCH_RESULTS, OTHER)}
        self.discovery = {result: discovery.labels(result) for result in (*FETCH_RESULTS, OTHER)}
        self.reloads = {result: reloads.labels(result) for result in RELOAD_RESULTS}
        # Children for config-defined labels, bound on first use (bounded by the config).
        self.tool_children: dict[tuple[str, str], object] = {}
        self.exchange_children: dict[tuple[str, str], object] = {}
        self.duration_children: dict[str, object] = {}


def _bind(metric: Counter, first: Iterable[str], second: Iterable[str]) -> dict:
    return {(a, b): metric.labels(a, b) for a in first for b in second}


_active: _Instruments | None = None


def enable() -> CollectorRegistry:
    """Start counting, from zero, in a new registry (returned; the listener serves it).

    Calling it again starts over (a test, a new server in the same process).
    """
    global _active
    disable_created_metrics()  # no *_created series: a timestamp per child is noise here
    registry = CollectorRegistry(auto_describe=True)
    _active = _Instruments(registry)
    return registry


def disable() -> None:
    """Stop counting: every ``record_*`` call returns at once again."""
    global _active
    _active = None


def enabled() -> bool:
    """True between ``enable()`` and ``disable()``."""
    return _active is not None


def record_tool_call(tool: str, outcome: str) -> None:
    """One tool call; ``tool`` must be a served tool's name, ``outcome`` in TOOL_OUTCOMES."""
    active = _active
    if active is None:
        return
    key = (tool, outcome)
    child = active.tool_children.get(key)
    if child is None:
        child = active.tool_children[key] = active.tool_calls.labels(tool, outcome)
    child.inc()  # type: ignore[attr-defined]


def record_exchange(resource: str, outcome: str, seconds: float) -> None:
    """One token-exchange request for a granted ``resource``: ``ok`` or its error code."""
    active = _active
    if active is None:
        return
    if outcome not in EXCHANGE_OUTCOMES:
        outcome = OTHER
    key = (resource, outcome)
    child = active.exchange_children.get(key)
    if child is None:
        child = active.exchange_children[key] = active.exchanges.labels(resource, outcome)
    child.inc()  # type: ignore[attr-defined]
    duration = active.duration_children.get(resource)
    if duration is None:
        duration = active.duration_children[resource] = active.exchange_seconds.labels(resource)
    duration.observe(seconds)  # type: ignore[attr-defined]


def record_cache_lookup(tier: str, result: str) -> None:
    """One lookup in the exchanged-token cache ``tier`` (``memory``, ``shared``)."""
    active = _active
    if active is not None:
        active.lookups[tier, result].inc()


def record_bearer_refused(reason: str) -> None:
    """A bearer token checked and refused, by its ``TokenError`` code."""
    active = _active
    if active is not None:
        active.refused.get(reason, active.refused[OTHER]).inc()


def record_bearer_unchecked(reason: str) -> None:
    """A bearer token that could not be checked, by the discovery or JWKS error code."""
    active = _active
    if active is not None:
        active.unchecked.get(reason, active.unchecked[OTHER]).inc()


def record_jwks_fetch(result: str) -> None:
    """One JWKS download: ``ok`` or its ``JWKSError`` code."""
    active = _active
    if active is not None:
        active.jwks.get(result, active.jwks[OTHER]).inc()


def record_discovery_fetch(result: str) -> None:
    """One metadata discovery: ``ok`` or its ``DiscoveryError`` code."""
    active = _active
    if active is not None:
        active.discovery.get(result, active.discovery[OTHER]).inc()


def set_circuit_open(is_open: bool) -> None:
    """The token endpoint's circuit breaker opened (True) or closed (False)."""
    active = _active
    if active is not None:
        active.circuit_open.set(1 if is_open else 0)


def record_config_reload(result: str, *, in_sync: bool) -> None:
    """One reload: ``result`` in RELOAD_RESULTS; ``in_sync``: the file on disk now runs."""
    active = _active
    if active is not None:
        active.reloads[result].inc()
        active.in_sync.set(1 if in_sync else 0)


def record_config_loaded(loaded_at: float) -> None:
    """The running config was loaded at ``loaded_at`` (epoch seconds), from the file on disk."""
    active = _active
    if active is not None:
        active.loaded_at.set(loaded_at)
        active.in_sync.set(1)


@dataclass
class MetricsListener:
    """A running metrics endpoint; ``url`` is where to scrape it."""

    url: str
    _server: WSGIServer

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()


def start_listener(host: str, port: int, registry: CollectorRegistry | None) -> MetricsListener:
    """Serve the Prometheus text format at ``http://host:port/metrics``, in a thread.

    With ``PROMETHEUS_MULTIPROC_DIR`` set, the sum over every process writing there (then
    ``registry`` may be None); otherwise ``registry``. Port 0 picks a free port. Raises
    ``OSError`` when the address cannot be bound.
    """
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
    if registry is None:
        raise ValueError(f"a registry is needed unless {MULTIPROC_ENV} is set")
    server, _thread = start_http_server(port, host, registry)
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    return MetricsListener(f"http://{shown}:{bound}/metrics", server)


def mark_process_dead(pid: int) -> None:
    """Forget the ``live*`` gauges of an exited worker (multiprocess mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        _multiprocess.mark_process_dead(pid)
