"""Benchmark the offline render against the cost of importing the Pulumi SDKs it uses.

    python -m offline.bench --runs 7 --output docs/PERFORMANCE.md

Each measurement is a fresh interpreter (the way `make render` runs): wall time and peak
resident memory of the child, medians over the runs, taken round-robin across the
series. The floor is a Python that imports exactly the SDK modules a render loads and
does nothing else, so render/floor is what the program and the render add on top of the
SDKs. These are benchmarks on shared machines, not timed tests: read medians and ratios,
not single numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from offline.program import PROJECT_DIR

STACKS = ("dev", "staging", "production", "pr-7")
SDK_PACKAGES = ("pulumi", "pulumi_kubernetes", "pulumi_random", "pulumi_aws")
TARGET_RATIO = 2.0
TARGET_PEAK_MB = 400.0


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float


@dataclass(frozen=True)
class Series:
    name: str
    samples: tuple[Sample, ...]

    @property
    def median_seconds(self) -> float:
        return statistics.median(sample.seconds for sample in self.samples)

    @property
    def median_peak_mb(self) -> float:
        return statistics.median(sample.peak_mb for sample in self.samples)

    @property
    def spread(self) -> str:
        times = [sample.seconds for sample in self.samples]
        return f"{min(times):.2f}-{max(times):.2f}"


@dataclass(frozen=True)
class Command:
    """A child to measure: its arguments, and what differs from the default (the project root, the caller's
    environment, success meaning exit status 0)."""

    arguments: list[str]
    cwd: Path = PROJECT_DIR
    env: Mapping[str, str] | None = None
    accepted_exit_codes: frozenset[int] = frozenset({0})


_LAUNCHER = """
import os, sys, time
devnull = os.open(os.devnull, os.O_RDWR)
quiet = [(os.POSIX_SPAWN_DUP2, devnull, descriptor) for descriptor in (0, 1, 2)]
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=quiet)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""
"""Starts the measured child from a small process of its own and reports its wall time, peak RSS (KiB) and exit
status. Linux carries a process's peak RSS across exec, starting from the memory of whoever spawned it, so a child
spawned straight from this benchmark (hundreds of MB after rendering) would report this benchmark's peak as its own."""


def measure(command: list[str] | Command) -> Sample:
    """Run one child to completion; its wall time and peak RSS, as the launcher above measures them."""
    spec = command if isinstance(command, Command) else Command(command)
    launched = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *spec.arguments],
        cwd=spec.cwd,
        env=spec.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if launched.returncode != 0:
        raise RuntimeError(f"cannot start {spec.arguments[0]}: {launched.stderr.strip().splitlines()[-1:]}")
    seconds, peak_kib, exit_code = launched.stdout.split()
    if int(exit_code) not in spec.accepted_exit_codes:
        raise RuntimeError(f"{' '.join(spec.arguments)} failed with exit status {exit_code}")
    return Sample(seconds=float(seconds), peak_mb=int(peak_kib) / 1024)


def round_robin(commands: Mapping[str, list[str] | Command], runs: int) -> dict[str, Series]:
    """Each command `runs` times, taken in turns so a burst of load on the shared machine hits every series
    alike, after one uncounted run each that warms the file cache."""
    for command in commands.values():
        measure(command)
    samples: dict[str, list[Sample]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(measure(command))
    return {name: Series(name, tuple(values)) for name, values in samples.items()}


def sdk_modules(stack: str) -> list[str]:
    """The SDK modules a render of `stack` has loaded when it finishes."""
    probe = (
        "import json, sys, tempfile\n"
        "from offline.__main__ import main\n"
        f"main(['render', '--stack', {stack!r}, '--out', tempfile.mkdtemp()])\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {SDK_PACKAGES!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, check=True, timeout=300
    )
    modules: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return modules


def run(runs: int) -> tuple[Series, list[Series], int]:
    modules = sdk_modules("production")
    with tempfile.TemporaryDirectory() as scratch:
        floor_script = Path(scratch) / "floor.py"
        # Exit the way the render does (os._exit, no interpreter teardown), so the two differ
        # only in what runs between the imports and the exit.
        imports = "".join(f"import {module}\n" for module in modules)
        floor_script.write_text(imports + "import os\nos._exit(0)\n", encoding="utf-8")
        commands = {"import-only floor": [sys.executable, str(floor_script)]}
        for stack in STACKS:
            commands[stack] = [
                sys.executable,
                "-m",
                "offline",
                "render",
                "--stack",
                stack,
                "--out",
                str(Path(scratch) / stack),
            ]
        series = round_robin(commands, runs)
        floor = series.pop("import-only floor")
        renders = list(series.values())
    return floor, renders, len(modules)


def report(floor: Series, renders: list[Series], module_count: int, runs: int) -> str:
    production = next(series for series in renders if series.name == "production")
    ratio = production.median_seconds / floor.median_seconds
    lines = [
        "# Performance",
        "",
        f"Measured by `make bench` on {datetime.now(UTC):%Y-%m-%d}: {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}. Each figure is the median of "
        f"{runs} runs in a fresh interpreter (spread: fastest-slowest); the machine is shared, so compare ratios "
        "rather than absolute seconds.",
        "",
        "## Offline render",
        "",
        f"The floor imports the {module_count} Pulumi SDK modules a production render loads, and nothing else, "
        "then exits as the render does (`os._exit`, skipping interpreter teardown).",
        "",
        "| run | wall time, median (s) | spread (s) | peak memory, median (MB) | ratio to floor |",
        "|---|---|---|---|---|",
        f"| {floor.name} | {floor.median_seconds:.2f} | {floor.spread} | {floor.median_peak_mb:.0f} | 1.00 |",
    ]
    for series in renders:
        lines.append(
            f"| render `{series.name}` | {series.median_seconds:.2f} | {series.spread} | "
            f"{series.median_peak_mb:.0f} | {series.median_seconds / floor.median_seconds:.2f} |"
        )
    peak_ok = max(series.median_peak_mb for series in renders) < TARGET_PEAK_MB
    lines += [
        "",
        f"Targets: production render at most {TARGET_RATIO:.0f}x the floor "
        f"({'met' if ratio <= TARGET_RATIO else 'MISSED'}: {ratio:.2f}x); peak memory under {TARGET_PEAK_MB:.0f} MB "
        f"({'met' if peak_ok else 'MISSED'}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the offline render.")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--output", type=Path, help="write the Markdown report here (default: print it)")
    arguments = parser.parse_args(argv)
    floor, renders, module_count = run(arguments.runs)
    text = report(floor, renders, module_count, arguments.runs)
    if arguments.output:
        arguments.output.write_text(text, encoding="utf-8")
        print(f"wrote {arguments.output}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
