"""ExchangeProfile forms and WorkloadIdentity assertions: pure, no socket (issue 15)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from keycard_serve import ConfigurationError, ExchangeProfile, WorkloadIdentity
from keycard_serve._protocol import (
    ACCESS_TOKEN_TYPE,
    CLIENT_ASSERTION_TYPE,
    JWT_BEARER_GRANT,
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
)

API = "https://calendar.example.com/"


def test_the_default_is_rfc_8693_by_resource() -> None:
    assert ExchangeProfile().form("subject", API, ["calendar.read"]) == {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": "subject",
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "resource": API,
        "scope": "calendar.read",
    }


@pytest.mark.parametrize(
    ("target", "audience", "sent"),
    [
        ("audience", "calendar-api", {"audience": "calendar-api"}),
        ("audience", None, {"audience": API}),
        ("both", "calendar-api", {"resource": API, "audience": "calendar-api"}),
        ("resource", "calendar-api", {"resource": API}),
    ],
)
def test_targets(target: str, audience: str | None, sent: dict[str, str]) -> None:
    form = ExchangeProfile().form("s", API, (), audience=audience, target=target)  # type: ignore[arg-type]
    assert {k: v for k, v in form.items() if k in ("resource", "audience")} == sent


def test_token_types_short_names_uris_and_omit() -> None:
    profile = ExchangeProfile(
        subject_token_type="urn:acme:mcp-access-token",
        requested_token_type=None,
        issued_token_types=("access_token", "jwt", None),
    )
    form = profile.form("s", API, ())
    assert form["subject_token_type"] == "urn:acme:mcp-access-token"
    assert "requested_token_type" not in form
    assert [profile.accepts_issued(t) for t in (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, None)] == [
        True,
        True,
        True,
    ]
    assert not ExchangeProfile().accepts_issued(JWT_TOKEN_TYPE)
    assert not ExchangeProfile().accepts_issued(None)
    with pytest.raises(ValueError):
        ExchangeProfile(subject_token_type="access token")


def test_on_behalf_of_names_the_api_in_scope() -> None:
    profile = ExchangeProfile(flavour="on_behalf_of")
    assert profile.form("caller", API, ["Mail.Read", "api://x/y"]) == {
        "grant_type": JWT_BEARER_GRANT,
        "assertion": "caller",
        "requested_token_use": "on_behalf_of",
        "scope": "https://calendar.example.com/Mail.Read api://x/y",
    }
    assert profile.form("c", API, (), audience="api://calendar-api")["scope"] == (
        "api://calendar-api/.default"
    )
    assert profile.accepts_issued(None)  # Entra's answers carry no issued_token_type


def platform_token(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(claims)}.c2ln"


def test_workload_identity_sends_the_files_current_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    credential = WorkloadIdentity(token_file, clock=lambda: 1000.0)
    for exp in (2000, 3000):
        token = platform_token({"sub": "system:serviceaccount:tools:mcp", "exp": exp})
        token_file.write_text(token + "\n")
        form: dict[str, str] = {}
        credential.authenticate(form, {}, audience="ignored")
        assert form == {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": token}
    assert "client_id" not in form and token not in repr(credential)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "credential_unreadable"),
        ("not a jwt", "credential_malformed"),
        ("a.b", "credential_malformed"),
        (platform_token({"exp": 999}), "credential_expired"),
    ],
)
def test_workload_identity_refuses_what_it_cannot_send(
    tmp_path: Path, content: str | None, code: str
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    credential = WorkloadIdentity(token_file, "wi-mcp", clock=lambda: 1000.0)
    with pytest.raises(ConfigurationError) as raised:
        credential.authenticate({}, {}, audience="x")
    assert raised.value.code == code and str(token_file) in raised.value.message
    if content:
        assert content not in raised.value.message
