"""Start-up time of the ``keycard-serve`` command line, and which imports it spends it on.

    python bench/cli_startup.py [--runs 7] [--at REV]

Runs each command ``--runs`` times after one unmeasured run, as a whole new process
(``python -m keycard_serve ...``, what the ``keycard-serve`` script runs), and prints the median,
minimum and maximum wall time and the median CPU time (user + system, from ``getrusage`` of the
finished child). ``plan configs/minimal.yaml`` gets dummy ``KEYCARD_*`` variables. Then, from
``python -X importtime``, the packages each command spends its import time in (self time summed
per top-level package). ``--at REV`` measures ``src/`` as committed at that git revision.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _harness import ROOT

__all__: list[str] = []

COMMANDS = {
    "--version": ["--version"],
    "schema": ["schema"],
    "plan configs/minimal.yaml": ["plan", "configs/minimal.yaml"],
    "token configs/quickstart.yaml": ["token", "configs/quickstart.yaml"],
    "--help": ["--help"],
    # Imports the example tools, which import FastMCP: the one of these that must pay for it.
    "validate configs/quickstart.yaml": ["validate", "configs/quickstart.yaml"],
}
BASELINES = {
    "python -c pass": ["-c", "pass"],
    "python -c 'import fastmcp'": ["-c", "import fastmcp"],
}
DUMMY_ENV = {
    "KEYCARD_ZONE_ID": "bench-zone",
    "KEYCARD_CLIENT_ID": "bench-client",
    "KEYCARD_CLIENT_SECRET": "bench-secret",
}


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (output discarded; a failure raises)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def import_profile(argv: list[str], env: dict[str, str], top: int) -> str:
    """From ``-X importtime``: the ``top`` top-level packages by summed self import time, and
    the ``keycard_serve`` modules whose import (with what they import) costs most."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], cwd=ROOT, env=env, capture_output=True
    )
    per_package: Counter[str] = Counter()
    ours: dict[str, int] = {}
    for line in done.stderr.decode().splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        per_package[name.strip().split(".")[0]] += int(self_us)
        if name.strip().startswith("keycard_serve."):
            ours[name.strip()] = int(cumulative_us)
    total = sum(per_package.values())
    parts = [f"{name} {us / 1000:.0f}" for name, us in per_package.most_common(top)]
    heaviest = sorted(ours.items(), key=lambda item: -item[1])[:4]
    text = f"{total / 1000:.0f} ms in imports: " + ", ".join(parts)
    if heaviest:
        text += "\n    heaviest keycard_serve modules (cumulative ms): " + ", ".join(
            f"{name} {us / 1000:.0f}" for name, us in heaviest
        )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per command")
    parser.add_argument("--top", type=int, default=8, help="packages listed per command")
    parser.add_argument("--at", help="measure src/ as committed at this git revision")
    args = parser.parse_args()
    env = {**os.environ, **DUMMY_ENV}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as folder:
        if args.at:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.at, "src"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
            env["PYTHONPATH"] = os.pathsep.join(
                [str(Path(folder) / "src"), env.get("PYTHONPATH", "")]
            )
        runs = {
            **{label: [sys.executable, *argv] for label, argv in BASELINES.items()},
            **{
                f"keycard-serve {label}": [sys.executable, "-m", "keycard_serve", *argv]
                for label, argv in COMMANDS.items()
            },
        }
        source = f" (src at {args.at})" if args.at else ""
        print(
            f"CLI start-up{source}, {args.runs} runs after 1 unmeasured, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
        )
        print(f"{'command':<46}{'median s':>9}{'min s':>8}{'max s':>8}{'cpu s':>8}")
        for label, argv in runs.items():
            timed(argv, env)
            samples = [timed(argv, env) for _ in range(args.runs)]
            walls = [wall for wall, _ in samples]
            print(
                f"{label:<46}{statistics.median(walls):>9.3f}{min(walls):>8.3f}"
                f"{max(walls):>8.3f}{statistics.median(cpu for _, cpu in samples):>8.3f}"
            )
        print("\nimport time per top-level package (ms, self time summed), one run each:")
        for label, argv in runs.items():
            if label in BASELINES and "fastmcp" not in label:
                continue
            print(f"{label}: {import_profile(argv, env, args.top)}")


if __name__ == "__main__":
    main()
