"""A ``*_file`` secret rotated in its own Kubernetes Secret volume reaches the next call.

The config sits in one ConfigMap volume, the client secret or private key in another Secret
volume; the secret is rotated three times (to a wrong one, back, wrong again) and each time
the real zone (tests/authserver) answers the next delegated call with the credential now in
the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastmcp import Client

from tests.launcher.test_watch import Kubelet, Watched
from tests.support.launcher import launch

MAIL = "https://mail.example/"

CONFIG = """\
version: 1
server:
  name: Rotating
  base_url: {base_url}
zone:
  url: {issuer}
credentials:
{credentials}
tools:
  - function: examples.delegation:whoami
    grants: [{mail}]
"""


def client_secret(authserver, secret_file: Path) -> tuple[str, str, str, bytes, bytes]:
    client_id, secret = authserver.clients["mcp-server"]
    credentials = f'  client_id: "{client_id}"\n  client_secret_file: {secret_file}'
    return client_id, credentials, secret_file.name, secret.encode(), b"not-the-secret"


def private_key(authserver, key_file: Path) -> tuple[str, str, str, bytes, bytes]:
    credentials = (
        f"  type: private_key_jwt\n  client_id: {authserver.pkjwt_client_id}\n"
        f"  key_id: {authserver.pkjwt_kid}\n  private_key_file: {key_file}"
    )
    unregistered = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        authserver.pkjwt_client_id,
        credentials,
        key_file.name,
        authserver.pkjwt_private_key_pem,
        unregistered,
    )


@pytest.mark.parametrize(
    "kind", [client_secret, private_key], ids=["client_secret_file", "private_key_file"]
)
async def test_a_rotated_secret_volume_is_used_by_the_next_call(authserver, tmp_path, kind):
    secrets = Kubelet(tmp_path / "secrets")
    client_id, credentials, name, good, wrong = kind(authserver, secrets.directory / "credential")
    secrets.publish({name: good}, mode=0o600)
    server = Watched(tmp_path / "config" / "keycard-serve.yaml")
    text = CONFIG.format(
        base_url=server.base_url, issuer=authserver.issuer, credentials=credentials, mail=MAIL
    )
    Kubelet(server.config.parent).publish({server.config.name: text})

    async def actor() -> str | None:
        token = authserver.user_token("alice", server.base_url + "mcp")
        async with Client(server.base_url + "mcp", auth=token) as client:
            result = (await client.call_tool("whoami", {})).data
        mail = result["tokens"].get(MAIL)
        return mail["act"]["sub"] if mail else None

    with launch(
        [str(server.config), "--reload"], base_url=server.base_url, log_path=tmp_path / "log"
    ) as launched:
        server.launched = launched
        assert await actor() == client_id
        for rotation, secret in enumerate([wrong, good, wrong], start=1):
            secrets.publish({name: secret}, mode=0o600)
            server.wait_for(
                lambda n=rotation: server.healthz()["config"]["reloads"] == n,
                f"rotation {rotation}",
            )
            assert await actor() == (client_id if secret == good else None)
        log = server.log()
    assert "zone or credentials changed" in log
    assert not [line for line in good.decode().splitlines() if "-----" not in line and line in log]
