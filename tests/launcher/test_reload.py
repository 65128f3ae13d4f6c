"""Hot reload against a running ``keycard-serve --reload`` with a connected client."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import SSETransport

from tests.support.launcher import ROOT, launch
from tests.support.servers import free_port

A, B = "https://a.example/", "https://b.example/"

TOOLS_MODULE = """\
from fastmcp import Context

VERSION = 1


async def grants_seen(ctx: Context) -> list[str]:
    access = await ctx.get_state("keycardai")
    return sorted(access.get_successful_resources())


def version() -> int:
    return VERSION


async def token_for_a(ctx: Context) -> str:
    access = await ctx.get_state("keycardai")
    return access.access("https://a.example/").access_token


def frozen_objects() -> int:
    import gc

    return gc.get_freeze_count()
"""

CONFIG = """\
version: 1
server:
  name: Reloading
  base_url: {base_url}
zone:
  dev: {{port: {dev_port}}}
tools:
  - function: reload_tools:grants_seen
    grants: [{grant}]
  - function: reload_tools:version
{extra}"""


def with_server_lines(text: str, lines: str) -> str:
    """``text`` with ``lines`` (indented YAML) added to its server section."""
    return text.replace("  name: Reloading\n", "  name: Reloading\n" + lines, 1)


class Server:
    """A running --reload launcher plus helpers to edit its config the way users do."""

    def __init__(self, launched, directory: Path, env: dict[str, str], dev_port: int) -> None:
        self.launched = launched
        self.directory = directory
        self.config = directory / "keycard-serve.yaml"
        self.env = env
        self.dev_port = dev_port

    def text(self, grant: str = A, extra: str = "") -> str:
        return CONFIG.format(
            base_url=self.launched.base_url, dev_port=self.dev_port, grant=grant, extra=extra
        )

    def save(self, text: str) -> None:
        """An editor's atomic save: write a temporary file, then rename it over the config."""
        temporary = self.config.with_name(".keycard-serve.yaml.tmp")
        temporary.write_text(text)
        os.replace(temporary, self.config)

    def health(self) -> dict:
        return httpx.get(self.launched.base_url + "healthz").json()

    def wait_for(self, condition: Callable[[dict], bool], what: str) -> dict:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            health = self.health()
            if condition(health):
                return health
            time.sleep(0.05)
        raise AssertionError(
            f"timed out waiting for {what}: {self.health()}\n{self.launched.log()}"
        )

    def apply(self, text: str) -> dict:
        self.save(text)
        return self.wait_until_serving(text)

    def wait_until_serving(self, text: str) -> dict:
        digest = hashlib.sha256(text.encode()).hexdigest()
        return self.wait_for(lambda h: h["config"]["sha256"] == digest, "the config to apply")

    def wait_for_error(self, *fragments: str) -> str:
        health = self.wait_for(
            lambda h: all(f in (h["last_reload_error"] or "") for f in fragments),
            f"a reload error mentioning {fragments}",
        )
        return health["last_reload_error"]

    def token(self, *scopes: str) -> str:
        """A dev-zone token from ``keycard-serve token`` (every advertised scope by default)."""
        chosen = [arg for scope in scopes for arg in ("--scope", scope)]
        return subprocess.run(
            [sys.executable, "-m", "keycard_serve", "token", str(self.config), *chosen],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()


def start(tmp: Path, *extra_args: str, extra: str = "", server: str = ""):
    """A launcher on the usual config in ``tmp``, with ``extra`` tools and ``server`` lines
    added to its server section."""
    base_url = f"http://127.0.0.1:{free_port()}/"
    dev_port = free_port()
    (tmp / "reload_tools.py").write_text(TOOLS_MODULE)
    config = tmp / "keycard-serve.yaml"
    text = CONFIG.format(base_url=base_url, dev_port=dev_port, grant=A, extra=extra)
    config.write_text(with_server_lines(text, server))
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp / "state")}
    return (
        launch([str(config), *extra_args], base_url=base_url, env=env, log_path=tmp / "log.txt"),
        env,
        dev_port,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reload")
    context, env, dev_port = start(tmp, "--reload")
    with context as launched:
        yield Server(launched, tmp, env, dev_port)


@pytest.fixture
def reloading(server):
    """Each test starts from the initial config, and leaves a serving server behind."""
    server.apply(server.text())
    yield server


async def test_a_grant_change_reaches_the_next_call_on_the_same_session(reloading):
    async with Client(reloading.launched.mcp_url, auth=reloading.token(), mode="legacy") as client:
        before = await client.call_tool("grants_seen", {})
        reloading.apply(reloading.text(grant=B))
        after = await client.call_tool("grants_seen", {})
    assert (before.data, after.data) == ([A], [B])


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("version: 1\nserver: [unclosed\n", ("keycard-serve.yaml:", "invalid YAML")),
        (None, ("keycard-serve.yaml:", "zone.requird_scopes")),
        (None, ("reload_tools", "nope")),
        (None, ("MISSING_VARIABLE",)),
    ],
    ids=["yaml", "schema", "import", "variable"],
)
async def test_a_bad_edit_keeps_the_last_good_config_serving(reloading, broken, expected):
    token = reloading.token()
    good = reloading.text(grant=B)
    reloading.apply(good)
    if broken is None:
        broken = {
            "zone.requird_scopes": good.replace("zone:\n", "zone:\n  requird_scopes: [x]\n"),
            "nope": good.replace("reload_tools:version", "reload_tools:nope"),
            "MISSING_VARIABLE": good.replace("name: Reloading", "name: ${MISSING_VARIABLE}"),
        }[expected[-1]]
    reloading.save(broken)
    error = reloading.wait_for_error(*expected)
    assert "Traceback" not in error
    async with Client(reloading.launched.mcp_url, auth=token) as client:
        still = await client.call_tool("grants_seen", {})
    assert still.data == [B]
    reloading.apply(good.replace(B, A))  # fixing the file applies it at once
    assert reloading.health()["last_reload_error"] is None


async def test_a_half_written_file_is_picked_up_once_complete(reloading):
    text = reloading.text(grant=B)
    with reloading.config.open("w") as file:  # a non-atomic writer, caught mid-way
        file.write(text[: len(text) // 2])
        file.flush()
        time.sleep(0.8)
        file.write(text[len(text) // 2 :])
    reloading.wait_until_serving(text)
    async with Client(reloading.launched.mcp_url, auth=reloading.token()) as client:
        assert (await client.call_tool("grants_seen", {})).data == [B]


async def test_twenty_quick_saves_end_on_the_last(reloading):
    resources = [f"https://r{i}.example/" for i in range(20)]
    for resource in resources:
        reloading.save(reloading.text(grant=resource))
        time.sleep(0.01)
    reloading.wait_until_serving(reloading.text(grant=resources[-1]))
    async with Client(reloading.launched.mcp_url, auth=reloading.token()) as client:
        assert (await client.call_tool("grants_seen", {})).data == [resources[-1]]


async def test_an_edited_tool_module_is_reimported(reloading):
    module = reloading.directory / "reload_tools.py"
    async with Client(reloading.launched.mcp_url, auth=reloading.token()) as client:
        assert (await client.call_tool("version", {})).data == 1
        module.write_text(TOOLS_MODULE.replace("VERSION = 1", "VERSION = 2"))
        try:
            deadline = time.monotonic() + 15
            seen = 1
            while seen == 1 and time.monotonic() < deadline:
                seen = (await client.call_tool("version", {})).data
                await asyncio.sleep(0.05)
        finally:
            module.write_text(TOOLS_MODULE)
    assert seen == 2
    assert "tools replaced: grants_seen version" in reloading.launched.log()


async def test_open_sessions_hear_that_the_tool_list_changed(reloading):
    heard = []

    async def on_message(message) -> None:
        if getattr(message, "root", message).__class__.__name__ == "ToolListChangedNotification":
            heard.append(message)

    async with (
        Client(
            reloading.launched.mcp_url,
            auth=reloading.token(),
            mode="legacy",
            message_handler=on_message,
        ) as client,
        Client(reloading.launched.mcp_url, auth=reloading.token()) as modern,
    ):
        for _ in range(3):
            await modern.call_tool("grants_seen", {})  # 2026-07-28: no session to tell
        await client.call_tool("grants_seen", {})
        extra = "  - function: reload_tools:version\n    name: version_again\n"
        reloading.apply(reloading.text(extra=extra))
        tools = {tool.name for tool in await client.list_tools()}
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            await client.ping()
    assert "version_again" in tools
    assert heard
    # At most the legacy session: the modern client's three requests added none.
    told = re.findall(r"told (\d+) open session", reloading.launched.log())
    assert int(told[-1]) <= 1


async def test_a_base_url_edit_is_served_after_a_restart_and_healthz_says_so(reloading):
    moved = reloading.text().replace(reloading.launched.base_url, "http://127.0.0.1:1/")
    health = reloading.apply(moved)
    assert health["restart_pending"] == ["server.base_url"]
    async with Client(reloading.launched.mcp_url, auth=reloading.token()) as client:
        assert (await client.call_tool("grants_seen", {})).data == [A]
    assert reloading.apply(reloading.text())["restart_pending"] == []


async def test_a_port_change_asks_for_a_restart_and_applies_the_rest(reloading):
    text = reloading.text(grant=B).replace("zone:", "  port: 1\nzone:", 1)
    reloading.apply(text)
    assert "server.port changed: restart keycard-serve to apply it" in reloading.launched.log()
    async with Client(reloading.launched.mcp_url, auth=reloading.token()) as client:
        assert (await client.call_tool("grants_seen", {})).data == [B]


async def test_switching_away_from_the_dev_zone_asks_for_a_restart(reloading):
    token = reloading.token()
    text = reloading.text(grant=B).replace(
        f"dev: {{port: {reloading.dev_port}}}", "url: https://zone.example"
    )
    text = text.replace(
        "\ntools:", "\ncredentials: {client_id: c, client_secret_file: s.txt}\ntools:", 1
    )
    secret = reloading.directory / "s.txt"
    secret.write_text("not-used")
    secret.chmod(0o600)
    health = reloading.apply(text)
    assert health["last_reload_error"] is None
    assert "zone.dev changed: restart keycard-serve to apply it" in reloading.launched.log()
    async with Client(reloading.launched.mcp_url, auth=token) as client:
        assert (await client.call_tool("grants_seen", {})).data == [B]  # still the dev zone


async def test_required_scopes_change_on_the_dev_zone_is_enforced(reloading):
    token = reloading.token()  # minted while no scope is required
    text = reloading.text().replace("zone:\n", "zone:\n  required_scopes: [mcp:tools]\n")
    reloading.apply(text)
    response = httpx.post(
        reloading.launched.mcp_url,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert response.status_code == 403
    assert 'scope="mcp:tools"' in response.headers["www-authenticate"]
    async with Client(reloading.launched.mcp_url, auth=reloading.token()) as client:
        assert (await client.call_tool("grants_seen", {})).data == [A]


async def test_a_tool_scope_change_is_published_and_keeps_the_cached_tokens(reloading):
    prm = reloading.launched.base_url + ".well-known/oauth-protected-resource/mcp"
    with_token_tool = f"  - function: reload_tools:token_for_a\n    grants: [{A}]\n"
    reloading.apply(reloading.text(extra=with_token_tool))
    assert "scopes_supported" not in httpx.get(prm).json()
    token = reloading.token("tokens:read")
    async with Client(reloading.launched.mcp_url, auth=token) as client:
        before = (await client.call_tool("token_for_a", {})).data
    scoped = with_token_tool + "    scopes: [tokens:read]\n"
    reloading.apply(reloading.text(extra=scoped))
    assert httpx.get(prm).json()["scopes_supported"] == ["tokens:read"]
    async with Client(reloading.launched.mcp_url, auth=token) as client:
        after = (await client.call_tool("token_for_a", {})).data
    # Same zone, same provider: the delegated token cached for this caller is still used.
    assert after == before


def test_a_server_name_change_is_published(reloading):
    """Finding 6: reported as reloaded, so applied: the PRM's resource_name follows it."""
    prm = reloading.launched.base_url + ".well-known/oauth-protected-resource/mcp"
    assert httpx.get(prm).json()["resource_name"] == "Reloading"
    renamed = reloading.text().replace("name: Reloading", "name: Renamed")
    health = reloading.apply(renamed)
    assert health["last_reload_error"] is None
    assert httpx.get(prm).json()["resource_name"] == "Renamed"


def test_a_tool_scope_added_by_a_reload_is_enforced_over_http(reloading):
    """With no scoped tool the HTTP guard lets requests through unread; a reload that adds
    one turns it on for the next request."""
    with_token_tool = f"  - function: reload_tools:token_for_a\n    grants: [{A}]\n"
    reloading.apply(reloading.text(extra=with_token_tool))
    token = reloading.token()  # every advertised scope: none yet
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "token_for_a", "arguments": {}},
    }
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    before = httpx.post(reloading.launched.mcp_url, headers=headers, json=call)
    assert before.status_code != 403  # the transport's own answer (no session here)
    reloading.apply(reloading.text(extra=with_token_tool + "    scopes: [tokens:read]\n"))
    after = httpx.post(reloading.launched.mcp_url, headers=headers, json=call)
    assert after.status_code == 403
    assert 'scope="tokens:read"' in after.headers["www-authenticate"]


async def test_a_failing_module_is_reported_briefly_in_healthz(reloading):
    module = reloading.directory / "reload_tools.py"
    module.write_text(TOOLS_MODULE + "\nraise RuntimeError('SENTINEL-detail')\n")
    try:
        error = reloading.wait_for_error("reload_tools", "RuntimeError", "reload_tools.py:")
    finally:
        module.write_text(TOOLS_MODULE)
    assert "SENTINEL" not in error  # the details go to the log, not the public endpoint
    assert "SENTINEL-detail" in reloading.launched.log()
    reloading.wait_for(lambda h: h["last_reload_error"] is None, "the fixed module")


async def test_sighup_reloads_without_watching(tmp_path):
    context, env, dev_port = start(tmp_path)
    with context as launched:
        server = Server(launched, tmp_path, env, dev_port)
        text = server.text(grant=B)
        server.config.write_text(text)
        time.sleep(0.5)
        assert server.health()["config"]["reloads"] == 0  # no watching without --reload
        launched.process.send_signal(signal.SIGHUP)
        server.wait_until_serving(text)
        async with Client(launched.mcp_url, auth=server.token()) as client:
            assert (await client.call_tool("grants_seen", {})).data == [B]


async def test_the_served_heap_is_frozen(tmp_path):
    """Start-up's objects are out of the collector's way while serving (gc.freeze), and stay
    so across a reload (the heap is refreshed every 5 minutes, not per reload)."""
    extra = "  - function: reload_tools:frozen_objects\n"
    context, env, dev_port = start(tmp_path, extra=extra)
    with context as launched:
        server = Server(launched, tmp_path, env, dev_port)
        async with Client(launched.mcp_url, auth=server.token()) as client:
            # FastMCP, the config and the tools: tens of thousands of objects
            assert (await client.call_tool("frozen_objects", {})).data > 10_000
            text = server.text(grant=B, extra=extra)
            server.config.write_text(text)
            launched.process.send_signal(signal.SIGHUP)
            server.wait_until_serving(text)
            assert (await client.call_tool("frozen_objects", {})).data > 10_000
            assert (await client.call_tool("grants_seen", {})).data == [B]


async def test_sse_sessions_hear_of_tool_list_changes_even_with_stateless_set(tmp_path):
    """SSE has no stateless mode: ``stateless: true`` must not stop its sessions being told."""
    sse = "  transport: sse\n  stateless: true\n"
    context, env, dev_port = start(tmp_path, server=sse)
    with context as launched:
        server = Server(launched, tmp_path, env, dev_port)
        heard = asyncio.Event()

        async def on_message(message) -> None:
            if type(getattr(message, "root", message)).__name__ == "ToolListChangedNotification":
                heard.set()

        transport = SSETransport(launched.mcp_url, auth=server.token())
        async with Client(transport, message_handler=on_message) as client:
            await client.call_tool("grants_seen", {})
            text = with_server_lines(server.text(), sse)
            text = text.replace("  - function: reload_tools:version\n", "")
            server.config.write_text(text)
            launched.process.send_signal(signal.SIGHUP)
            server.wait_until_serving(text)
            await asyncio.wait_for(heard.wait(), timeout=10)
            assert {tool.name for tool in await client.list_tools()} == {"grants_seen"}


def test_healthz_needs_no_token_and_hides_the_directory(reloading):
    reloading.save("version: 1\nserver: [unclosed\n")
    error = reloading.wait_for_error("invalid YAML")
    health = reloading.health()
    assert health["status"] == "ok"
    assert len(health["config"]["sha256"]) == 64
    assert error.startswith("invalid configuration keycard-serve.yaml")
    assert str(reloading.directory) not in str(health)


ZONE_CONFIG = """\
version: 1
server:
  name: Zone swap
  base_url: {base_url}
zone:
  url: {issuer}
credentials:
  client_id: "{client_id}"
  client_secret_file: {secret_file}
tools:
  - function: examples.delegation:whoami
    grants: [https://mail.example/]
"""


async def test_new_credentials_rebuild_the_provider(authserver, tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}/"
    secrets = {}
    for name in ("mcp-server", "mcp:special"):
        secret = authserver.clients[name][1]
        secrets[name] = tmp_path / f"{name.replace(':', '-')}.secret"
        secrets[name].write_text(secret)
        secrets[name].chmod(0o600)

    def text(name: str) -> str:
        return ZONE_CONFIG.format(
            base_url=base_url, issuer=authserver.issuer, client_id=name, secret_file=secrets[name]
        )

    config = tmp_path / "zone.yaml"
    config.write_text(text("mcp-server"))
    with launch(
        [str(config), "--reload"], base_url=base_url, log_path=tmp_path / "log.txt"
    ) as launched:
        server = Server(launched, tmp_path, {}, 0)
        server.config = config
        token = authserver.user_token("alice", launched.mcp_url)
        async with Client(launched.mcp_url, auth=token) as client:
            before = (await client.call_tool("whoami", {})).data
            server.apply(text("mcp:special"))
            after = (await client.call_tool("whoami", {})).data
    actor = [result["tokens"]["https://mail.example/"]["act"]["sub"] for result in (before, after)]
    assert actor == ["mcp-server", "mcp:special"]
    assert "zone or credentials changed" in launched.log()
    assert authserver.clients["mcp:special"][1] not in launched.log()


APP_MODULE = """\
from fastmcp import Context, FastMCP

mcp = FastMCP("adopted")


@mcp.tool()
def version(ctx: Context) -> int:
    return 1
"""

APP_CONFIG = """\
version: 1
app: reload_app:mcp
server:
  name: Adopted
  base_url: {base_url}
zone:
  dev: {{port: {dev_port}}}
tools:
  - name: version
    grants: [https://a.example/]
"""


async def test_a_changed_app_module_restarts_the_process(tmp_path):
    base_url = f"http://127.0.0.1:{free_port()}/"
    (tmp_path / "reload_app.py").write_text(APP_MODULE)
    config = tmp_path / "app.yaml"
    config.write_text(APP_CONFIG.format(base_url=base_url, dev_port=free_port()))
    env = {"KEYCARD_SERVE_STATE_DIR": str(tmp_path / "state")}
    with launch(
        [str(config), "--reload"], base_url=base_url, env=env, log_path=tmp_path / "log"
    ) as launched:
        server = Server(launched, tmp_path, env, 0)
        server.config = config
        token = server.token()
        async with Client(launched.mcp_url, auth=token) as client:
            assert (await client.call_tool("version", {})).data == 1
        (tmp_path / "reload_app.py").write_text(APP_MODULE.replace("return 1", "return 2"))
        deadline = time.monotonic() + 30
        seen = 1
        while seen != 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            try:
                async with Client(launched.mcp_url, auth=token) as client:
                    seen = (await client.call_tool("version", {})).data
            except Exception:  # the process is restarting
                continue
        pid_alive = launched.process.poll() is None
    assert seen == 2
    assert pid_alive  # the same process id, re-executed, not a crash
    assert "a clean re-import is impossible, restarting the process" in launched.log()


async def test_a_deleted_config_keeps_serving_until_it_reappears(reloading):
    token = reloading.token()
    reloading.config.unlink()
    error = reloading.wait_for_error("keycard-serve.yaml")
    assert "Traceback" not in error
    async with Client(reloading.launched.mcp_url, auth=token) as client:
        assert (await client.call_tool("grants_seen", {})).data == [A]
    reloading.apply(reloading.text(grant=B))
    assert reloading.health()["last_reload_error"] is None
