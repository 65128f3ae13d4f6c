"""How a client gets a client id from the zone: dynamic registration or a metadata document.

Without ``--register`` this only reads the metadata; with it, clients whose redirect URIs are
known register a throwaway public client, since a zone that refuses them is a failure no
metadata shows (VS Code's loopback and vscode.dev URIs, claude.ai's callback).

With ``--client-metadata-url`` the clients that can use a client ID metadata document (CIMD,
MCP 2026-07-28) use that one instead of registering: the zone must say it supports documents,
the document must name itself as ``client_id``, and the zone must accept an authorization
request from it, as a browser sends it, with the document's first redirect URI.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from .clients import ClientProfile, Registration
from .locations import is_absolute_http
from .probe import Exchange, Trace
from .results import Check

__all__ = ["registration_checks"]


async def registration_checks(
    trace: Trace,
    profile: ClientProfile,
    metadata: dict[str, Any],
    prm: dict[str, Any],
    *,
    register: bool,
    client_metadata_url: str | None = None,
) -> list[Check]:
    if client_metadata_url and profile.registration is Registration.dcr_or_cimd:
        return await _metadata_document(trace, metadata, prm, client_metadata_url)
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


async def _metadata_document(
    trace: Trace, metadata: dict[str, Any], prm: dict[str, Any], url: str
) -> list[Check]:
    """The CIMD client's sign-in up to the zone's answer to its authorization request."""
    supported = metadata.get("client_id_metadata_document_supported") is True
    checks = [
        Check(
            "cimd-supported",
            supported,
            "client_id_metadata_document_supported: true"
            if supported
            else "the zone's metadata does not say client_id_metadata_document_supported: true",
            "" if supported else "use a zone that resolves client ID metadata documents",
        )
    ]
    # The zone fetches the document, not the client: read it aside from the client's trace.
    trace.probe.allow(url)  # the user named it
    answer = await trace.probe.send("GET", url, {"Accept": "application/json"})
    document = answer.document or {}
    redirect_uris = document.get("redirect_uris")
    usable = (
        document.get("client_id") == url
        and isinstance(redirect_uris, list)
        and bool(redirect_uris)
        and isinstance(redirect_uris[0], str)
    )
    checks.append(
        Check(
            "cimd-document",
            usable,
            f"{url} names itself as client_id, redirect URI {redirect_uris[0]}"
            if usable
            else f"{url} answered {answer.status or '---'} ({answer.summary()}); a document "
            "needs client_id equal to its URL and redirect_uris",
            ""
            if usable
            else "serve a JSON document with client_id (its own URL) and redirect_uris",
        )
    )
    endpoint = metadata.get("authorization_endpoint")
    if not (supported and usable and is_absolute_http(endpoint)):
        return checks
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": url,
        "redirect_uri": redirect_uris[0],
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "resource": str(prm.get("resource", "")),
        "state": secrets.token_urlsafe(16),
    }
    # A navigation, not a fetch: a browser sends no Origin and no preflight.
    exchange = await trace.probe.send("GET", f"{endpoint}?{urlencode(query)}", {})
    trace.exchanges.append(exchange)
    checks.append(_authorization_answer(exchange, redirect_uris[0]))
    return checks


def _authorization_answer(exchange: Exchange, redirect_uri: str) -> Check:
    """Accepted: a page (sign-in or consent) or a redirect without an error to the client."""
    location = exchange.headers.get("location", "")
    to_client = location.startswith(redirect_uri)
    error = "error=" in urlsplit(location).query if to_client else False
    accepted = exchange.status == 200 or (
        exchange.status in (302, 303) and not (to_client and error)
    )
    return Check(
        "cimd-authorize",
        accepted,
        "the zone accepted an authorization request from the document's client_id"
        if accepted
        else f"the authorization request answered {exchange.status or exchange.note}"
        + (" with an error for the client" if error else f" ({exchange.summary()})"),
        ""
        if accepted
        else "the zone must fetch the document at the client_id URL and accept its redirect_uris",
    )
