"""Past one process, with the real parts: three ``keycard-serve run`` replicas behind a real
nginx (round-robin), a real Redis as the shared token cache, and the real test authorization
server as the zone; then ``--workers 3`` in one launcher, stopped and reloaded by signals.

Counts come from the authorization server's own ``/__test/stats``, contents of the store from
a plain Redis client, what reached which process from each launcher's log.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastmcp import Client

from keycard_serve import ExchangeProfile
from keycard_serve._exchange_cache import cache_key
from keycard_serve._sealing import entry_name
from keycard_serve._urls import resolve_zone_url
from keycard_serve.provider import _delegation_context
from tests.support.authserver import AuthServer
from tests.support.launcher import Launched, launch
from tests.support.polling import poll
from tests.support.redis_server import RedisServer
from tests.support.reverse_proxy import reverse_proxy
from tests.support.servers import free_port

WEATHER, MAIL = "https://api.weather.example/", "https://mail.example/"
NAMESPACE = "replicas-test"
CONFIG = """\
version: 1
server:
  name: Replicas
  base_url: {base_url}
  stateless: true
zone:
  url: {issuer}
credentials:
  client_id: ${{TEST_CLIENT_ID}}
  client_secret: ${{TEST_CLIENT_SECRET}}
cache:
  url: {cache_url}
  encryption_keys:
    - ${{KS_CACHE_KEY}}
  namespace: {namespace}
tools:
  - function: examples.delegation:whoami
    grants:
      - {weather}
      - resource: {mail}
        scopes: [mail.read]
"""


def write_config(path: Path, base_url: str, issuer: str, cache_url: str) -> None:
    path.write_text(
        CONFIG.format(
            base_url=base_url,
            issuer=issuer,
            cache_url=cache_url,
            namespace=NAMESPACE,
            weather=WEATHER,
            mail=MAIL,
        )
    )


def environment(authserver: AuthServer) -> dict[str, str]:
    client_id, secret = authserver.clients["mcp-server"]
    return {
        "TEST_CLIENT_ID": client_id,
        "TEST_CLIENT_SECRET": secret,
        "KS_CACHE_KEY": base64.b64encode(os.urandom(32)).decode(),
    }


async def whoami(mcp_url: str, token: str) -> dict:
    async with Client(mcp_url, auth=token) as client:
        return (await client.call_tool("whoami", {})).data


def subjects(result: dict) -> dict[str, str]:
    assert result["status"] == "success", result
    return {resource: claims["sub"] for resource, claims in result["tokens"].items()}


class Replicas:
    def __init__(self, proxy_url: str, replicas: list[Launched], store: RedisServer) -> None:
        self.mcp_url = proxy_url + "/mcp"
        self.replicas = replicas
        self.store = store

    def entries(self) -> dict[bytes, bytes]:
        with self.store.client() as raw:
            return {name: raw.get(name) for name in raw.keys("*")}


@pytest.fixture(scope="module")
def replicas(
    authserver: AuthServer, store: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    directory = tmp_path_factory.mktemp("replicas")
    ports = [free_port() for _ in range(3)]
    env = environment(authserver)
    with (
        reverse_proxy([f"http://127.0.0.1:{port}" for port in ports]) as proxy_url,
        contextlib.ExitStack() as stack,
    ):
        config = directory / "replicas.yaml"
        # One file for all: base_url is the proxy's, what clients use and tokens name.
        write_config(config, proxy_url + "/", authserver.issuer, store.url)
        launched = [
            stack.enter_context(
                launch(
                    ["run", str(config), "--host", "127.0.0.1", "--port", str(port)],
                    base_url=f"http://127.0.0.1:{port}/",
                    env=env,
                    log_path=directory / f"replica-{index}.log",
                    ready_path="readyz",
                )
            )
            for index, port in enumerate(ports)
        ]
        yield Replicas(proxy_url, launched, store)


async def test_one_users_calls_make_one_exchange_per_resource_across_three_replicas(
    authserver: AuthServer, replicas: Replicas
) -> None:
    token = authserver.user_token("alice", replicas.mcp_url)
    before = [replica.log().count('"POST /mcp') for replica in replicas.replicas]
    authserver.reset_stats()
    results = [await whoami(replicas.mcp_url, token) for _ in range(6)]
    assert authserver.stats()["token_exchange"] == 2  # weather and mail, once each in total
    assert all(subjects(result) == {WEATHER: "alice", MAIL: "alice"} for result in results)
    after = [replica.log().count('"POST /mcp') for replica in replicas.replicas]
    assert all(b > a for a, b in zip(before, after, strict=True)), (before, after)


async def test_the_store_holds_no_jwt_user_or_resource_in_clear(
    authserver: AuthServer, replicas: Replicas
) -> None:
    await whoami(replicas.mcp_url, authserver.user_token("alice", replicas.mcp_url))
    entries = replicas.entries()
    assert len(entries) >= 2
    for name, value in entries.items():
        assert re.fullmatch(rb"keycard-serve:replicas-test:[0-9a-f]{64}", name)
        for secret in (b"eyJ", b"alice", b"weather", b"mail", b"mcp-server"):
            assert secret not in name and secret not in value


async def test_an_entry_swapped_to_another_user_is_refused_end_to_end(
    authserver: AuthServer, replicas: Replicas
) -> None:
    """Bob's entries overwritten with Alice's sealed ones: another replica must not hand
    Alice's delegated tokens to Bob; it exchanges Bob's own."""
    first, second = replicas.replicas[0], replicas.replicas[1]
    alice = authserver.user_token("alice", replicas.mcp_url)
    bob = authserver.user_token("bob", replicas.mcp_url)
    await whoami(first.base_url + "mcp", alice)
    await whoami(first.base_url + "mcp", bob)  # writes Bob's entries through
    client_id = authserver.clients["mcp-server"][0]
    # Entry names as every replica computes them (namespace, zone and exchange shape, key).
    context = _delegation_context(resolve_zone_url(None, authserver.issuer), ExchangeProfile())

    def name_of(caller: str, resource: str, scopes: tuple[str, ...]) -> str:
        return entry_name(NAMESPACE, (context, *cache_key(caller, resource, scopes, client_id)))

    with replicas.store.client() as raw:
        for resource, scopes in ((WEATHER, ()), (MAIL, ("mail.read",))):
            alice_entry = raw.get(name_of(alice, resource, scopes))
            bob_name = name_of(bob, resource, scopes)
            assert alice_entry is not None and raw.exists(bob_name)
            raw.set(bob_name, alice_entry, px=60_000)
    authserver.reset_stats()
    result = await whoami(second.base_url + "mcp", bob)
    assert subjects(result) == {WEATHER: "bob", MAIL: "bob"}
    assert authserver.stats()["token_exchange"] == 2
    assert "shared token cache entry did not open" in second.log()


async def test_the_store_killed_mid_run_loses_no_call(
    authserver: AuthServer, replicas: Replicas
) -> None:
    users = ["alice", "bob"] * 4
    tokens = [authserver.user_token(user, replicas.mcp_url) for user in users]
    results = []
    try:
        for index, (user, token) in enumerate(zip(users, tokens, strict=True)):
            if index == 3:
                replicas.store.kill()
            results.append((user, await whoami(replicas.mcp_url, token)))
    finally:
        replicas.store.start()
    for user, result in results:
        assert subjects(result) == {WEATHER: user, MAIL: user}
    logs = "".join(replica.log() for replica in replicas.replicas)
    assert "shared token cache at 127.0.0.1:" in logs and "unavailable" in logs
    assert "Traceback" not in logs


# --- workers ----------------------------------------------------------------------------------


WORKER_LINE = re.compile(r"\[worker (\d) pid (\d+)\] keycard_serve\.reload: (.*)")


def reload_lines(launched: Launched, outcome: str) -> dict[str, str]:
    """Worker number -> pid of the workers whose log says ``outcome`` after a reload."""
    return {
        match.group(1): match.group(2)
        for match in WORKER_LINE.finditer(launched.log())
        if match.group(3).startswith(outcome)
    }


async def test_three_workers_serve_reload_on_sighup_and_stop_cleanly(
    authserver: AuthServer, store: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    config = tmp_path / "workers.yaml"
    write_config(config, base_url, authserver.issuer, store.url)
    with launch(
        ["run", str(config), "--workers", "3"],
        base_url=base_url,
        env=environment(authserver),
        log_path=tmp_path / "workers.log",
        ready_path="readyz",
    ) as launched:
        poll(lambda: "3 workers serving (pids " in launched.log(), "every worker to start")
        assert "  workers        3 processes sharing the socket" in launched.log()
        token = authserver.user_token("alice", launched.mcp_url)
        authserver.reset_stats()
        for _ in range(6):
            assert subjects(await whoami(launched.mcp_url, token))[MAIL] == "alice"
        assert authserver.stats()["token_exchange"] == 2

        # A grant change, then SIGHUP to the supervisor: every worker reloads the file.
        config.write_text(config.read_text().replace(f"      - {WEATHER}\n", ""))
        launched.process.send_signal(signal.SIGHUP)
        poll(lambda: len(reload_lines(launched, "reloaded")) == 3, "three workers reloading")
        for _ in range(6):
            assert set(subjects(await whoami(launched.mcp_url, token))) == {MAIL}

        # A broken file: each worker refuses it and keeps serving the last good config.
        good = httpx.get(base_url + "healthz").json()["config"]["sha256"]
        good_text = config.read_text()
        config.write_text("version: 1\nserver: [unclosed\n")
        launched.process.send_signal(signal.SIGHUP)
        poll(lambda: len(reload_lines(launched, "config not reloaded")) == 3, "three refusals")
        health = httpx.get(base_url + "healthz").json()
        assert health["config"]["sha256"] == good and health["last_reload_error"]
        assert set(subjects(await whoami(launched.mcp_url, token))) == {MAIL}
        workers = reload_lines(launched, "reloaded")

        # A worker that dies is replaced. Its replacement loads the file as it is now: while
        # the file is broken it cannot start and the other two serve; once fixed, it starts.
        killed = workers.pop("2")
        os.kill(int(killed), signal.SIGKILL)
        poll(lambda: f"worker 2 (pid {killed}) exited" in launched.log(), "the replacement")
        poll(lambda: "could not start" in launched.log(), "the replacement to fail")
        assert set(subjects(await whoami(launched.mcp_url, token))) == {MAIL}
        config.write_text(good_text)
        poll(lambda: re.search(r"worker 2 \(pid \d+\) serving", launched.log()), "worker 2")
        assert set(subjects(await whoami(launched.mcp_url, token))) == {MAIL}

        launched.process.send_signal(signal.SIGTERM)  # what Docker and Kubernetes send
        assert launched.process.wait(timeout=30) == 128 + signal.SIGTERM
    log = launched.log()
    assert log.count("Finished server process") == 3  # two first workers and the replacement
    for pid in workers.values():
        assert f"Finished server process [{pid}]" in log
    assert "Traceback" not in log


EARLY_HANGUP = """\
import multiprocessing
import os
import signal
from pathlib import Path


def _first_worker() -> bool:
    if multiprocessing.parent_process() is None:  # the supervisor checking the file
        return False
    try:
        os.close(os.open(Path(__file__).with_name("hangup-sent"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


if _first_worker():  # edit the file, then signal this worker while it is still starting
    config = Path(__file__).with_name("workers.yaml")
    config.write_text(config.read_text().replace("name: Replicas", "name: Edited"))
    os.kill(os.getpid(), signal.SIGHUP)


def marker() -> str:
    return "ok"
"""


async def test_a_sighup_reaching_a_worker_while_it_starts_is_applied(
    authserver: AuthServer, store: RedisServer, tmp_path: Path
) -> None:
    base_url = f"http://127.0.0.1:{free_port()}/"
    config = tmp_path / "workers.yaml"
    write_config(config, base_url, authserver.issuer, store.url)
    config.write_text(config.read_text() + "  - function: early_hangup:marker\n")
    (tmp_path / "early_hangup.py").write_text(EARLY_HANGUP)
    with launch(
        ["run", str(config), "--workers", "2"],
        base_url=base_url,
        env=environment(authserver),
        log_path=tmp_path / "workers.log",
        ready_path="readyz",
    ) as launched:
        poll(lambda: "2 workers serving (pids " in launched.log(), "both workers to start")
        # Each worker leads its own process group: a terminal's Ctrl-C (sent to the
        # foreground group) reaches only the supervisor, which stops the workers itself.
        pids = re.search(r"2 workers serving \(pids (\d+), (\d+)\)", launched.log())
        assert pids is not None
        for pid in map(int, pids.groups()):
            assert os.getpgid(pid) == pid != os.getpgid(launched.process.pid)
        # The signalled worker had loaded the old file: it reloads once its handler is in
        # ("reloaded" is logged only when the file changed).
        poll(lambda: reload_lines(launched, "reloaded"), "the signalled worker to reload")
        # The other may have read the file before the edit; one SIGHUP to all converges them.
        launched.process.send_signal(signal.SIGHUP)
        edited = hashlib.sha256(config.read_bytes()).hexdigest()

        def served() -> set[str]:
            return {httpx.get(base_url + "healthz").json()["config"]["sha256"] for _ in range(8)}

        poll(lambda: served() == {edited}, "every worker to serve the edited file")
        launched.process.send_signal(signal.SIGTERM)
        assert launched.process.wait(timeout=30) == 128 + signal.SIGTERM


def test_workers_and_reload_or_a_dev_zone_are_refused_clearly(tmp_path: Path) -> None:
    config = tmp_path / "dev.yaml"
    config.write_text(
        "version: 1\nserver:\n  name: Dev\n  base_url: http://127.0.0.1:8000/\n"
        "zone:\n  dev: true\ntools:\n  - function: examples.weather:forecast\n"
    )
    run = [sys.executable, "-m", "keycard_serve", "run", str(config)]
    reloading = subprocess.run([*run, "--workers", "2", "--reload"], capture_output=True, text=True)
    assert reloading.returncode == 2
    assert "--reload watches files from one process" in reloading.stderr + reloading.stdout
    dev = subprocess.run([*run, "--workers", "2"], capture_output=True, text=True)
    assert dev.returncode == 2
    assert "development zone lives inside one process" in dev.stderr + dev.stdout
