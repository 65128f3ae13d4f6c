"""How a client gets a client id from the zone: dynamic registration or a metadata document.

Without ``--register`` this only reads the metadata; with it, clients whose redirect URIs are
known register a throwaway public client, since a zone that refuses them is a failure no
metadata shows (VS Code's loopback and vscode.dev URIs, claude.ai's callback).
"""

from __future__ import annotations

from typing import Any

from .clients import ClientProfile, Registration
from .locations import is_absolute_http
from .probe import Trace
from .results import Check

__all__ = ["registration_checks"]


async def registration_checks(
    trace: Trace,
    profile: ClientProfile,
    metadata: dict[str, Any],
    prm: dict[str, Any],
    *,
    register: bool,
) -> list[Check]:
    endpoint = metadata.get("registration_endpoint")
    dcr = is_absolute_http(endpoint)
    if (
        profile.registration is Registration.dcr_or_cimd
        and not dcr
        and metadata.get("client_id_metadata_document_supported") is True
    ):
        return [Check("registration", True, "client ID metadata documents supported")]
    needs = profile.registration.value
    fix = f"enable {needs} on the zone, or give users a pre-registered client id"
    if profile.unregistered:
        fix += f" ({profile.unregistered})"
    checks = [
        Check(
            "registration",
            dcr,
            f"registration_endpoint {endpoint}"
            if dcr
            else f"no registration_endpoint; {profile.name} needs {needs}",
            "" if dcr else fix,
        )
    ]
    if dcr and register and profile.redirect_uris:
        checks.append(await _register(trace, profile, endpoint, prm))
    return checks


async def _register(
    trace: Trace, profile: ClientProfile, endpoint: str, prm: dict[str, Any]
) -> Check:
    """A throwaway public client, as the client would register it (this writes to the zone)."""
    body: dict[str, Any] = {
        "client_name": f"keycard-serve doctor ({profile.name})",
        "redirect_uris": list(profile.redirect_uris),
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    if isinstance(prm.get("scopes_supported"), list):
        body["scope"] = " ".join(map(str, prm["scopes_supported"]))
    answer = await trace.send("POST", endpoint, {"Accept": "application/json"}, body)
    ok = (
        answer.status in (200, 201)
        and isinstance(answer.body, dict)
        and bool(answer.body.get("client_id"))
    )
    return Check(
        "dcr",
        ok,
        "registered a public client"
        if ok
        else f"registration answered {answer.status or '---'}: {answer.summary()}",
        ""
        if ok
        else (
            "the zone must register public clients with the redirect URIs "
            + ", ".join(profile.redirect_uris)
        ),
    )
