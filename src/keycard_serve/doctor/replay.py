"""Replay one client's discovery sequence against a running server and check each step.

The sequence is the one every MCP client shares (401 challenge, protected-resource metadata,
authorization-server metadata, registration); where clients differ — lookup order, fallbacks,
the resource rule, CORS, older URLs — the ``ClientProfile`` says so.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .._version import __version__
from .clients import CLIENTS, HEADER, ClientProfile
from .locations import PRM, WellKnown, Where, is_absolute_http, normalized, origin
from .probe import MCP_PROTOCOL_VERSION, Exchange, Probe, Trace
from .registration import registration_checks
from .results import Check, ClientReport, Diagnosis
from .web import browser_checks

__all__ = ["diagnose"]

_CHALLENGE_PARAM = re.compile(r'([\w-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')
_POST_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}
_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": MCP_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "keycard-serve-doctor", "version": __version__},
    },
}


async def diagnose(
    url: str,
    clients: tuple[ClientProfile, ...] = CLIENTS,
    *,
    timeout: float = 5.0,
    register: bool = False,
    client_metadata_url: str | None = None,
) -> Diagnosis:
    """Replay each client's discovery against the MCP endpoint ``url``; with
    ``client_metadata_url``, clients that can sign in with that client ID metadata document
    (CIMD) do, up to the zone's answer to their authorization request."""
    # trust_env=False: no proxy variables and, above all, no credentials from ~/.netrc.
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        probe = Probe(client, timeout=timeout, allowed=url)
        nearby = await _nearby_endpoint(probe, url)
        reports = [
            await _Replay(profile, url, probe, register, nearby, client_metadata_url).run()
            for profile in clients
        ]
    return Diagnosis(url, tuple(reports), nearby)


async def _nearby_endpoint(probe: Probe, url: str) -> str | None:
    """``url`` + ``mcp`` when ``url`` is not an MCP endpoint (404 or 405 to an initialize)
    but that URL one path segment down answers as a protected one (401 Bearer): the usual
    mistake of giving the base URL instead of the MCP endpoint's."""
    given = await probe.send("POST", url, _POST_HEADERS, _INITIALIZE)
    if given.status not in (404, 405):
        return None
    path = urlsplit(url).path
    candidate = urlunsplit(urlsplit(url)._replace(path=path.rstrip("/") + "/mcp", query=""))
    answer = await probe.send("POST", candidate, _POST_HEADERS, _INITIALIZE)
    challenge = answer.headers.get("www-authenticate", "")
    if answer.status == 401 and challenge.lower().startswith("bearer"):
        return candidate
    return None


class _Replay:
    def __init__(
        self,
        profile: ClientProfile,
        url: str,
        probe: Probe,
        register: bool,
        nearby: str | None = None,
        client_metadata_url: str | None = None,
    ) -> None:
        self.profile = profile
        self.nearby = nearby
        self.url = url
        self.register = register
        self.client_metadata_url = client_metadata_url
        self.trace = Trace(probe, browser_origin=profile.browser_origin)
        self.checks: list[Check] = []
        self.expected_prm_url = WellKnown(PRM, Where.inserted).url(url)

    def check(self, name: str, ok: bool, detail: str, fix: str = "") -> bool:
        self.checks.append(Check(name, ok, detail, "" if ok else fix))
        return ok

    async def run(self) -> ClientReport:
        challenge = await self.trace.send("POST", self.url, _POST_HEADERS, _INITIALIZE)
        if challenge.status is None:
            self.check(
                "challenge",
                False,
                f"no answer from {self.url}: {challenge.note}",
                "start the server, or pass the MCP endpoint URL it serves",
            )
            return self._report()
        header_url = self._challenge(challenge)
        prm = await self._protected_resource(header_url)
        if prm is not None and (issuer := self._prm_checks(prm)):
            metadata = await self._authorization_server(issuer)
            if metadata is not None:
                self.checks += await registration_checks(
                    self.trace,
                    self.profile,
                    metadata,
                    prm,
                    register=self.register,
                    client_metadata_url=self.client_metadata_url,
                )
        if self.profile.browser_origin:
            self.checks += await browser_checks(self.trace, self.url, challenge)
        if self.profile.legacy:
            await self._legacy()
        return self._report()

    def _report(self) -> ClientReport:
        return ClientReport(self.profile, tuple(self.trace.exchanges), tuple(self.checks))

    def _challenge(self, response: Exchange) -> str | None:
        """Checks on the 401; returns the absolute resource_metadata URL, if any."""
        header = response.headers.get("www-authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        params = {m[1].lower(): m[2] or m[3] for m in _CHALLENGE_PARAM.finditer(header)}
        fix = (
            "answer a POST without a token with 401 and WWW-Authenticate: Bearer "
            f'resource_metadata="{self.expected_prm_url}" (MCP authorization, RFC 9728 5.1)'
        )
        ok = response.status == 401 and scheme == "bearer"
        if ok:
            detail = "401 with WWW-Authenticate: Bearer"
        elif response.headers.get("location"):
            detail = f"POST without a token answered {response.status} ({response.note})"
            fix = (
                f"give clients the URL of the MCP endpoint itself ({response.headers['location']})"
            )
        elif response.status != 401:
            detail = f"POST without a token answered {response.status}"
            if self.nearby:
                fix = (
                    f"did you mean {self.nearby}? It answers 401 with a Bearer challenge: "
                    "give clients (and doctor) the MCP endpoint URL, not the base URL"
                )
        else:
            found = f"WWW-Authenticate scheme {scheme!r}" if header else "no WWW-Authenticate"
            detail = f"401 with {found}, not Bearer"
        if not self.check("challenge", ok, detail, fix):
            return None
        self.check(
            "challenge-no-error",
            "error" not in params,
            f"error={params.get('error')} on a request that sent no token"
            if "error" in params
            else "no error= on a request without a token",
            "send error= only when a token was presented (RFC 6750 3.1); clients take "
            "invalid_token as a rejected token rather than a request to sign in",
        )
        advertised = params.get("resource_metadata")
        absolute = is_absolute_http(advertised)
        self.check(
            "challenge-resource-metadata",
            absolute,
            f"resource_metadata={advertised}"
            if absolute
            else (
                f"resource_metadata {advertised!r} is not an absolute URL"
                if advertised
                else "the challenge has no resource_metadata"
            ),
            f'advertise the absolute URL resource_metadata="{self.expected_prm_url}", built '
            "from the public base URL (server.base_url), never from the request",
        )
        header_url = advertised if absolute else None
        if self.profile.header_must_be_path_inserted:
            self.check(
                "prm-location",
                header_url is not None
                and normalized(header_url) == normalized(self.expected_prm_url),
                f"resource_metadata points to {advertised or 'nothing'}",
                f"point resource_metadata at the path-inserted {self.expected_prm_url} "
                f"(RFC 9728 3.1); {self.profile.title} reads the PRM there",
            )
        return header_url

    async def _protected_resource(self, header_url: str | None) -> dict[str, Any] | None:
        candidates = []
        for item in self.profile.prm_order:
            if isinstance(item, WellKnown):
                candidates.append(item.url(self.url))
            elif item == HEADER and header_url:
                candidates.append(header_url)
        if self.profile.header_only and header_url:
            candidates = [header_url]
        found, tried = await self._first_document(list(dict.fromkeys(candidates)), "resource")
        if found is None:
            self.check(
                "prm-found",
                False,
                f"no protected-resource metadata at {tried}",
                f"serve RFC 9728 metadata at {candidates[0]}",
            )
            return None
        self.check("prm-found", True, f"at {found.url}")
        return found.document

    def _prm_checks(self, prm: dict[str, Any]) -> str | None:
        """Checks on the PRM's content; returns the authorization server the client uses."""
        resource = prm.get("resource")
        usable = is_absolute_http(resource)
        acceptable = usable and self.profile.resource_rule(self.url, resource)
        if usable and origin(resource) != origin(self.url):
            fix = (
                f"the resource must be on {origin(self.url)}: set server.base_url "
                "(mcp_base_url) to the public URL clients are given"
            )
        else:
            fix = (
                f'serve "resource": "{self.url}" in the PRM, or, if {resource} is the MCP '
                "endpoint, give clients that URL"
            )
        self.check(
            "prm-resource",
            acceptable,
            f"resource {resource} accepted for {self.url}"
            if acceptable
            else (
                "resource in metadata does not match the URL the client was given: "
                f"{_short(resource)} for {self.url}; the rule: {self.profile.resource_rule_name}"
            ),
            fix,
        )
        servers = prm.get("authorization_servers")
        usable = isinstance(servers, list) and bool(servers) and is_absolute_http(servers[0])
        self.check(
            "prm-authorization-servers",
            usable,
            f"first authorization server {servers[0]}"
            if usable
            else f"authorization_servers is {servers!r}",
            "list the zone's issuer URL in authorization_servers",
        )
        return servers[0] if usable else None

    async def _authorization_server(self, issuer: str) -> dict[str, Any] | None:
        self.trace.probe.allow(issuer)
        candidates = list(dict.fromkeys(where.url(issuer) for where in self.profile.as_order))
        found, tried = await self._first_document(candidates, "issuer")
        if found is None:
            self.check(
                "as-metadata",
                False,
                f"no metadata for {issuer} at {tried}",
                f"serve RFC 8414 metadata at {candidates[0]}, or name the zone's issuer "
                "in the PRM's authorization_servers",
            )
            return None
        metadata = found.document or {}
        self.check("as-metadata", True, f"at {found.url}")
        advertised = metadata.get("issuer")
        if self.profile.checks_issuer:
            # The client's rule (a trailing slash aside, otherwise exact), deliberately not
            # _urls.same_issuer: doctor reports what the client would refuse.
            self.check(
                "as-issuer",
                isinstance(advertised, str) and advertised.rstrip("/") == issuer.rstrip("/"),
                f"metadata names issuer {_short(advertised)}, the PRM names {issuer}",
                "name the issuer in authorization_servers exactly as the zone's metadata spells "
                "it (RFC 8414 3.3); clients refuse metadata of another issuer",
            )
        methods = metadata.get("code_challenge_methods_supported")
        self.check(
            "pkce-s256",
            isinstance(methods, list) and "S256" in methods,
            f"code_challenge_methods_supported: {_short(methods)}",
            "the authorization server must list S256 in code_challenge_methods_supported; "
            "MCP clients refuse to authorize without PKCE S256",
        )
        return metadata

    async def _legacy(self) -> None:
        missing = []
        for where in self.profile.legacy:
            answer = await self.trace.discover(where.url(self.url))
            if answer.document is None:
                missing.append(f"{answer.url} ({answer.status or answer.note})")
        self.check(
            "legacy-urls",
            not missing,
            f"older discovery URLs answer 200 ({len(self.profile.legacy)} of them)"
            if not missing
            else "not served: " + ", ".join(missing),
            "serve the PRM and mirror the zone's metadata at these URLs on the MCP origin "
            "(keycard-serve does); older clients stop on a 404 ('HTTP 404: Invalid OAuth "
            "error response', 0.9.0 README Troubleshooting)",
        )

    async def _first_document(
        self, candidates: list[str], member: str
    ) -> tuple[Exchange | None, str]:
        """The first candidate with a JSON object holding ``member``, tried as the client
        tries them; otherwise None and what each tried URL answered."""
        tried = []
        for url in candidates:
            answer = await self.trace.discover(url)
            if answer.document is not None and member in answer.document:
                return answer, ""
            tried.append(f"{url} ({answer.status or answer.note})")
            if answer.status == 200 or not self.profile.fallback.moves_on(answer.status):
                tried.append(f"{self.profile.name} stops there")
                break
        return None, ", ".join(tried)


def _short(value: object) -> str:
    """A metadata value for a report line: whatever a server put there, kept short."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."
