"""The zone's few HTML pages; each one says, first, that this is a development zone."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from starlette.responses import HTMLResponse

from ._log import BANNER

__all__ = ["consent_page", "error_page", "index_page"]

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # No form-action: browsers apply it to the redirect after Approve, which leaves this origin.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}"
    ".banner{background:#fde68a;border:1px solid #b45309;padding:.5rem 1rem;font-weight:bold}"
    "dt{font-weight:bold;margin-top:.5rem}button{font-size:1rem;padding:.4rem 1.2rem}"
)


def consent_page(
    *, ticket: str, client: str, user: str, resource: str, scopes: Sequence[str]
) -> HTMLResponse:
    scope_text = " ".join(scopes) or "(none requested)"
    body = (
        f"<p><strong>{escape(client)}</strong> asks to act as <strong>{escape(user)}</strong>.</p>"
        f"<dl><dt>User</dt><dd>{escape(user)}</dd>"
        f"<dt>Client</dt><dd>{escape(client)}</dd>"
        f"<dt>Resource</dt><dd>{escape(resource)}</dd>"
        f"<dt>Scopes</dt><dd>{escape(scope_text)}</dd></dl>"
        '<form method="post" action="/authorize">'
        f'<input type="hidden" name="consent" value="{escape(ticket)}">'
        '<button type="submit" name="decision" value="approve">Approve</button> '
        '<button type="submit" name="decision" value="deny">Deny</button></form>'
    )
    return _page("Authorize access", body)


def error_page(description: str, *, status: int = 400) -> HTMLResponse:
    return _page("Authorization request refused", f"<p>{escape(description)}</p>", status=status)


def index_page(*, issuer: str, user: str) -> HTMLResponse:
    body = (
        f"<p>Issuer <code>{escape(issuer)}</code>, signing everyone in as "
        f"<strong>{escape(user)}</strong>.</p>"
        '<p>Metadata: <a href="/.well-known/oauth-authorization-server">'
        "/.well-known/oauth-authorization-server</a></p>"
    )
    return _page("keycard-serve development zone", body)


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} — {BANNER}</title><style>{_STYLE}</style></head>"
        f'<body><p class="banner">keycard-serve {BANNER}</p><h1>{escape(title)}</h1>'
        f"{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=_HEADERS)
