"""Clients identified by the URL of their metadata document (CIMD), the MCP 2026-07-28 way to
register: instead of ``POST /register``, a client uses an https URL as its ``client_id`` and
the zone fetches the JSON document there (draft-ietf-oauth-client-id-metadata-document).

The document's ``client_id`` must equal the URL and its ``redirect_uris`` govern the flow, as
if the client had registered them. The fetch is cautious: no redirects, a short deadline, a
size cap, no credentials from the environment; answers are kept as long as their HTTP caching
headers allow (RFC 9111 ``max-age``; ``no-store`` / ``no-cache`` or none: not kept). Being a
loopback development zone, it also accepts plain http documents on loopback (RFC 8252 §7.3).
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import anyio
import httpx

from ._clients import RegisteredClient
from ._loopback import is_https_or_loopback_url
from ._oauth import OAuthError, log

__all__ = ["MetadataDocuments"]

MAX_DOCUMENT = 5 * 1024  # bytes; the draft suggests limiting documents to 5 kilobytes
_TIMEOUT = 5.0  # seconds for the whole fetch
_MAX_AGE = 24 * 3600  # seconds; longest a document is kept, whatever its headers say
_MAX_KEPT = 256  # documents kept at most
_MAX_AGE_DIRECTIVE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
# Client authentication a document can use here: none (a public client); a secret cannot be
# published in a document, and the zone does not verify client assertions.
_AUTH_METHOD = "none"


class MetadataDocuments:
    """Resolves ``client_id`` URLs to clients by fetching their metadata documents.

    ``transport`` and ``clock`` (monotonic seconds) are for tests.
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._kept: dict[str, tuple[float, RegisteredClient]] = {}

    @staticmethod
    def is_document_url(client_id: str) -> bool:
        """Whether ``client_id`` names a metadata document (an http(s) URL) at all."""
        return client_id.startswith(("https://", "http://"))

    async def client(self, url: str) -> RegisteredClient:
        """The client the document at ``url`` describes.

        Raises ``OAuthError`` ``invalid_client`` saying why it cannot be used: a URL that is
        not https (http only on loopback) with a path, no dot segments, fragment or
        credentials; no answer within 5 s; not a 200; a redirect; over 5 KiB; not a JSON
        object; a ``client_id`` other than the URL; or metadata RFC 7591 would refuse.
        """
        kept = self._kept.get(url)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        _check_url(url)
        body, max_age = await self._fetch(url)
        client = _client_from(url, body)
        self._keep(url, client, max_age)
        log.info("resolved client metadata document %s (%s)", url, client.client_name or "unnamed")
        return client

    async def _fetch(self, url: str) -> tuple[bytes, int]:
        try:
            with anyio.fail_after(_TIMEOUT):
                async with httpx.AsyncClient(
                    transport=self._transport,
                    verify=ssl.create_default_context(),
                    follow_redirects=False,
                    trust_env=False,  # no proxy variables, and no ~/.netrc credentials
                ) as http:
                    headers = {"Accept": "application/json"}
                    async with http.stream("GET", url, headers=headers) as response:
                        if response.status_code != 200:
                            raise _refused(f"{url} answered HTTP {response.status_code}")
                        body = await _read_capped(response)
                        return body, _max_age(response.headers.get("cache-control", ""))
        except TimeoutError:
            raise _refused(f"{url} did not answer within {_TIMEOUT:g} s") from None
        except httpx.HTTPError as exc:
            raise _refused(f"cannot fetch {url} ({type(exc).__name__})") from None

    def _keep(self, url: str, client: RegisteredClient, max_age: int) -> None:
        self._kept.pop(url, None)
        if max_age <= 0:
            return
        if len(self._kept) >= _MAX_KEPT:
            self._kept.pop(next(iter(self._kept)))
        self._kept[url] = (self._clock() + min(max_age, _MAX_AGE), client)


def _check_url(url: str) -> None:
    """The draft's section 3 rules for a client identifier URL."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    if (
        not is_https_or_loopback_url(url)
        or parts.fragment
        or parts.path in ("", "/")
        or "." in segments
        or ".." in segments
    ):
        raise _refused(
            f"client_id {url!r} is not a client metadata document URL: https (http only on "
            "loopback), with a path, without dot segments, credentials or a fragment"
        )


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_DOCUMENT:
            raise _refused(f"the client metadata document is over {MAX_DOCUMENT} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _max_age(cache_control: str) -> int:
    """Seconds the document may be kept (RFC 9111 section 5.2.2); 0 for none."""
    directives = cache_control.lower()
    if "no-store" in directives or "no-cache" in directives:
        return 0
    match = _MAX_AGE_DIRECTIVE.search(directives)
    return int(match.group(1)) if match else 0


def _client_from(url: str, body: bytes) -> RegisteredClient:
    try:
        document = json.loads(body)
    except ValueError:
        raise _refused("the client metadata document is not JSON") from None
    if not isinstance(document, dict):
        raise _refused("the client metadata document is not a JSON object")
    if document.get("client_id") != url:
        raise _refused("the document's client_id is not the URL it was fetched from")
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise _refused("a client metadata document must not carry a client secret")
    method = document.get("token_endpoint_auth_method", _AUTH_METHOD)
    if method != _AUTH_METHOD:
        raise _refused(
            f"token_endpoint_auth_method {method!r} is not supported for metadata document "
            "clients here; use none (a public client with PKCE)"
        )
    metadata = {**document, "token_endpoint_auth_method": _AUTH_METHOD}
    try:
        return RegisteredClient.from_metadata(metadata, client_id=url)
    except OAuthError as exc:
        raise _refused(f"the client metadata document: {exc.description}") from None


def _refused(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, status=401)
