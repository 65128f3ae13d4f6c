"""The authorization server's signing keys, fetched from its JWKS URL and cached.

Modelled on panva/jose ``createRemoteJWKSet``: keys are cached for ``max_age``; a token whose
key is not in the cache refetches at most once per ``cooldown``; concurrent callers share one
fetch; a failed refetch keeps serving the keys already known (stale-if-error). Keys only ever
come from the configured URL: ``jku``, ``x5u``, ``jwk`` and ``x5c`` headers are never read.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt

from ._algorithms import ALGORITHMS
from ._http import HTTPFailure, request_json
from ._metrics import record_jwks_fetch
from ._singleflight import SingleFlight
from ._tracing import SPAN_JWKS, traced_fetch
from .errors import JWKSError

__all__ = ["RemoteJWKSet"]

_MAX_KID_LENGTH = 256

_FAILURE_CODES = {
    "timeout": "jwks_timeout",
    "too_large": "jwks_too_large",
    "redirect": "jwks_redirect",
    "network": "jwks_network",
}


class RemoteJWKSet:
    """A key resolver (``header -> PyJWK``) backed by a remote JWKS document.

    ``client_factory`` is called for every fetch (pass ``ClientPool.get``). ``clock`` is
    monotonic seconds and only exists so tests can move time on.
    """

    def __init__(
        self,
        url: str,
        client_factory: Callable[[], httpx.AsyncClient],
        *,
        timeout: float = 5.0,
        cooldown: float = 30.0,
        max_age: float = 600.0,
        max_bytes: int = 1_048_576,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError("url must be a non-empty string")
        _check_duration("timeout", timeout, allow_zero=False, allow_inf=False)
        _check_duration("cooldown", cooldown, allow_zero=True, allow_inf=True)
        _check_duration("max_age", max_age, allow_zero=False, allow_inf=True)
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError("max_bytes must be a positive integer")
        self._url = url
        self._client_factory = client_factory
        self._timeout = float(timeout)
        self._cooldown = float(cooldown)
        self._max_age = float(max_age)
        self._max_bytes = max_bytes
        self._clock = clock
        self._issued = 0  # sequence number of the last fetch started
        self.clear()

    @property
    def url(self) -> str:
        """The JWKS URL this set fetches from."""
        return self._url

    def clear(self) -> None:
        """Forget the keys and the cooldown (config reload); a fetch in flight is discarded."""
        self._keys: _KeySet | None = None
        self._loaded_at = -math.inf
        self._attempted_at = -math.inf
        self._last_error: JWKSError | None = None
        self._applied = self._issued
        self._flight: SingleFlight[None] = SingleFlight()

    async def load(self) -> None:
        """Fetch the set unless keys are loaded (readiness); raises the fetch's ``JWKSError``,
        or one with code ``jwks_unavailable`` while a failed attempt cools down."""
        if self._keys is not None:
            return
        error = await self._refresh()
        if self._keys is None:
            raise error or JWKSError(
                "the JWKS has not been loaded and the last attempt failed recently",
                code="jwks_unavailable",
            )

    async def get_signing_key(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        """The key that may verify a token with this JOSE header, bound to its ``alg``.

        Raises ``JWKSError`` with code ``jwks_no_matching_key``, ``jwks_invalid_kid``,
        ``jwks_unavailable`` or, when this call waited on a failing fetch and no key was ever
        loaded, the fetch's own code (``jwks_http_status``, ``jwks_invalid``, ``jwks_timeout``,
        ``jwks_too_large``, ``jwks_redirect``, ``jwks_network``).
        """
        kid, alg = _key_request(header)
        error: JWKSError | None = None
        if self._keys is None or self._clock() >= self._loaded_at + self._max_age:
            error = await self._refresh()
        if self._keys is None:
            if error is not None:
                raise error
            raise JWKSError(
                "the JWKS has not been loaded and the last attempt failed recently",
                code="jwks_unavailable",
            ) from self._last_error
        key = self._keys.select(kid, alg)
        if key is None:
            error = await self._refresh()
            key = self._keys.select(kid, alg) if self._keys is not None else None
        if key is None and self._last_error is not None:
            # The key may well exist: the set could not be refreshed to find out.
            if error is not None:
                raise error
            raise JWKSError(
                "the token's key is not among the cached keys and the JWKS cannot be refreshed",
                code="jwks_unavailable",
            ) from self._last_error
        if key is None:
            raise JWKSError(
                "no key in the JWKS matches the token's kid and alg", code="jwks_no_matching_key"
            )
        return key

    async def _refresh(self) -> JWKSError | None:
        """Join the fetch in flight, or start one unless the last attempt is still cooling down.

        Returns the fetch's failure (this caller's own copy), or None.
        """
        try:
            await self._flight.run(None, self._fetch)
        except JWKSError as exc:
            return exc
        return None

    async def _fetch(self) -> None:
        """Fetch once and install the result unless a newer fetch or ``clear()`` superseded it."""
        # With no key at all every token fails, so retry sooner than the kid-miss cooldown.
        cooldown = self._cooldown if self._keys is not None else min(self._cooldown, 2.0)
        if self._clock() < self._attempted_at + cooldown:
            return
        self._issued += 1
        seq = self._issued
        try:
            keys: _KeySet | None = await self._download()
            error = None
        except JWKSError as exc:
            keys, error = None, exc
        if seq > self._applied:
            self._applied = seq
            self._attempted_at = self._clock()
            self._last_error = error
            if keys is not None:
                self._keys, self._loaded_at = keys, self._attempted_at
        if error is not None:
            raise error

    async def _download(self) -> _KeySet:
        """Fetch and parse the JWKS once, in a span; counted by result."""
        return await traced_fetch(
            SPAN_JWKS, self._download_once, record=record_jwks_fetch, url=self._url
        )

    async def _download_once(self) -> _KeySet:
        try:
            result = await request_json(
                self._client_factory(),
                "GET",
                self._url,
                max_bytes=self._max_bytes,
                deadline=self._timeout,
                headers={"Accept": "application/json"},
            )
        except HTTPFailure as exc:
            code = _FAILURE_CODES.get(exc.reason, "jwks_network")
            raise JWKSError(f"fetching the JWKS failed: {exc}", code=code) from exc
        if result.status != 200:
            raise JWKSError(
                f"the JWKS endpoint answered HTTP {result.status}", code="jwks_http_status"
            )
        return _KeySet.parse(result.body)


class _KeySet:
    """The usable verification keys of one JWKS document, selected by ``kid`` and ``alg``."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self._keys = keys
        counts = Counter(jwk["kid"] for jwk in keys if "kid" in jwk)
        # A kid published twice is ambiguous: which key the AS meant is unknowable.
        self._by_kid = {jwk["kid"]: jwk for jwk in keys if counts.get(jwk.get("kid")) == 1}
        self._bound: dict[tuple[str | None, str], jwt.PyJWK] = {}

    @classmethod
    def parse(cls, body: Any) -> _KeySet:
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            raise JWKSError(
                'the JWKS is not a JSON object with a "keys" array', code="jwks_invalid"
            )
        keys = [jwk for jwk in body["keys"] if _usable(jwk)]
        if not keys:
            raise JWKSError("the JWKS holds no usable signing key", code="jwks_invalid")
        return cls(keys)

    def select(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is None:
            jwk = self._keys[0] if len(self._keys) == 1 else None
        else:
            jwk = self._by_kid.get(kid)
        if jwk is None or not _fits(jwk, alg):
            return None
        bound = self._bound.get((kid, alg))
        if bound is None:
            bound = self._bound[kid, alg] = jwt.PyJWK(jwk, algorithm=alg)
        return bound


def _usable(jwk: Any) -> bool:
    """A public signature key of an allowed type that parses; anything else is skipped."""
    if not isinstance(jwk, dict) or "d" in jwk:  # a private key published by mistake
        return False
    if jwk.get("use", "sig") != "sig":
        return False
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return False
    kid = jwk.get("kid", "")
    if not isinstance(kid, str) or len(kid) > _MAX_KID_LENGTH:
        return False
    fitting = [name for name in ALGORITHMS if _fits(jwk, name)]
    if not fitting:
        return False
    try:
        jwt.PyJWK(jwk, algorithm=fitting[0])
    except (jwt.PyJWTError, ValueError, TypeError):
        return False
    return True


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    """One key, one algorithm: a key's own ``alg`` must match, and its type and curve must too."""
    algorithm = ALGORITHMS[alg]
    if jwk.get("kty") != algorithm.key_type or jwk.get("alg", alg) != alg:
        return False
    return not algorithm.curves or jwk.get("crv") in algorithm.curves


def _key_request(header: Mapping[str, Any]) -> tuple[str | None, str]:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise JWKSError("no JWKS key may serve the token's alg", code="jwks_no_matching_key")
    if "kid" not in header:
        return None, alg
    kid = header["kid"]
    if not isinstance(kid, str) or len(kid) > _MAX_KID_LENGTH:
        raise JWKSError(
            f"kid must be a string of at most {_MAX_KID_LENGTH} characters",
            code="jwks_invalid_kid",
        )
    return kid, alg


def _check_duration(name: str, value: float, *, allow_zero: bool, allow_inf: bool) -> None:
    valid = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and (value > 0 or (allow_zero and value == 0))
        and (allow_inf or math.isfinite(value))
    )
    if not valid:
        sign = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {sign} number of seconds, got {value!r}")
