"""Client ID metadata documents (CIMD): a client_id that is a URL, resolved by the zone.

Documents are served by a real server on loopback (http, which the loopback zone accepts,
and https for fastmcp's client, which insists on it); the zone fetches them over real HTTP.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import httpx2
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from keycard_serve.devzone import DevZone, _cimd
from keycard_serve.devzone._cimd import MAX_DOCUMENT, MetadataDocuments
from keycard_serve.devzone._oauth import OAuthError
from tests.support.servers import bound_socket, free_port, serve_asgi
from tests.support.tls import self_signed_loopback

from .helpers import MCP_RESOURCE, REDIRECT_URI, authorize, pkce, redeem, redirect_params, verify
from .test_fastmcp_client import _HeadlessOAuth, _protected_resource

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class DocumentHost:
    """Serves client metadata documents: ``documents[path] = (body, headers)``; counts GETs."""

    base: str = ""
    documents: dict[str, tuple[Any, dict[str, str]]] = field(default_factory=dict)
    fetches: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def publish(self, path: str, headers: dict[str, str] | None = None, **members: Any) -> str:
        """A document whose client_id is its own URL, redirecting to REDIRECT_URI by default."""
        url = self.url(path)
        document = {"client_id": url, "client_name": "CIMD test", "redirect_uris": [REDIRECT_URI]}
        self.documents[path] = ({**document, **members}, headers or {})
        return url

    def app(self) -> Starlette:
        async def serve(request: Request) -> Response:
            path = request.url.path
            self.fetches[path] = self.fetches.get(path, 0) + 1
            if path == "/redirect":
                return RedirectResponse(self.url("/elsewhere"))
            if path == "/huge":
                return Response(b" " * (MAX_DOCUMENT + 1), media_type="application/json")
            if path not in self.documents:
                return JSONResponse({}, status_code=404)
            body, headers = self.documents[path]
            return JSONResponse(body, headers=headers)

        return Starlette(routes=[Route("/{path:path}", serve)])


@pytest.fixture(scope="module")
def host() -> Iterator[DocumentHost]:
    documents = DocumentHost()
    with serve_asgi(documents.app()) as base:
        documents.base = base
        yield documents


async def _authorize(http: httpx.AsyncClient, client_id: str, **params: str) -> httpx.Response:
    return await authorize(http, client_id, pkce()[1], **params)


async def test_metadata_says_documents_are_supported(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["registration_endpoint"].endswith("/register")  # DCR stays


async def test_a_document_client_signs_in_and_redeems_its_code(
    http: httpx.AsyncClient, host: DocumentHost
) -> None:
    client_id = host.publish("/clients/app.json")
    verifier, challenge = pkce()
    code = redirect_params(await authorize(http, client_id, challenge))["code"]
    token = await redeem(http, client_id, code, verifier)
    assert token.status_code == 200, token.text
    claims = await verify(http, token.json()["access_token"], audience=MCP_RESOURCE)
    assert claims["client_id"] == client_id


async def test_the_document_redirect_uris_govern_the_flow(
    http: httpx.AsyncClient, host: DocumentHost
) -> None:
    client_id = host.publish("/clients/narrow.json")
    refused = await _authorize(http, client_id, redirect_uri="http://127.0.0.1:9/other")
    assert refused.status_code == 400
    assert "redirect_uri is not registered" in refused.text


@pytest.mark.parametrize(
    ("path", "members", "problem"),
    [
        ("/clients/liar.json", {"client_id": "https://other.example/c.json"}, "client_id is not"),
        ("/clients/secret.json", {"client_secret": "x"}, "must not carry a client secret"),
        (
            "/clients/basic.json",
            {"token_endpoint_auth_method": "client_secret_basic"},
            "not supported for metadata document clients",
        ),
        ("/clients/ftp.json", {"redirect_uris": ["ftp://x/cb"]}, "must be https"),
    ],
)
async def test_a_bad_document_is_refused_naming_why(
    http: httpx.AsyncClient, host: DocumentHost, path: str, members: dict, problem: str
) -> None:
    client_id = host.publish(path, **members)
    refused = await _authorize(http, client_id)
    assert refused.status_code == 400
    assert problem in refused.text.replace("&#x27;", "'")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/redirect", "answered HTTP 307"),
        ("/huge", f"over {MAX_DOCUMENT} bytes"),
        ("/missing.json", "answered HTTP 404"),
    ],
)
async def test_the_fetch_follows_no_redirect_and_reads_no_more_than_the_cap(
    http: httpx.AsyncClient, host: DocumentHost, path: str, problem: str
) -> None:
    refused = await _authorize(http, host.url(path))
    assert refused.status_code == 400
    assert problem in refused.text
    assert host.fetches.get("/elsewhere") is None


@pytest.mark.parametrize(
    "client_id",
    [
        "http://example.com/client.json",  # plain http off loopback: never fetched
        "https://example.com/",  # no path
        "https://example.com/a/../client.json",
        "https://user@example.com/client.json",
    ],
)
async def test_urls_that_cannot_be_client_ids_are_refused_unfetched(
    http: httpx.AsyncClient, client_id: str
) -> None:
    refused = await _authorize(http, client_id)
    assert refused.status_code == 400
    assert "is not a client metadata document URL" in refused.text


async def test_documents_are_kept_as_long_as_their_caching_headers_say(
    http: httpx.AsyncClient, host: DocumentHost
) -> None:
    kept = host.publish("/clients/kept.json", {"Cache-Control": "public, max-age=300"})
    fresh = host.publish("/clients/fresh.json", {"Cache-Control": "no-store"})
    for _ in range(3):
        for client_id in (kept, fresh):
            approved = await _authorize(http, client_id)
            assert approved.status_code == 302
    assert host.fetches["/clients/kept.json"] == 1
    assert host.fetches["/clients/fresh.json"] == 3


async def test_a_slow_document_server_gets_a_short_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError

    monkeypatch.setattr(_cimd, "_TIMEOUT", 0.05)
    documents = MetadataDocuments(transport=httpx.MockTransport(never))
    with pytest.raises(OAuthError, match="did not answer within"):
        await documents.client("https://slow.example/client.json")


async def test_registration_still_works(http: httpx.AsyncClient) -> None:
    registered = await http.post(
        "/register", json={"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}
    )
    assert registered.status_code == 201
    approved = await _authorize(http, registered.json()["client_id"])
    assert approved.status_code == 302


# --- fastmcp's own client, which insists on an https document URL --------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def resource_server(zone: DevZone, http: httpx.AsyncClient) -> AsyncIterator[str]:
    jwks = (await http.get("/jwks")).json()
    sock = bound_socket()
    with serve_asgi(_protected_resource(zone, jwks, sock.getsockname()[1]), sock=sock) as base:
        yield base


async def test_fastmcp_client_signs_in_with_its_document_url(
    zone: DevZone,
    resource_server: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    certificate, key = self_signed_loopback(tmp_path_factory.mktemp("tls"))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # the zone trusts the test's CA
    documents = DocumentHost()
    with serve_asgi(documents.app(), ssl_certfile=str(certificate), ssl_keyfile=str(key)) as base:
        documents.base = base
        port = free_port()
        client_id = documents.publish(
            "/oauth/client.json",
            redirect_uris=[f"http://localhost:{port}/callback"],
            grant_types=["authorization_code", "refresh_token"],
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using in-memory token storage")
            oauth = _HeadlessOAuth(
                mcp_url=f"{resource_server}/mcp", callback_port=port, client_metadata_url=client_id
            )
        oauth.authorization_urls = []
        async with httpx2.AsyncClient(auth=oauth) as client:
            response = await client.post(f"{resource_server}/mcp")
        assert response.status_code == 200, response.text
        assert response.json() == {"sub": "alice", "client_id": client_id}
        [authorization_url] = oauth.authorization_urls
        assert dict(parse_qsl(urlsplit(authorization_url).query))["client_id"] == client_id
        assert documents.fetches["/oauth/client.json"] >= 1
