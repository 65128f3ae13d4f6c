"""Rendering a diagnosis: text for people, JSON for scripts. Bodies appear only as summaries."""

from __future__ import annotations

import json
from typing import Any

from .results import ClientReport, Diagnosis

__all__ = ["render_json", "render_text", "to_dict"]


def render_text(diagnosis: Diagnosis) -> str:
    lines = [f"keycard-serve doctor {diagnosis.url}", ""]
    if diagnosis.nearby:
        lines += [_did_you_mean(diagnosis), ""]
    for report in diagnosis.clients:
        lines += _client_text(report)
    failed = [report for report in diagnosis.clients if not report.ok]
    if failed:
        names = ", ".join(
            f"{report.profile.name} ({', '.join(c.name for c in report.failures)})"
            for report in failed
        )
        lines.append(f"FAIL: {len(failed)} of {len(diagnosis.clients)} clients fail: {names}")
        if diagnosis.nearby:
            lines.append(_did_you_mean(diagnosis))
    else:
        lines.append(f"PASS: all {len(diagnosis.clients)} clients pass")
    return "\n".join(lines)


def _did_you_mean(diagnosis: Diagnosis) -> str:
    return (
        f"did you mean {diagnosis.nearby}? {diagnosis.url} is not an MCP endpoint, and "
        f"{diagnosis.nearby} answers as a protected one: keycard-serve doctor {diagnosis.nearby}"
    )


def render_json(diagnosis: Diagnosis) -> str:
    return json.dumps(to_dict(diagnosis), indent=2)


def to_dict(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "url": diagnosis.url,
        "ok": diagnosis.ok,
        "did_you_mean": diagnosis.nearby,
        "clients": [_client_dict(report) for report in diagnosis.clients],
    }


def _client_text(report: ClientReport) -> list[str]:
    profile = report.profile
    lines = [f"{profile.name}: {profile.title} — {'PASS' if report.ok else 'FAIL'}"]
    width = max((len(e.method) for e in report.exchanges), default=0)
    for exchange in report.exchanges:
        status = exchange.status if exchange.status is not None else "---"
        lines.append(
            f"  {exchange.method:<{width}} {exchange.url} -> {status} ({exchange.summary()})"
        )
    for check in report.checks:
        lines.append(f"  {'PASS' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        if not check.ok:
            lines.append(f"       fix: {check.fix}")
    lines += [f"  sources: {profile.sources}", ""]
    return lines


def _client_dict(report: ClientReport) -> dict[str, Any]:
    profile = report.profile
    return {
        "name": profile.name,
        "title": profile.title,
        "ok": report.ok,
        "sources": profile.sources,
        "requests": [
            {
                "method": e.method,
                "url": e.url,
                "status": e.status,
                "summary": e.summary(),
            }
            for e in report.exchanges
        ],
        "checks": [
            {"name": c.name, "ok": c.ok, "detail": c.detail, "fix": c.fix or None}
            for c in report.checks
        ],
    }
