"""JWTVerifier with keys from an in-memory JWKS host, no socket (catalogue §2a #5-#27, #29, #31)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import math
import secrets
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from keycard_serve._algorithms import VERIFYING_ALGORITHMS
from keycard_serve._http import ClientPool
from keycard_serve._jwks import RemoteJWKSet
from keycard_serve._verified_cache import VerifiedEntry, VerifiedTokenCache, token_digest
from keycard_serve._verifier import (
    JWTVerifier,
    VerifiedToken,
    audience_matches,
    matching_audience,
)
from keycard_serve.errors import JWKSError, TokenError
from tests.support.keys import (
    InMemoryHosts,
    JWKSHost,
    b64url,
    ec_key,
    encode_json,
    public_jwk,
    rsa_key,
    sign,
    sign_raw,
    unsigned,
)

ISSUER = "https://zone.keycard.test"
AUDIENCE = "https://mcp.example.test/mcp"
NOW = 1_800_000_000
SECRET_SUB = "user-7f3a9c-sentinel"

RSA = rsa_key()
EC = ec_key()
JWKS = {
    "keys": [
        public_jwk(RSA, "rsa-1", alg="RS256"),
        public_jwk(RSA, "rsa-bare"),
        public_jwk(EC, "ec-1", alg="ES256"),
        {"kty": "oct", "kid": "oct-1", "k": b64url(b"a shared secret of 32 bytes!!!!!")},
    ]
}

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def claims(*, drop: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SECRET_SUB,
        "iat": NOW - 10,
        "exp": NOW + 300,
        "scope": "mcp:tools files:read",
        "client_id": "vscode",
        "jti": "abc",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if name not in drop}


def header(**changes: Any) -> dict[str, Any]:
    return {"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt", **changes}


@pytest.fixture(scope="module")
def served() -> JWKSHost:
    return JWKSHost(base_url="https://jwks.test")


@pytest.fixture(scope="module")
def elsewhere() -> JWKSHost:
    """Another host on the same in-memory network: an attacker's, or a redirect target."""
    return JWKSHost(base_url="https://elsewhere.test")


@pytest.fixture(scope="module")
def pool(served: JWKSHost, elsewhere: JWKSHost) -> ClientPool:
    """Clients reaching only the in-memory hosts: these unit tests open no socket."""
    return ClientPool(transport=InMemoryHosts(served, elsewhere))


@pytest.fixture
def host(served: JWKSHost) -> Iterator[JWKSHost]:
    served.reset(JWKS)
    yield served
    served.reset()


@pytest.fixture
def monotonic() -> Clock:
    return Clock(5000.0)


@pytest.fixture
def jwks(host: JWKSHost, pool: ClientPool, monotonic: Clock) -> RemoteJWKSet:
    return RemoteJWKSet(host.url, pool.get, clock=monotonic, timeout=0.3)


@pytest.fixture
def make(jwks: RemoteJWKSet) -> Any:
    def make(**options: Any) -> JWTVerifier:
        options.setdefault("clock", lambda: NOW)
        options.setdefault("audiences", [AUDIENCE])
        return JWTVerifier(issuer=ISSUER, key_resolver=jwks.get_signing_key, **options)

    return make


@pytest.fixture
def verifier(make: Any) -> JWTVerifier:
    return make()


async def refused(verifier: JWTVerifier, token: Any) -> TokenError:
    with pytest.raises(TokenError) as caught:
        await verifier.verify(token)
    error = caught.value
    assert SECRET_SUB not in str(error) and SECRET_SUB not in repr(error)
    if isinstance(token, str) and len(token) > 20:
        assert token not in str(error) and token.split(".")[0] not in str(error)
    return error


async def code(verifier: JWTVerifier, token: Any) -> str:
    return (await refused(verifier, token)).code


# -- accepted tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "alg", "kid"),
    [(RSA, "RS256", "rsa-1"), (RSA, "PS256", "rsa-bare"), (EC, "ES256", "ec-1")],
)
async def test_a_valid_token_is_verified(
    verifier: JWTVerifier, key: Any, alg: str, kid: str
) -> None:
    token = sign(claims(), key, alg=alg, kid=kid)
    verified = await verifier.verify(token)
    assert verified == VerifiedToken(
        subject=SECRET_SUB,
        issuer=ISSUER,
        audience=(AUDIENCE,),
        scopes=("mcp:tools", "files:read"),
        client_id="vscode",
        expires_at=NOW + 300,
        claims=claims(),
    )
    assert token not in repr(verified) and SECRET_SUB in repr(verified)
    assert "jti" not in repr(verified)


@pytest.mark.parametrize(
    ("changes", "scopes", "client_id"),
    [
        ({"scope": None, "scp": ["a", "b"]}, ("a", "b"), "vscode"),
        ({"scope": None, "scp": "a  b"}, ("a", "b"), "vscode"),
        ({"scope": None}, (), "vscode"),
        ({"scope": ["a", "b"]}, ("a", "b"), "vscode"),  # Duende: an array
        ({"scope": "a b", "scp": ["b", "c"]}, ("a", "b", "c"), "vscode"),  # both: the union
        ({"client_id": None, "azp": "cursor"}, ("mcp:tools", "files:read"), "cursor"),
        ({"client_id": None}, ("mcp:tools", "files:read"), None),
    ],
)
async def test_scopes_and_client_id(
    verifier: JWTVerifier, changes: dict[str, Any], scopes: tuple[str, ...], client_id: str | None
) -> None:
    dropped = tuple(name for name, value in changes.items() if value is None)
    kept = {name: value for name, value in changes.items() if value is not None}
    verified = await verifier.verify(sign(claims(drop=dropped, **kept), RSA))
    assert (verified.scopes, verified.client_id) == (scopes, client_id)


@pytest.mark.parametrize(
    "changes",
    [
        {"scope": ["mcp:tools files:read"]},
        {"scope": None, "scp": [1]},
        {"scope": None, "scp": {"a": 1}},
        {"client_id": 7},
        {"client_id": None, "azp": ["x"]},
        {"sub": ""},
        {"sub": 12},
        {"jti": 5},
    ],
)
async def test_claims_of_the_wrong_type_are_refused(
    verifier: JWTVerifier, changes: dict[str, Any]
) -> None:
    dropped = tuple(name for name, value in changes.items() if value is None)
    kept = {name: value for name, value in changes.items() if value is not None}
    assert await code(verifier, sign(claims(drop=dropped, **kept), RSA)) == "invalid_claim"


# -- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"algorithms": ["ES256K"]},
        {"algorithms": [None]},
        {"algorithms": []},
        {"algorithms": "RS256"},
        {"accepted_types": []},
        {"accepted_types": [5]},
        {"leeway": -1},
        {"leeway": math.nan},
        {"leeway": 3600},
        {"leeway": True},
        {"max_token_bytes": 0},
        {"max_token_bytes": 10.5},
        {"issuer": ""},
        {"audiences": AUDIENCE},
        {"audiences": []},
        {"audiences": [""]},
    ],
)
async def test_construction_refuses_unsafe_settings(options: dict[str, Any]) -> None:
    arguments = {"issuer": ISSUER, "audiences": [AUDIENCE], "key_resolver": _never, **options}
    with pytest.raises(ValueError):
        JWTVerifier(**arguments)


@pytest.mark.parametrize("alg", ["HS256", "hs512", "none", "NONE"])
async def test_symmetric_and_none_algorithms_are_refused(alg: str) -> None:
    """#6: even listed next to RS256 by mistake, HS256 can never reach the key confusion."""
    with pytest.raises(ValueError, match="only asymmetric"):
        JWTVerifier(
            issuer=ISSUER, audiences=[AUDIENCE], key_resolver=_never, algorithms=["RS256", alg]
        )


async def test_default_algorithms_are_all_asymmetric() -> None:
    assert not [alg for alg in VERIFYING_ALGORITHMS if alg.startswith("HS") or alg == "none"]


# -- header attacks (#5-#14, #23) --------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", None, 256, "HS256", "rs256"])
async def test_alg_outside_the_allow_list_is_refused_before_any_fetch(
    verifier: JWTVerifier, host: JWKSHost, alg: Any
) -> None:
    """#5: alg none in every spelling, with an empty signature."""
    token = unsigned(header(alg=alg), claims(), b"")
    assert await code(verifier, token) == "unsupported_algorithm"
    assert host.hits == 0


async def test_alg_missing_is_refused(verifier: JWTVerifier) -> None:
    token = unsigned({"typ": "at+jwt", "kid": "rsa-1"}, claims(), b"")
    assert await code(verifier, token) == "unsupported_algorithm"


@pytest.mark.parametrize("kid", ["rsa-1", "oct-1"])
async def test_hs256_signed_with_the_public_key_is_refused(verifier: JWTVerifier, kid: str) -> None:
    """#6: CVE-2022-29217 key confusion, with the PEM and with the JWK's n as the secret."""
    pem = RSA.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = (
        f"{b64url(encode_json(header(alg='HS256', kid=kid)))}.{b64url(encode_json(claims()))}"
    )
    for secret in (pem, JWKS["keys"][0]["n"].encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert await code(verifier, f"{signing_input}.{b64url(mac)}") == "unsupported_algorithm"


async def test_an_allowed_alg_the_key_does_not_serve_is_refused(verifier: JWTVerifier) -> None:
    """#7: PS256 with the RS256 key; ES256 header with an RSA key."""
    assert await code(verifier, sign(claims(), RSA, alg="PS256")) == "jwks_no_matching_key"
    forged = sign(claims(), EC, alg="ES256", kid="rsa-1")
    assert await code(verifier, forged) == "jwks_no_matching_key"


async def test_a_resolver_key_bound_to_another_alg_is_refused() -> None:
    """One key, one alg, even when a custom resolver hands over a mismatched key."""

    async def careless(jose_header: Any) -> jwt.PyJWK:
        return jwt.PyJWK(JWKS["keys"][1], algorithm="RS256")

    verifier = JWTVerifier(
        issuer=ISSUER, audiences=[AUDIENCE], key_resolver=careless, clock=lambda: NOW
    )
    token = sign(claims(), RSA, alg="PS256", kid="rsa-bare")
    assert await code(verifier, token) == "unsupported_algorithm"


async def test_an_oct_key_in_the_jwks_is_never_used(verifier: JWTVerifier) -> None:
    """#8: the JWKS publishes an oct key; no token can name it."""
    assert await code(verifier, sign(claims(), RSA, kid="oct-1")) == "jwks_no_matching_key"


async def test_a_storm_of_unknown_kids_costs_one_fetch(
    verifier: JWTVerifier, host: JWKSHost
) -> None:
    """#9: 1000 concurrent verifications with random kids, one JWKS fetch in the cooldown."""
    tokens = [unsigned(header(kid=secrets.token_hex(8)), claims(), b"x" * 256) for _ in range(1000)]
    results = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    assert {type(r) for r in results} == {TokenError}
    assert {r.code for r in results if isinstance(r, TokenError)} == {"jwks_no_matching_key"}
    assert host.hits == 1


@pytest.mark.parametrize(
    ("kid", "expected"),
    [
        ("../../../../../../dev/null", "jwks_no_matching_key"),
        ("' OR 1=1--", "jwks_no_matching_key"),
        ("k" * 10_000, "jwks_invalid_kid"),
        (42, "jwks_invalid_kid"),
        (["rsa-1"], "jwks_invalid_kid"),
        (None, "jwks_invalid_kid"),
    ],
)
async def test_hostile_kids_are_refused(verifier: JWTVerifier, kid: Any, expected: str) -> None:
    """#10"""
    error = await refused(verifier, sign_raw(header(kid=kid), claims(), RSA))
    assert error.code == expected
    assert isinstance(error.__cause__, JWKSError)


async def test_a_token_without_kid_needs_a_single_key_jwks(
    verifier: JWTVerifier, host: JWKSHost, pool: ClientPool
) -> None:
    """#11"""
    token = sign(claims(), RSA, kid=None)
    assert await code(verifier, token) == "jwks_no_matching_key"
    host.reset({"keys": [public_jwk(RSA, "only", alg="RS256")]})
    lone = RemoteJWKSet(host.url, pool.get)
    single = JWTVerifier(
        issuer=ISSUER, audiences=[AUDIENCE], key_resolver=lone.get_signing_key, clock=lambda: NOW
    )
    assert (await single.verify(token)).subject == SECRET_SUB


async def test_key_headers_pointing_elsewhere_are_ignored(
    verifier: JWTVerifier, elsewhere: JWKSHost
) -> None:
    """#12: jku, x5u, jwk and x5c cause zero requests and never supply the key."""
    attacker = rsa_key("attacker")
    elsewhere.reset({"keys": [public_jwk(attacker, "rsa-1", alg="RS256")]})
    injected = {
        "jku": elsewhere.url,
        "x5u": f"{elsewhere.base_url}/cert.pem",
        "jwk": public_jwk(attacker, "rsa-1", alg="RS256"),
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }
    forged = sign(claims(), attacker, **injected)
    assert await code(verifier, forged) == "invalid_signature"
    genuine = sign(claims(), RSA, **injected)
    assert (await verifier.verify(genuine)).subject == SECRET_SUB
    assert elsewhere.hits == 0


@pytest.mark.parametrize("crit", [["x"], ["exp"], [], "x", None, {"b64": False}])
async def test_any_crit_is_refused(verifier: JWTVerifier, crit: Any) -> None:
    """#13: we understand no extension, so unknown, empty and non-list crit all fail."""
    token = sign_raw(header(crit=crit, x=True), claims(), RSA)
    assert await code(verifier, token) == "unsupported_crit"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
async def test_rfc_9068_types_are_accepted(verifier: JWTVerifier, typ: str) -> None:
    """#14: compared case-insensitively after adding application/ (RFC 7515 §4.1.9)."""
    assert (await verifier.verify(sign(claims(), RSA, typ=typ))).subject == SECRET_SUB


@pytest.mark.parametrize(
    "typ", ["JWT", "jwt", "id_token+jwt", "application/jwt", "at+jwt; x=1", "text/at+jwt", None]
)
async def test_other_types_are_refused(verifier: JWTVerifier, typ: str | None) -> None:
    """#14: typ JWT, missing or another type."""
    assert await code(verifier, sign(claims(), RSA, typ=typ)) == "invalid_type"


@pytest.mark.parametrize("typ", [123, ["at+jwt"], ""])
async def test_a_typ_that_is_not_a_type_is_refused(verifier: JWTVerifier, typ: Any) -> None:
    assert await code(verifier, sign_raw(header(typ=typ), claims(), RSA)) == "invalid_type"


async def test_the_escape_hatch_admits_untyped_tokens_with_one_warning(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """#14: an AS that omits typ is allowed only by explicit config, logged once."""
    lenient = make(accepted_types=("at+jwt", None))
    with caplog.at_level(logging.WARNING, logger="keycard_serve._verifier"):
        await lenient.verify(sign(claims(), RSA, typ="at+jwt"))
        assert not caplog.records
        for _ in range(3):
            await lenient.verify(sign(claims(), RSA, typ=None))
    assert len(caplog.records) == 1
    assert "without a typ header" in caplog.text and SECRET_SUB not in caplog.text
    assert await code(lenient, sign(claims(), RSA, typ="JWT")) == "invalid_type"


async def test_the_escape_hatch_can_admit_a_mislabelled_type(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mislabelled = make(accepted_types=("at+jwt", "JWT"))
    with caplog.at_level(logging.WARNING, logger="keycard_serve._verifier"):
        await mislabelled.verify(sign(claims(), RSA, typ="jwt"))
    assert "application/jwt" in caplog.text
    assert await code(mislabelled, sign(claims(), RSA, typ=None)) == "invalid_type"


async def test_a_nested_token_is_refused(verifier: JWTVerifier) -> None:
    """#23: cty JWT."""
    assert await code(verifier, sign(claims(), RSA, cty="JWT")) == "unsupported_cty"


# -- claims (#15-#20, #27) ---------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
async def test_required_claims(verifier: JWTVerifier, claim: str) -> None:
    """#15 and RFC 9068 §2.2: exp, iat, iss, aud and sub are required."""
    error = await refused(verifier, sign(claims(drop=(claim,)), RSA))
    assert error.code == "missing_claim" and claim in error.message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"exp": NOW - 31}, "expired"),
        ({"exp": NOW - 30}, "expired"),
        ({"exp": NOW - 10}, None),
        ({"exp": NOW + 0.5}, None),
        ({"exp": str(NOW + 300)}, "invalid_claim"),
        ({"exp": True}, "invalid_claim"),
        ({"exp": 1e20}, "invalid_claim"),
        ({"exp": -1}, "invalid_claim"),
        ({"exp": [NOW + 300]}, "invalid_claim"),
        ({"exp": math.inf}, "malformed"),
        ({"exp": math.nan}, "malformed"),
        ({"nbf": NOW + 31}, "not_yet_valid"),
        ({"nbf": NOW + 29}, None),
        ({"nbf": "soon"}, "invalid_claim"),
        ({"iat": NOW + 31}, "not_yet_valid"),
        ({"iat": NOW + 29}, None),
        ({"iat": None}, "missing_claim"),
    ],
)
async def test_time_claims(
    verifier: JWTVerifier, changes: dict[str, Any], expected: str | None
) -> None:
    """#16 and #17 with leeway 30 s: beyond it refused, within it accepted, garbage refused."""
    token = sign(claims(**changes), RSA)
    if expected is None:
        assert (await verifier.verify(token)).subject == SECRET_SUB
    else:
        assert await code(verifier, token) == expected


async def test_time_follows_the_injected_clock(make: Any) -> None:
    clock = Clock(NOW)
    verifier = make(clock=clock, leeway=0)
    token = sign(claims(), RSA)
    assert (await verifier.verify(token)).expires_at == NOW + 300
    clock.now = NOW + 300
    assert await code(verifier, token) == "expired"


@pytest.mark.parametrize(
    "iss",
    [
        "https://zone.keycard.test.evil",
        "https://zone.keycard.tes",
        "https://zone.keycard.test/",
        "HTTPS://ZONE.KEYCARD.TEST",
        "https://other.keycard.test",
        ["https://zone.keycard.test"],
        42,
    ],
)
async def test_the_issuer_must_match_exactly(verifier: JWTVerifier, iss: Any) -> None:
    """#18 (GHSA-75c5-xw7c-p5pm): no prefix, suffix, slash or case games."""
    assert await code(verifier, sign_raw(header(), claims(iss=iss), RSA)) == "invalid_issuer"


@pytest.mark.parametrize(
    ("aud", "expected"),
    [
        ("https://mcp.example.test/other", "invalid_audience"),
        (AUDIENCE + "/", "invalid_audience"),
        (["https://api.example.test"], "invalid_audience"),
        ([AUDIENCE, 5], "invalid_audience"),
        ({"aud": AUDIENCE}, "invalid_audience"),
        ([], "missing_claim"),
        ("", "missing_claim"),
    ],
)
async def test_the_audience_must_be_ours(verifier: JWTVerifier, aud: Any, expected: str) -> None:
    """#19: compared in canonical form, but a trailing slash or another path is another URL."""
    assert await code(verifier, sign(claims(aud=aud), RSA)) == expected


async def test_an_audience_list_containing_ours_is_accepted(make: Any) -> None:
    """#20: RFC 9068 §4 says "contains"; any configured audience may match."""
    verifier = make(audiences=["https://mcp.example.test", AUDIENCE])
    token = sign(claims(aud=["https://api.example.test", AUDIENCE]), RSA)
    assert (await verifier.verify(token)).audience == ("https://api.example.test", AUDIENCE)


@pytest.mark.parametrize(
    ("accepted", "aud"),
    [
        (AUDIENCE, "https://mcp.example.test:443/mcp"),
        (AUDIENCE, "HTTPS://MCP.Example.test/mcp"),
        (AUDIENCE, "https://mcp.example.test/a/../mcp"),
        ("https://mcp.example.test:443/mcp", AUDIENCE),
        ("http://127.0.0.1:80/mcp", "http://127.0.0.1/mcp"),
        ("api://app", "api://app"),
    ],
)
async def test_audiences_are_compared_in_canonical_form(make: Any, accepted: str, aud: str) -> None:
    """Issue 9 #3: a default port, case or dot segments on either side name the same URL."""
    verifier = make(audiences=[accepted])
    assert (await verifier.verify(sign(claims(aud=aud), RSA))).audience == (aud,)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("garbage", "malformed"),
        ("a.b.c", "malformed"),
        (sign(claims(exp=NOW - 60), RSA), "expired"),
        (sign(claims(iat=NOW + 600), RSA), "not_yet_valid"),
        (sign(claims(iss="https://other.keycard.test"), RSA), "invalid_issuer"),
        (sign(claims(aud="https://other.example.test/mcp"), RSA), "invalid_audience"),
        (sign(claims(drop=("exp",)), RSA), "missing_claim"),
        (sign_raw(header(typ="JWT"), claims(), RSA), "invalid_type"),
    ],
)
async def test_a_token_bad_on_its_face_is_refused_without_the_keys(
    token: str, expected: str
) -> None:
    """Finding 1: while the keys cannot be had, a token that is bad before any signature check
    is still refused as invalid, never reported as "could not check"."""

    async def unreachable(header: Any) -> jwt.PyJWK:
        raise JWKSError("the JWKS is down", code="jwks_unavailable")

    verifier = JWTVerifier(
        issuer=ISSUER, audiences=[AUDIENCE], key_resolver=unreachable, clock=lambda: NOW
    )
    assert await code(verifier, token) == expected
    with pytest.raises(JWKSError):
        await verifier.verify(sign(claims(), RSA))


@pytest.mark.parametrize(
    ("typ", "aud", "expected"),
    [
        ("JWT", "vscode", "invalid_type"),  # an ID token from the same AS
        ("at+jwt", "vscode", "invalid_audience"),  # ...even if someone types it at+jwt
        ("at+jwt", "https://api.example.test", "invalid_audience"),  # a downstream token
        ("at+jwt", "https://other-mcp.example.test/mcp", "invalid_audience"),
    ],
)
async def test_tokens_for_someone_else_are_refused(
    verifier: JWTVerifier, typ: str, aud: str, expected: str
) -> None:
    """#27: RFC 8725 §3.12 and RFC 9068 §5."""
    assert await code(verifier, sign(claims(aud=aud), RSA, typ=typ)) == expected


# -- encoding and signature (#21, #22, #24, #25, #31) ------------------------------------------


async def test_a_tampered_payload_is_refused(verifier: JWTVerifier) -> None:
    """#21"""
    head, _, signature = sign(claims(), RSA).split(".")
    forged = f"{head}.{b64url(encode_json(claims(sub='admin')))}.{signature}"
    assert await code(verifier, forged) == "invalid_signature"


async def test_a_truncated_or_foreign_signature_is_refused(verifier: JWTVerifier) -> None:
    """#21"""
    token = sign(claims(), RSA)
    signing_input, signature = token.rsplit(".", 1)
    raw = _unb64(signature)
    assert await code(verifier, f"{signing_input}.{b64url(raw[:-8])}") == "invalid_signature"
    other = sign(claims(), rsa_key("attacker")).rsplit(".", 1)[1]
    assert await code(verifier, f"{signing_input}.{other}") == "invalid_signature"
    assert await code(verifier, f"{signing_input}.") == "invalid_signature"


async def test_an_es256_all_zero_signature_is_refused(verifier: JWTVerifier) -> None:
    """#31: psychic signatures (CVE-2022-21449), r = s = 0."""
    token = sign(claims(), EC, alg="ES256", kid="ec-1")
    signing_input = token.rsplit(".", 1)[0]
    assert await code(verifier, f"{signing_input}.{b64url(bytes(64))}") == "invalid_signature"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "==",  # padded signature
        lambda t: "=" + t,
        lambda t: t.replace(".", "!.", 1),
        lambda t: t.rsplit(".", 1)[0],  # 2 segments
        lambda t: t + ".a.b",  # 5 segments: a JWE
        lambda t: "",
        lambda t: "..",
        lambda t: t.replace(".", " .", 1),
        lambda t: t + "é",
        lambda t: t.encode(),
        lambda t: None,
    ],
)
async def test_malformed_compact_forms_are_refused(verifier: JWTVerifier, mangle: Any) -> None:
    """#21 and #22: bad base64url, padding, segment counts, non-ASCII, not a string."""
    assert await code(verifier, mangle(sign(claims(), RSA))) == "malformed"


async def test_non_canonical_base64url_is_refused_before_any_fetch(
    verifier: JWTVerifier, host: JWKSHost
) -> None:
    """Spare bits set in a last character decode to the same bytes: refuse, don't guess."""
    head, payload, signature = sign(claims(), RSA).split(".")
    assert len(head) % 4 and len(signature) % 4  # so the last characters carry spare bits
    assert await code(verifier, f"{_spare_bit(head)}.{payload}.{signature}") == "malformed"
    assert await code(verifier, f"{head}.{payload}.{_spare_bit(signature)}") == "malformed"
    assert host.hits == 0


@pytest.mark.parametrize(
    ("raw_header", "raw_payload"),
    [
        (b'{"alg":"RS256","alg":"none","kid":"rsa-1","typ":"at+jwt"}', None),  # #24
        (None, b'{"sub":"a","sub":"b","iss":"x","aud":"y","iat":1,"exp":2}'),  # #24
        (b'{"alg":"RS256","kid":"rsa-1","typ":"at+jwt","x":"\xff"}', None),  # #24 non-UTF-8
        (None, b'["not", "an", "object"]'),  # #23
        (None, b'"just a string"'),  # #23
        (b'["RS256"]', None),
        (None, b""),
        (None, b'{"exp": NaN}'),
        (None, b"[" * 5000 + b"]" * 5000),
    ],
)
async def test_json_that_parsers_disagree_on_is_refused(
    verifier: JWTVerifier, host: JWKSHost, raw_header: bytes | None, raw_payload: bytes | None
) -> None:
    default_header = b'{"alg":"RS256","kid":"rsa-1","typ":"at+jwt"}'
    header_bytes = default_header if raw_header is None else raw_header
    token = unsigned(header_bytes, b"{}" if raw_payload is None else raw_payload, bytes(256))
    assert await code(verifier, token) == "malformed"
    assert host.hits == 0


async def test_an_unencoded_payload_header_is_refused(verifier: JWTVerifier) -> None:
    """RFC 7797 b64=false without crit: malformed, whatever the payload segment holds."""
    assert await code(verifier, sign_raw(header(b64=False), claims(), RSA)) == "malformed"


async def test_a_huge_token_is_refused_before_decoding(
    verifier: JWTVerifier, host: JWKSHost
) -> None:
    """#25: 1 MB payload, 64 KB header, or a long string that would not even decode."""
    big_payload = sign(claims(padding="p" * 1_000_000), RSA)
    big_header = sign(claims(), RSA, padding="h" * 65_536)
    for token in (big_payload, big_header, "!" * 20_000):
        assert await code(verifier, token) == "token_too_large"
    assert host.hits == 0
    small = JWTVerifier(
        issuer=ISSUER,
        audiences=[AUDIENCE],
        key_resolver=_never,
        max_token_bytes=100,
    )
    assert await code(small, sign(claims(), RSA)) == "token_too_large"


async def test_a_weak_rsa_key_is_refused(host: JWKSHost, make: Any) -> None:
    weak = rsa_key("weak", bits=1024)
    host.reset({"keys": [public_jwk(weak, "weak", alg="RS256")]})
    with pytest.warns(UserWarning, match="1024 bits"):  # pyjwt, while signing the test token
        token = sign(claims(), weak, kid="weak")
    assert await code(make(), token) == "invalid_key"


# -- key rotation and outages (#26, #29) --------------------------------------------------------


async def test_rotation_end_to_end(verifier: JWTVerifier, host: JWKSHost, monotonic: Clock) -> None:
    """#26: a new kid is accepted after one refetch, which also retires the old key."""
    new = rsa_key("rotated")
    old_token, new_token = sign(claims(), RSA), sign(claims(), new, kid="rsa-2")
    await verifier.verify(old_token)
    host.jwks = {"keys": [public_jwk(new, "rsa-2", alg="RS256")]}
    monotonic.now += 29
    assert await code(verifier, new_token) == "jwks_no_matching_key"  # still cooling down
    assert (await verifier.verify(old_token)).subject == SECRET_SUB
    monotonic.now += 2
    assert (await verifier.verify(new_token)).subject == SECRET_SUB
    assert await code(verifier, old_token) == "jwks_no_matching_key"
    assert host.hits == 2


async def test_a_jwks_outage_keeps_verifying_with_cached_keys(
    verifier: JWTVerifier, host: JWKSHost, monotonic: Clock
) -> None:
    """#29"""
    token = sign(claims(), RSA)
    await verifier.verify(token)
    host.mode = "status_500"
    monotonic.now += 601
    assert (await verifier.verify(token)).subject == SECRET_SUB
    assert host.hits == 2


@pytest.mark.parametrize(
    ("mode", "first"), [("status_500", "jwks_http_status"), ("slow", "jwks_timeout")]
)
async def test_without_keys_an_outage_refuses_tokens(
    verifier: JWTVerifier, host: JWKSHost, mode: str, first: str
) -> None:
    """#29: fail closed with the JWKS's own error ("could not check", not TokenError)."""
    host.mode = mode
    token = sign(claims(), RSA)
    with pytest.raises(JWKSError) as caught:
        await verifier.verify(token)
    assert caught.value.code == first
    with pytest.raises(JWKSError) as caught:
        await verifier.verify(token)
    assert caught.value.code == "jwks_unavailable"
    assert host.hits == 1


# -- the memory of verified tokens (issue 11) ---------------------------------------------------


async def test_a_verified_token_is_remembered_until_its_exp_and_no_longer(make: Any) -> None:
    """A repeat call gets the same verdict without the crypto; from ``exp`` on, every check
    runs again (here the leeway still admits it), and past exp + leeway it is refused."""
    clock = Clock(NOW)
    verifier = make(clock=clock)
    token = sign(claims(), RSA)
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    clock.now = NOW + 299
    assert await verifier.verify(token) is first
    clock.now = NOW + 300  # exp: the remembered verdict no longer serves
    again = await verifier.verify(token)
    assert again == first and again is not first
    assert await verifier.verify(token) is not first  # nor was the late verdict remembered
    clock.now = NOW + 330
    assert await code(verifier, token) == "expired"


async def test_a_remembered_token_is_not_valid_before_its_iat(make: Any) -> None:
    """A clock set back before iat/nbf - leeway gets not_yet_valid, cached or not."""
    clock = Clock(NOW)
    verifier = make(clock=clock)
    token = sign(claims(nbf=NOW + 20), RSA)
    await verifier.verify(token)
    clock.now = NOW - 11
    assert await code(verifier, token) == "not_yet_valid"


async def test_a_key_removed_from_the_jwks_refuses_remembered_tokens_after_the_refresh(
    verifier: JWTVerifier, host: JWKSHost, monotonic: Clock
) -> None:
    token = sign(claims(), RSA)
    first = await verifier.verify(token)
    host.jwks = {"keys": [public_jwk(EC, "ec-1", alg="ES256")]}
    monotonic.now += 599  # the JWKS cache still holds the key: so does the verdict
    assert await verifier.verify(token) is first
    monotonic.now += 2  # max_age: the refetch drops the key, and the verdict with it
    assert await code(verifier, token) == "jwks_no_matching_key"
    assert host.hits == 2
    host.jwks = JWKS  # back: verified afresh against the new key set, never from memory
    monotonic.now += 31
    assert (await verifier.verify(token)) is not first


async def test_a_refused_token_is_never_remembered(verifier: JWTVerifier) -> None:
    bad = [
        sign(claims(aud="https://other.example/mcp"), RSA),
        sign(claims(iss="https://evil.example"), RSA),
        sign(claims(iat=NOW + 100), RSA),
        sign(claims(exp=NOW - 100), RSA),
        sign(claims(), RSA)[:-4] + "AAAA",
        sign(claims(), RSA, kid="missing"),
    ]
    for token in bad:
        first = await code(verifier, token)
        assert await code(verifier, token) == first
    assert len(verifier._verified) == 0


async def test_a_new_verifier_remembers_nothing(make: Any) -> None:
    """A reload builds a new verifier: a token one configuration accepted meets the next's
    checks (over HTTP: tests/integration/test_verified_cache_http.py)."""
    token = sign(claims(), RSA)
    await make().verify(token)
    assert await code(make(audiences=["https://mcp.example.test/other"]), token) == (
        "invalid_audience"
    )


async def test_the_memory_is_bounded() -> None:
    cache: VerifiedTokenCache[str] = VerifiedTokenCache(max_entries=2)
    for name in ("a", "b", "c"):
        cache.put(token_digest(name), VerifiedEntry({}, None, name, 0, NOW), now=1)
    assert len(cache) == 2
    assert cache.get(token_digest("a"), now=1) is None
    assert cache.get(token_digest("c"), now=1).verdict == "c"  # type: ignore[union-attr]
    cache.put(token_digest("d"), VerifiedEntry({}, None, "d", 0, 5), now=5)  # already expired
    assert cache.get(token_digest("d"), now=5) is None and len(cache) == 2


async def _never(jose_header: Any) -> Any:
    raise AssertionError("the key resolver must not be reached")


def _spare_bit(segment: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) + 1]


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@pytest.mark.parametrize(
    ("token_audiences", "accepted", "expected"),
    [
        # The first accepted audience the token names: the MCP endpoint before the base URL.
        (("https://h/", "https://h/mcp"), ("https://h/mcp", "https://h/"), "https://h/mcp"),
        (("https://h/",), ("https://h/mcp", "https://h/"), "https://h/"),
        # Other spellings of the same URL, and only URLs are canonicalised.
        (("HTTPS://H:443/a/../mcp",), ("https://h/mcp", "https://h/"), "https://h/mcp"),
        (("API://app",), ("api://app",), None),
        (("https://h/mcp/",), ("https://h/mcp",), None),
        # One value given as a string is one value, not a set of characters.
        ("https://h/", ("https://h/", "h"), "https://h/"),
        ("https://h/x", ("h",), None),
    ],
)
async def test_matching_audience_names_the_accepted_audience_the_token_is_for(
    token_audiences: Any, accepted: tuple[str, ...], expected: str | None
) -> None:
    assert matching_audience(token_audiences, accepted) == expected
    assert audience_matches(token_audiences, accepted) is (expected is not None)
