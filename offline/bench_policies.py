"""Benchmark the offline policy check against the render alone, and the evaluation cost per resource.

    python -m offline.bench_policies [--runs 7] [--repeats 30]

(1) Wall time of `python -m offline check --stack production` against `python -m offline render
--stack production`, each in a fresh interpreter, round-robin over `--runs` rounds, medians: both run
the program under mocks, so the ratio is what evaluating the pack adds (target at most 1.5x).
(2) In one process, the production subjects are evaluated `--repeats` times with the production
config: the median divided by the number of resources is the cost per resource, for resource policies,
stack policies and both; the same on the subjects copied 10 times shows whether it grows with the
stack (a stack policy comparing every pair of resources would). Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from offline.bench import Series, round_robin
from offline.check import stack_subjects
from policies.config import PolicyConfig, config_path_for_stack, load_policy_config
from policies.findings import Subject, evaluate
from policies.registry import RESOURCE_POLICIES, STACK_POLICIES

STACK = "production"
TARGET_RATIO = 1.5
COPIES = 10


def wall_times(runs: int) -> tuple[Series, Series]:
    """(render alone, offline check) of the production stack, fresh interpreters, round-robin."""
    with tempfile.TemporaryDirectory() as scratch:
        commands = {
            "render": [
                sys.executable,
                "-m",
                "offline",
                "render",
                "--stack",
                STACK,
                "--out",
                str(Path(scratch) / "out"),
            ],
            "check": [sys.executable, "-m", "offline", "check", "--stack", STACK],
        }
        series = round_robin(commands, runs)
    return series["render"], series["check"]


def only(config: PolicyConfig, keep: tuple[str, ...]) -> PolicyConfig:
    """The config with every policy outside `keep` disabled."""
    levels = {name: (level if name in keep else "disabled") for name, level in config.levels.items()}
    return dataclasses.replace(config, levels=levels)


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copies(subjects: list[Subject], count: int) -> list[Subject]:
    """`count` copies of the stack with distinct URNs and namespaces, dependencies renamed alike."""

    def renamed(text: str, index: int) -> str:
        return f"{text}#{index}"

    result = []
    for index in range(count):
        for subject in subjects:
            result.append(
                dataclasses.replace(
                    subject,
                    urn=renamed(subject.urn, index),
                    dependencies=frozenset(renamed(urn, index) for urn in subject.dependencies),
                )
            )
    return result


def per_resource(repeats: int) -> list[tuple[str, int, float]]:
    """(what, resources, microseconds per resource) for each policy group on 1x and COPIESx the stack."""
    subjects, _ = stack_subjects(STACK)
    config = load_policy_config(config_path_for_stack(STACK))
    groups = {
        "resource policies": only(config, tuple(spec.name for spec in RESOURCE_POLICIES)),
        "stack policies": only(config, tuple(spec.name for spec in STACK_POLICIES)),
        "all policies": config,
    }
    rows = []
    for label, scale in ((f"{STACK}", subjects), (f"{STACK} x{COPIES}", copies(subjects, COPIES))):
        for group, group_config in groups.items():
            seconds = median_seconds(lambda s=scale, c=group_config: evaluate(s, c), repeats)  # type: ignore[misc]
            rows.append((f"{label}, {group}", len(scale), seconds / len(scale) * 1e6))
    return rows


def report(render: Series, check: Series, rows: list[tuple[str, int, float]], runs: int, repeats: int) -> str:
    ratio = check.median_seconds / render.median_seconds
    lines = [
        "## Policy pack",
        "",
        f"`python -m offline.bench_policies`: (1) the offline check of the {STACK} stack against its render alone, "
        f"fresh interpreters, median of {runs} interleaved runs; (2) evaluation alone, in one process, median of "
        f"{repeats} repeats, divided by the number of resources (Kubernetes objects and AWS resources).",
        "",
        "| run | wall time, median (s) | spread (s) | peak memory, median (MB) |",
        "|---|---|---|---|",
        f"| render alone (`python -m offline render --stack {STACK}`) | {render.median_seconds:.2f} | "
        f"{render.spread} | {render.median_peak_mb:.0f} |",
        f"| offline check (`python -m offline check --stack {STACK}`) | {check.median_seconds:.2f} | "
        f"{check.spread} | {check.median_peak_mb:.0f} |",
        "",
        f"Target: the check at most {TARGET_RATIO}x the render ({'met' if ratio <= TARGET_RATIO else 'MISSED'}: "
        f"{ratio:.2f}x). The check does not write manifests, the render does; both run the program under mocks.",
        "",
        "| evaluation | resources | per resource, median (µs) |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {count} | {micros:.0f} |" for what, count, micros in rows]
    lines += [
        "",
        f"The cost per resource on {COPIES} copies of the stack against one copy says whether a stack policy "
        "grows faster than the stack.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the offline policy check.")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=30)
    arguments = parser.parse_args(argv)
    render, check = wall_times(arguments.runs)
    rows = per_resource(arguments.repeats)
    print(report(render, check, rows, arguments.runs, arguments.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
