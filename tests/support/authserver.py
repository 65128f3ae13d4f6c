"""Run the local oidc-provider authorization server (tests/authserver) for integration tests.

The server is a real OAuth AS with RFC 8693 token exchange, so tests exercise keycard-serve
against genuine discovery, JWKS, client authentication and JWT access tokens instead of mocks.
"""

from __future__ import annotations

import json
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUTHSERVER_DIR = Path(__file__).resolve().parent.parent / "authserver"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
# RFC 6749 2.3.1 requires form-encoding credentials before HTTP Basic; this pair only works encoded.
SPECIAL_CLIENT = ("mcp:special", "p@ss:w%rd+ /x")
PKJWT_CLIENT_ID = "mcp-server-pkjwt"
STARTUP_TIMEOUT = 20.0


def basic_auth(client_id: str, secret: str) -> httpx.BasicAuth:
    """HTTP Basic credentials form-encoded per RFC 6749 2.3.1 (oidc-provider enforces it)."""
    return httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))


@dataclass
class AuthServer:
    """A running authorization server and the credentials of its configured clients.

    ``clients`` maps name -> (client_id, secret); names equal client ids: ``user-<user>`` per
    user, ``mcp-server`` and ``mcp:special`` (token exchange), ``no-exchange`` (client_credentials
    only). ``mcp-server-pkjwt`` authenticates with private_key_jwt (RS256, ``pkjwt_kid``).
    """

    issuer: str
    clients: dict[str, tuple[str, str]]
    pkjwt_client_id: str
    pkjwt_kid: str
    pkjwt_private_key_pem: bytes

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    def user_token(self, user: str, resource: str, scopes: Sequence[str] = ("mcp:tools",)) -> str:
        """A real access token for ``user`` (sub) with aud=``resource``, via client_credentials."""
        data = {"grant_type": "client_credentials", "resource": resource}
        if scopes:
            data["scope"] = " ".join(scopes)
        response = httpx.post(
            self.token_endpoint, data=data, auth=basic_auth(*self.clients[f"user-{user}"])
        )
        if response.status_code != 200:
            raise RuntimeError(f"user token request failed: {response.status_code} {response.text}")
        body = response.json()
        # oidc-provider silently drops scopes a resource does not allow; surface that here.
        if set(body.get("scope", "").split()) != set(scopes):
            raise RuntimeError(f"requested scopes {list(scopes)}, granted {body.get('scope')!r}")
        return body["access_token"]

    def stats(self) -> dict[str, int]:
        """Request counters since start or the last reset: token_exchange, jwks, metadata."""
        return httpx.get(f"{self.issuer}/__test/stats").raise_for_status().json()

    def reset_stats(self) -> None:
        httpx.post(f"{self.issuer}/__test/reset").raise_for_status()

    def rotate_key(self) -> str:
        """Publish a new signing key and sign new tokens with it (old keys stay published).

        Returns the new kid."""
        return httpx.post(f"{self.issuer}/__test/rotate").raise_for_status().json()["kid"]


def _client(client_id: str, secret: str, grant: str, **extra: str) -> dict[str, object]:
    return {"client_id": client_id, "client_secret": secret, "grant_types": [grant], **extra}


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Drain the server's stdout so it can never block on a full pipe; "" marks EOF."""
    for line in stream:
        lines.put(line)
    lines.put("")


def _wait_for_issuer(lines: queue.Queue[str], stderr_path: Path) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    reason = f"no LISTENING line within {STARTUP_TIMEOUT:.0f} s"
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line.startswith("LISTENING "):
            return line.split()[1]
        if not line:
            reason = "the process exited"
            break
    tail = stderr_path.read_text(errors="replace")[-4000:]
    raise RuntimeError(f"authorization server did not start: {reason}\n--- stderr ---\n{tail}")


@contextmanager
def run_authserver(
    *,
    users: Sequence[str] = ("alice", "bob"),
    exchange_ttl: int = 300,
    user_token_ttl: int = 3600,
    port: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> Iterator[AuthServer]:
    """Start ``node tests/authserver/server.mjs`` on 127.0.0.1 and stop it on exit.

    ``extra`` adds to the server's config (see tests/authserver/README.md, "Other servers'
    shapes"): its ``clients`` are appended, every other key replaces the default.
    """
    if not (AUTHSERVER_DIR / "node_modules").is_dir():
        raise RuntimeError(
            f"{AUTHSERVER_DIR / 'node_modules'} is missing: run `npm ci --prefix tests/authserver`"
        )
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("`node` (Node.js >= 20) is not on PATH; the integration tests need it")

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkjwt_kid = f"pkjwt-{secrets.token_hex(4)}"
    public_jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": pkjwt_kid}
    public_jwk.update(alg="RS256", use="sig")
    clients = {f"user-{user}": (f"user-{user}", secrets.token_urlsafe(24)) for user in users}
    clients["mcp-server"] = ("mcp-server", secrets.token_urlsafe(24))
    clients["no-exchange"] = ("no-exchange", secrets.token_urlsafe(24))
    clients[SPECIAL_CLIENT[0]] = SPECIAL_CLIENT
    config = {
        "port": port,
        "exchange_ttl": exchange_ttl,
        "user_token_ttl": user_token_ttl,
        "clients": [
            *(_client(*clients[f"user-{user}"], "client_credentials", user=user) for user in users),
            _client(*clients["mcp-server"], TOKEN_EXCHANGE_GRANT),
            _client(*SPECIAL_CLIENT, TOKEN_EXCHANGE_GRANT),
            _client(*clients["no-exchange"], "client_credentials"),
            {
                "client_id": PKJWT_CLIENT_ID,
                "jwks": {"keys": [public_jwk]},
                "grant_types": [TOKEN_EXCHANGE_GRANT],
            },
        ],
    }
    if extra:
        config.update({name: value for name, value in extra.items() if name != "clients"})
        config["clients"] += list(extra.get("clients", ()))

    with tempfile.TemporaryDirectory(prefix="authserver-") as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        stderr_path = Path(tmp, "stderr.log")
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                [node, str(AUTHSERVER_DIR / "server.mjs"), str(config_path)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            assert proc.stdout is not None
            lines: queue.Queue[str] = queue.Queue()
            pump = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
            pump.start()
            try:
                yield AuthServer(
                    issuer=_wait_for_issuer(lines, stderr_path),
                    clients=clients,
                    pkjwt_client_id=PKJWT_CLIENT_ID,
                    pkjwt_kid=pkjwt_kid,
                    pkjwt_private_key_pem=key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ),
                )
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                pump.join(timeout=5)
                proc.stdout.close()
