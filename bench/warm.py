"""Warm and cold path of a tool call: plain FastMCP against every way of adding auth.

One invocation, one machine, one light load driver (raw HTTP/1.1 keep-alive JSON-RPC), the same
tool bodies served by five server processes: plain FastMCP 4 without auth; FastMCP with its own
``JWTVerifier``; keycard-serve as a library; keycard-serve's launcher (``keycard-serve run``);
keycardai-mcp-fastmcp 0.9.0 on fastmcp 2.12 (its own venv). A stand-in zone on loopback
(bench/_zone.py) serves metadata, the JWKS and token exchange with an added delay.

    python bench/warm.py [--quick] [--rounds 6] [--window 1.5] [--stateless] [--at REV]

Scenario A: tool ``one`` granted 1 resource, zone +0 ms. Scenario B: tool ``three`` granted 3
resources, zone +20 ms per token request. 16 callers, each its own keep-alive connection, alice
and bob alternating per call; rounds rotate the order of the servers. Printed per server:
calls/s, p50/p99 latency, server CPU ms per call (utime+stime from /proc before and after the
measured window), token requests per call (counted by the zone), ratios against plain FastMCP
(median and range of the per-round ratios: on a shared machine, trust the CPU ratio first).
Then the cold path: the first contact with a just-started server against a later contact with a
never-seen token, and a never-seen token's 3-resource call against one direct zone round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import jwt
from _harness import (
    ROOT,
    NotRun,
    cpu_seconds,
    ensure_original_venv,
    free_port,
    resolved_versions,
    stop,
)
from _load import PROTOCOL_VERSION, Connection, call_tool, initialize
from _warm_server import tool_module
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

RESOURCES = ["https://api1.example/", "https://api2.example/", "https://api3.example/"]
TOOLS = {"one": RESOURCES[:1], "three": RESOURCES}
USERS = ("alice", "bob")
KID = "bench-1"
CLIENT = ("bench-server", "bench-secret")
COLD_DELAY = 0.020


@dataclass(frozen=True)
class Scenario:
    name: str
    tool: str
    delay: float

    @property
    def title(self) -> str:
        count = len(TOOLS[self.tool])
        return (
            f"scenario {self.name}: tool `{self.tool}` granted {count} resource"
            f"{'s' if count > 1 else ''}, zone +{self.delay * 1000:.0f} ms per token request"
        )


SCENARIOS = (Scenario("A", "one", 0.0), Scenario("B", "three", 0.020))


def answer(tool: str) -> str:
    return " ".join(["success", *sorted(TOOLS[tool])])


class Zone:
    """The stand-in zone process; mints the callers' tokens with the key its JWKS serves."""

    def __init__(self, log: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update(kid=KID, alg="RS256", use="sig")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_zone.py"), json.dumps({"jwk": jwk})],
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("PORT "):
            stop(self.process)
            raise NotRun(f"the zone did not start: {log.read_text()[-2000:]}")
        self.port = int(line.split()[1])
        self.issuer = f"http://127.0.0.1:{self.port}"
        self._control = Connection(self.port)
        self._direct = Connection(self.port)

    def token(self, user: str, audience: str) -> str:
        """An RFC 9068 access token for ``user`` at ``audience``, valid for an hour."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": audience,
            "iat": now,
            "exp": now + 3600,
            "jti": uuid.uuid4().hex,
            "client_id": "bench-client",
            "scope": "mcp:tools",
        }
        return jwt.encode(claims, self.key, "RS256", headers={"kid": KID, "typ": "at+jwt"})

    async def set_delay(self, seconds: float) -> None:
        await self._control.request("POST", f"/_bench/delay?seconds={seconds}")

    async def stats(self) -> dict[str, int]:
        return json.loads((await self._control.request("GET", "/_bench/stats")).body)

    async def round_trip(self, subject_token: str) -> float:
        """Seconds of one token exchange sent straight to the zone on a kept-alive connection."""
        form = (
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"
            f"&subject_token={subject_token}&resource={RESOURCES[0]}"
            "&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
        ).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        started = time.perf_counter()
        response = await self._direct.request("POST", "/token", headers, form)
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise NotRun(f"direct exchange: HTTP {response.status}")
        return elapsed

    def close(self) -> None:
        self._control.close()
        self._direct.close()
        stop(self.process)


@dataclass
class Subject:
    """One way of serving the tools: how to start it."""

    key: str
    label: str
    argv: Callable[[int, str, Path], list[str]]
    env: dict[str, str] = field(default_factory=dict)


def script_subject(key: str, label: str, python: str, zone: Zone, args: argparse.Namespace):
    def argv(port: int, base_url: str, tmp: Path) -> list[str]:
        settings = {
            "kind": key,
            "port": port,
            "base_url": base_url,
            "issuer": zone.issuer,
            "client_id": CLIENT[0],
            "client_secret": CLIENT[1],
            "tools": TOOLS,
            "log_level": args.log_level,
            "stateless": args.stateless,
            "gc_freeze": args.gc_freeze,
        }
        return [python, str(ROOT / "bench" / "_warm_server.py"), json.dumps(settings)]

    return Subject(key, label, argv)


LAUNCHER_CONFIG = """\
version: 1
log_level: {log_level}
server:
  name: bench
  base_url: {base_url}
  stateless: {stateless}
zone:
  url: {issuer}
credentials:
  client_id: ${{BENCH_CLIENT_ID}}
  client_secret: ${{BENCH_CLIENT_SECRET}}
tools:
{tools}
"""


def launcher_folder(
    folder: Path, *, base_url: str, issuer: str, log_level: str, stateless: bool, extra: str = ""
) -> Path:
    """Make ``folder`` with the tool module and the YAML file ``keycard-serve run`` serves
    (``extra`` appended: another section); returns the file's path."""
    folder.mkdir()
    (folder / "bench_tools.py").write_text(tool_module(TOOLS, granted=True))
    tools = "\n".join(
        f"  - function: bench_tools:{name}\n    grants: {json.dumps(resources)}"
        for name, resources in TOOLS.items()
    )
    config = folder / "bench.yaml"
    config.write_text(
        LAUNCHER_CONFIG.format(
            log_level=log_level,
            base_url=base_url,
            stateless=str(stateless).lower(),
            issuer=issuer,
            tools=tools,
        )
        + extra
    )
    return config


def launcher_subject(label: str, zone: Zone, args: argparse.Namespace) -> Subject:
    def argv(port: int, base_url: str, tmp: Path) -> list[str]:
        config = launcher_folder(
            tmp / f"launcher-{port}",
            base_url=base_url,
            issuer=zone.issuer,
            log_level=args.log_level,
            stateless=args.stateless,
        )
        return [sys.executable, "-m", "keycard_serve", "run", str(config)]

    env = {"BENCH_CLIENT_ID": CLIENT[0], "BENCH_CLIENT_SECRET": CLIENT[1]}
    return Subject("launcher", label, argv, env)


@dataclass
class Caller:
    connection: Connection
    turns: list[tuple[str, str | None]]  # (token, session id) per user, alternating


@dataclass
class Window:
    """One measured window of one server in one scenario."""

    calls: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    zone_cpu: float
    driver_cpu: float
    token_requests_per_call: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_per_call(self) -> float:
        return self.server_cpu / self.calls


@dataclass
class Cold:
    first: tuple[float, float] | None = None  # (contact, tools/call) seconds
    later: list[tuple[float, float]] = field(default_factory=list)
    firsts: list[tuple[float, float]] = field(default_factory=list)
    first_tokens: list[int] = field(default_factory=list)


class Server:
    """A running server process of one subject, pinned if asked, with its callers' sessions."""

    def __init__(self, subject: Subject, tmp: Path, args: argparse.Namespace) -> None:
        self.subject = subject
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp / f"{subject.key}-{self.port}.log"
        env = {**os.environ, "FASTMCP_SHOW_SERVER_BANNER": "false", **subject.env}
        if args.pythonpath and subject.key in ("library", "launcher"):
            env["PYTHONPATH"] = os.pathsep.join([args.pythonpath, env.get("PYTHONPATH", "")])
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                subject.argv(self.port, self.base_url, tmp),
                cwd=tmp,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        if args.server_cpus:
            os.sched_setaffinity(self.process.pid, args.server_cpus)
        self.callers: list[Caller] = []

    async def ready(self, timeout: float = 60) -> None:
        """Poll until the server answers HTTP at all (any status): it reports ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NotRun(f"exited with {self.process.returncode}: {self.tail()}")
            connection = Connection(self.port)
            try:
                await connection.request("GET", "/bench-ready-probe")
                return
            except (OSError, asyncio.IncompleteReadError):
                await asyncio.sleep(0.01)
            finally:
                connection.close()
        raise NotRun(f"not ready within {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text()[-2000:]

    async def contact(self, token: str, stateless: bool) -> tuple[float, float]:
        """A new client: connect, initialize (unless stateless), call ``three``; both times."""
        connection = await Connection(self.port).open()
        try:
            started = time.perf_counter()
            session = None if stateless else await initialize(connection, token)
            calling = time.perf_counter()
            text = await call_tool(connection, token, session, "three")
            done = time.perf_counter()
        finally:
            connection.close()
        if text != answer("three"):
            raise NotRun(f"`three` answered {text!r}")
        return done - started, done - calling

    async def open_callers(self, zone: Zone, count: int, stateless: bool) -> None:
        tokens = [zone.token(user, self.base_url) for user in USERS]
        for index in range(count):
            connection = await Connection(self.port).open()
            turns = [
                (token, None if stateless else await initialize(connection, token))
                for token in tokens
            ]
            self.callers.append(Caller(connection, turns[index % 2 :] + turns[: index % 2]))

    def close(self) -> None:
        for caller in self.callers:
            caller.connection.close()
        stop(self.process)


async def drive(server: Server, zone: Zone, scenario: Scenario, args: argparse.Namespace) -> Window:
    """All callers call ``scenario.tool`` back to back; measure ``args.window`` seconds."""
    expected = answer(scenario.tool)
    finished: list[tuple[float, float]] = []
    running = True

    async def loop(caller: Caller) -> None:
        turn = 0
        while running:
            token, session = caller.turns[turn]
            turn ^= 1
            started = time.perf_counter()
            text = await call_tool(caller.connection, token, session, scenario.tool)
            done = time.perf_counter()
            if text != expected:
                raise NotRun(f"`{scenario.tool}` answered {text!r}")
            finished.append((done, done - started))

    for caller in server.callers:  # idle connections were closed by the server's keep-alive
        caller.connection.close()
        await caller.connection.open()
    first_stats = await zone.stats()
    tasks = [asyncio.create_task(loop(caller)) for caller in server.callers]
    try:
        await asyncio.sleep(args.warmup)
        before = (
            cpu_seconds(server.process.pid),
            cpu_seconds(zone.process.pid),
            time.process_time(),
        )
        start = time.perf_counter()
        await asyncio.sleep(args.window)
        end = time.perf_counter()
        after = (
            cpu_seconds(server.process.pid),
            cpu_seconds(zone.process.pid),
            time.process_time(),
        )
    finally:
        running = False
        results = await asyncio.gather(*tasks, return_exceptions=True)
    # Token requests per call over the whole drive (warm-up included): no window-edge effects.
    token_requests = (await zone.stats()).get("token", 0) - first_stats.get("token", 0)
    for result in results:
        if isinstance(result, BaseException):
            raise NotRun(f"{type(result).__name__}: {result}")
    latencies = [latency for done, latency in finished if start <= done <= end]
    if not latencies:
        raise NotRun("no call finished within the window")
    return Window(
        calls=len(latencies),
        seconds=end - start,
        latencies=latencies,
        server_cpu=after[0] - before[0],
        zone_cpu=after[1] - before[1],
        driver_cpu=after[2] - before[2],
        token_requests_per_call=token_requests / len(finished),
    )


async def start(
    subject: Subject, zone: Zone, tmp: Path, args: argparse.Namespace, cold: Cold, *, keep: bool
) -> Server | None:
    """Start a server, time its first contact and later never-seen contacts; keep it or stop it."""
    server = Server(subject, tmp, args)
    try:
        await server.ready()
        await zone.set_delay(COLD_DELAY)
        before = (await zone.stats()).get("token", 0)
        fresh = f"first-{uuid.uuid4().hex[:8]}"
        cold.firsts.append(await server.contact(zone.token(fresh, server.base_url), args.stateless))
        cold.first_tokens.append((await zone.stats()).get("token", 0) - before)
        if keep:
            for _ in range(args.cold_contacts):
                user = f"new-{uuid.uuid4().hex[:8]}"
                token = zone.token(user, server.base_url)
                cold.later.append(await server.contact(token, args.stateless))
            await server.open_callers(zone, args.callers, args.stateless)
            return server
    except BaseException:
        server.close()
        raise
    server.close()
    return None


def spread(ratios: list[float]) -> str:
    """``median [min-max]`` of per-round ratios, 22 characters wide."""
    text = f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
    return f"{text:>22}"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(
    subjects: list[Subject],
    results: dict[str, dict[str, list[Window]] | str],
    colds: dict[str, Cold],
    zone_trip: list[float],
    args: argparse.Namespace,
    started: float,
) -> None:
    plain = results.get("plain")
    head = (
        f"{'server':<44}{'calls/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'cpu ms/call':>12}"
        f"{'tok req/call':>13}{'x plain calls/s':>22}{'x plain cpu':>22}"
    )
    for scenario in SCENARIOS:
        print(f"\n{scenario.title}")
        print(head)
        for subject in subjects:
            windows = results.get(subject.key)
            label = f"{subject.key}: {subject.label}"
            if isinstance(windows, str) or windows is None:
                print(f"{label:<44}  not run: {windows}")
                continue
            runs = windows[scenario.name]
            latencies = [latency for window in runs for latency in window.latencies]
            line = (
                f"{label[:43]:<44}{statistics.median(w.rate for w in runs):>8.0f}"
                f"{percentile(latencies, 0.5) * 1000:>8.2f}"
                f"{percentile(latencies, 0.99) * 1000:>8.2f}"
                f"{statistics.median(w.cpu_per_call for w in runs) * 1000:>12.2f}"
                f"{statistics.mean(w.token_requests_per_call for w in runs):>13.2f}"
            )
            if isinstance(plain, dict):
                pairs = list(zip(runs, plain[scenario.name], strict=True))
                line += spread([w.rate / p.rate for w, p in pairs])
                line += spread([w.cpu_per_call / p.cpu_per_call for w, p in pairs])
            print(line)
        driver = [
            w.driver_cpu / w.calls * 1000
            for windows in results.values()
            if isinstance(windows, dict)
            for w in windows[scenario.name]
        ]
        zone_cpu = [
            w.zone_cpu / w.calls * 1000
            for windows in results.values()
            if isinstance(windows, dict)
            for w in windows[scenario.name]
        ]
        if driver:
            print(
                f"(load driver CPU per call: median {statistics.median(driver):.2f} ms, max "
                f"{max(driver):.2f}; zone process CPU per call: max {max(zone_cpu):.2f} ms)"
            )
    library, launcher = results.get("library"), results.get("launcher")
    if isinstance(library, dict) and isinstance(launcher, dict):
        for scenario in SCENARIOS:
            pairs = list(zip(launcher[scenario.name], library[scenario.name], strict=True))
            print(
                f"launcher / library, scenario {scenario.name}: calls/s"
                f"{spread([a.rate / b.rate for a, b in pairs])}, cpu per call"
                f"{spread([a.cpu_per_call / b.cpu_per_call for a, b in pairs])}"
            )

    trip = statistics.median(zone_trip)
    print(
        f"\ncold path: tool `three` (3 resources), zone +{COLD_DELAY * 1000:.0f} ms per token "
        f"request; a contact = new connection, {'' if args.stateless else 'initialize + '}"
        "tools/call, with a token the server never saw"
    )
    print(
        f"direct zone round trip (one token exchange, kept-alive connection): "
        f"{trip * 1000:.2f} ms median of {len(zone_trip)}"
    )
    print(
        f"{'server':<44}{'first ms':>9}{'later ms':>9}{'first/later':>12}"
        f"{'call ms':>9}{'call/zone trip':>15}{'1st tok req':>12}"
    )
    for subject in subjects:
        cold = colds.get(subject.key)
        label = f"{subject.key}: {subject.label}"
        if cold is None or not cold.firsts or not cold.later:
            print(f"{label[:43]:<44}  not run")
            continue
        first = statistics.median(contact for contact, _ in cold.firsts)
        later = statistics.median(contact for contact, _ in cold.later)
        call = statistics.median(call for _, call in cold.later)
        print(
            f"{label[:43]:<44}{first * 1000:>9.1f}{later * 1000:>9.1f}{first / later:>11.2f}x"
            f"{call * 1000:>9.1f}{call / trip:>14.2f}x"
            f"{statistics.median(cold.first_tokens):>12.0f}"
        )
    print(
        f"first: the first contact after the server answers HTTP, median of {args.starts} "
        f"start(s); later: median of {args.cold_contacts} contacts on the warm server; call: "
        "the tools/call part of a later contact; 1st tok req: token requests the zone saw "
        "during the first contact"
    )
    print(f"\nwhole run: {time.monotonic() - started:.0f} s")


def describe(args: argparse.Namespace, originals: str) -> None:
    cpus = os.sched_getaffinity(0)
    print(
        f"machine: {platform.machine()} {_cpu_model()}, {os.cpu_count()} CPUs, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )
    source = f" (src at {args.at} = {args.at_commit})" if args.at else ""
    print(
        f"versions: fastmcp {version('fastmcp')}, mcp {version('mcp')}, keycard-serve "
        f"{version('keycard-serve')}{source}; {originals}"
    )
    mode = (
        "stateless streamable HTTP (no initialize)"
        if args.stateless
        else "streamable HTTP sessions (each connection initializes one session per user)"
    )
    print(
        f"transport: {mode}, protocol {PROTOCOL_VERSION}, SSE answers; servers log at "
        f"{args.log_level}"
    )
    frozen = (
        "every server (the script servers as keycard-serve run does by itself)"
        if args.gc_freeze
        else "keycard-serve run only (--no-gc-freeze: the script servers as written)"
    )
    print(f"gc.freeze() of start-up objects before serving: {frozen}")
    pinned = (
        f"servers pinned to CPU {sorted(args.server_cpus)}, driver and zone to {sorted(cpus)}"
        if args.server_cpus
        else "no pinning"
    )
    print(
        f"load: {args.callers} callers (keep-alive connections), alice and bob alternating per "
        f"call; {args.rounds} round(s) x {args.window:.1f} s measured after {args.warmup:.1f} s "
        f"warm-up per server and scenario, order rotated per round; {pinned}"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def prepare_source(at: str, tmp: Path) -> str:
    """``src`` of the commit ``at``, unpacked into ``tmp``; the path to put on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", at, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    return str(tmp / "src")


async def run(args: argparse.Namespace) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as folder:
        tmp = Path(folder)
        args.pythonpath = prepare_source(args.at, tmp) if args.at else None
        args.at_commit = (
            subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.at],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if args.at
            else None
        )
        if args.server_cpus:
            os.sched_setaffinity(0, args.driver_cpus)
        zone = Zone(tmp / "zone.log")
        servers: dict[str, Server] = {}
        try:
            subjects = [
                script_subject(
                    "plain", f"FastMCP {version('fastmcp')}, no auth", sys.executable, zone, args
                ),
                script_subject("jwt", "FastMCP + its JWTVerifier", sys.executable, zone, args),
                script_subject(
                    "library", "keycard-serve AuthProvider+@grant", sys.executable, zone, args
                ),
                launcher_subject("keycard-serve run config.yaml", zone, args),
            ]
            originals = "keycardai-mcp-fastmcp 0.9.0: not run"
            results: dict[str, dict[str, list[Window]] | str] = {}
            try:
                if args.only and "original" not in args.only:
                    raise NotRun("not selected (--only)")
                python = ensure_original_venv(args.venv)
                originals = f"0.9.0 venv: {resolved_versions(python)}"
                subjects.append(
                    script_subject("original", "keycardai-mcp-fastmcp 0.9.0", python, zone, args)
                )
            except (NotRun, OSError) as exc:
                results["original"] = f"cannot set up its environment: {exc}"
            subjects = [s for s in subjects if not args.only or s.key in args.only]
            describe(args, originals)
            colds: dict[str, Cold] = {}
            for subject in subjects:
                print(f"starting {subject.key}...", file=sys.stderr)
                cold = colds[subject.key] = Cold()
                try:
                    for index in range(args.starts):
                        keep = index == args.starts - 1
                        server = await start(subject, zone, tmp, args, cold, keep=keep)
                        if server is not None:
                            servers[subject.key] = server
                    results[subject.key] = {scenario.name: [] for scenario in SCENARIOS}
                except (NotRun, OSError, asyncio.IncompleteReadError) as exc:
                    results[subject.key] = f"{type(exc).__name__}: {exc}"
            await zone.set_delay(COLD_DELAY)
            trip_token = zone.token("direct", "https://bench.example/")
            zone_trip = [await zone.round_trip(trip_token) for _ in range(20)]
            for round_index in range(args.rounds):
                keys = [key for key in servers if isinstance(results.get(key), dict)]
                shift = round_index % max(1, len(keys))
                order = keys[shift:] + keys[:shift]
                scenarios = SCENARIOS if round_index % 2 == 0 else SCENARIOS[::-1]
                print(f"round {round_index + 1}: {' '.join(order)}", file=sys.stderr)
                for scenario in scenarios:
                    await zone.set_delay(scenario.delay)
                    for key in order:
                        windows = results[key]
                        if not isinstance(windows, dict):
                            continue
                        try:
                            window = await drive(servers[key], zone, scenario, args)
                            windows[scenario.name].append(window)
                        except (NotRun, OSError, asyncio.IncompleteReadError) as exc:
                            results[key] = f"{type(exc).__name__}: {exc} {servers[key].tail()}"
            report(subjects, results, colds, zone_trip, args, started)
        finally:
            for server in servers.values():
                server.close()
            zone.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (about 30 s)")
    parser.add_argument("--rounds", type=int, help="rounds, order rotated (default 6; quick 1)")
    parser.add_argument("--window", type=float, help="seconds measured per server and scenario")
    parser.add_argument("--warmup", type=float, help="seconds of unmeasured load before each")
    parser.add_argument("--starts", type=int, help="server starts per server (first contacts)")
    parser.add_argument("--cold-contacts", type=int, help="never-seen-token contacts per server")
    parser.add_argument("--callers", type=int, default=16, help="concurrent callers")
    parser.add_argument("--stateless", action="store_true", help="stateless HTTP for all")
    parser.add_argument("--log-level", default="warning", help="servers' log level")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers to a CPU")
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="run the script servers as written: only keycard-serve run freezes its start-up "
        "objects (gc.freeze), as it does by itself",
    )
    parser.add_argument("--only", nargs="+", help="plain jwt library launcher original")
    parser.add_argument(
        "--at", help="measure keycard-serve's src as committed at this git revision"
    )
    parser.add_argument("--venv", type=Path, default=ROOT / "bench" / ".venv-original")
    args = parser.parse_args()
    quick = {"rounds": 1, "window": 1.0, "warmup": 0.3, "starts": 1, "cold_contacts": 3}
    full = {"rounds": 6, "window": 1.5, "warmup": 0.3, "starts": 2, "cold_contacts": 5}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if min(args.rounds, args.starts, args.cold_contacts, args.callers) < 1:
        parser.error("--rounds, --starts, --cold-contacts and --callers must be at least 1")
    cpus = sorted(os.sched_getaffinity(0))
    args.server_cpus = {cpus[-1]} if len(cpus) >= 2 and not args.no_pin else None
    args.driver_cpus = set(cpus[:-1]) if args.server_cpus else None
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
