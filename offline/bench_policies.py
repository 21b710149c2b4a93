"""Benchmark the offline policy check: against the render alone, per resource, and against Checkov on large inputs.

    python -m offline.bench_policies [--runs 7] [--repeats 30] [--checkov-runs 5]

(1) Wall time of `python -m offline check --stack production` against `python -m offline render
--stack production`, each in a fresh interpreter, round-robin over `--runs` rounds, medians: both run
the program under mocks, so the ratio is what evaluating the pack adds (target at most 1.5x).
(2) In one process, the production subjects are evaluated `--repeats` times with the production
config: the median divided by the number of resources is the cost per resource, for resource policies,
stack policies and both; the same on the subjects copied 10 times shows whether it grows with the
stack (a stack policy comparing every pair of resources would).
(3) The offline check of plain manifests (`python -m policies.runner --manifests DIR`) and Checkov
(`checkov --framework kubernetes --skip-download`, run as offline/checkov.py runs it) over the same
two generated inputs, every run a fresh process, the four series interleaved over `--checkov-runs`
rounds after one uncounted warm-up run each: 2,000 small Pods, one file each, every tenth privileged;
and ten copies of the production render, each copy's namespaces (and cluster-scoped names) renamed, so
about a thousand objects of every kind the platform makes. Reports medians, the ratio Checkov / offline
check on each input (target at least 10x, aim 20x) and the peak memory of each child (ru_maxrss).

Prints a Markdown section.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from offline.bench import Command, Series, round_robin
from offline.check import stack_subjects
from offline.checkov import CHECKOV, checkov_command, checkov_environment, run_checkov
from offline.program import PROJECT_DIR
from offline.render import dump_yaml
from policies.config import PolicyConfig, config_path_for_stack, load_policy_config
from policies.findings import Subject, evaluate
from policies.registry import RESOURCE_POLICIES, STACK_POLICIES

STACK = "production"
TARGET_RATIO = 1.5
COPIES = 10
SMALL_PODS = 2000
RENDER_COPIES = 10
CHECKOV_TARGET_RATIO = 10.0
CHECKOV_AIM_RATIO = 20.0


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


# --- (3) against Checkov ---------------------------------------------------------------------------


def small_pod(index: int) -> dict[str, Any]:
    """A small restricted Pod (probes, resources, its own account), privileged when `index` is a multiple of ten,
    so both tools have findings to report."""
    name = f"pod-{index:04d}"
    container = {
        "name": "app",
        "image": "ghcr.io/acme/app:1.2.3",
        "ports": [{"name": "http", "containerPort": 8080}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": index % 10 == 0,
            "readOnlyRootFilesystem": True,
        },
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "32Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": f"bench-{index % 20:02d}", "labels": {"app": name}},
        "spec": {
            "serviceAccountName": "app",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def write_small_pods(directory: Path, count: int = SMALL_PODS) -> int:
    """`count` small Pods, one file each under <namespace>/; how many objects were written."""
    for index in range(count):
        pod = small_pod(index)
        path = directory / pod["metadata"]["namespace"] / f"pod-{index:04d}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml(pod), encoding="utf-8")
    return count


def renamed(document: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The object moved to its namespace + `suffix`; a cluster-scoped object (Namespaces included) renamed alike."""
    metadata = dict(document.get("metadata") or {})
    if metadata.get("namespace"):
        metadata["namespace"] = f"{metadata['namespace']}{suffix}"
    else:
        metadata["name"] = f"{metadata['name']}{suffix}"
    return {**document, "metadata": metadata}


def write_render_copies(directory: Path, scratch: Path, copies: int = RENDER_COPIES) -> int:
    """`copies` renamed copies of the production render, laid out as the render lays out one; how many objects."""
    render = scratch / "render"
    subprocess.run(
        [sys.executable, "-m", "offline", "render", "--stack", STACK, "--out", str(render)],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        timeout=600,
    )
    documents = [
        yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted((render / "manifests").rglob("*.yaml"))
    ]
    for copy in range(copies):
        suffix = f"-copy{copy:02d}"
        for document in documents:
            moved = renamed(document, suffix)
            metadata = moved["metadata"]
            folder = metadata.get("namespace") or "_cluster"
            path = directory / f"copy{copy:02d}" / folder / f"{str(moved['kind']).lower()}-{metadata['name']}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dump_yaml(moved), encoding="utf-8")
    return copies * len(documents)


@dataclasses.dataclass(frozen=True)
class SideBySide:
    """One input: what it holds, and both tools' series over it."""

    label: str
    objects: int
    checkov_resources: int
    offline: Series
    checkov: Series

    @property
    def ratio(self) -> float:
        return self.checkov.median_seconds / self.offline.median_seconds


def against_checkov(runs: int) -> tuple[list[SideBySide], tuple[float, float]]:
    """Both inputs, both tools, interleaved; Checkov's report of each input is checked once first (every file
    parsed, every object seen), so a fast run that skipped files cannot pass for a fast check. Also the machine's
    one-minute load average before and after the timed runs: the machine is shared."""
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        inputs = {
            f"{SMALL_PODS:,} small Pods": (scratch / "pods", write_small_pods(scratch / "pods")),
            f"{RENDER_COPIES} renamed copies of the {STACK} render": (
                scratch / "copies",
                write_render_copies(scratch / "copies", scratch),
            ),
        }
        commands: dict[str, list[str] | Command] = {}
        resources = {}
        # Bytecode cached as a user's second run has it (Checkov's virtualenv was compiled when pip installed it);
        # an environment that says not to write bytecode would make every offline run compile the pack anew.
        offline_environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        for label, (manifests, _) in inputs.items():
            report_dir = scratch / "checkov" / manifests.name
            report, _ = run_checkov(CHECKOV, manifests, report_dir)
            resources[label] = report.resource_count
            commands[f"offline {label}"] = Command(
                [sys.executable, "-m", "policies.runner", "--manifests", str(manifests)],
                env=offline_environment,
                accepted_exit_codes=frozenset({0, 1}),
            )
            commands[f"checkov {label}"] = Command(
                checkov_command(CHECKOV, manifests, report_dir),
                cwd=report_dir,
                env=checkov_environment(os.environ),
                accepted_exit_codes=frozenset({0, 1}),
            )
        load_before = os.getloadavg()[0]
        series = round_robin(commands, runs)
        load_after = os.getloadavg()[0]
    results = [
        SideBySide(label, objects, resources[label], series[f"offline {label}"], series[f"checkov {label}"])
        for label, (_, objects) in inputs.items()
    ]
    return results, (load_before, load_after)


def checkov_report(results: list[SideBySide], runs: int, load: tuple[float, float]) -> list[str]:
    lines = [
        "### Offline check against Checkov",
        "",
        f"(3) `python -m policies.runner --manifests DIR` against `checkov --framework kubernetes --skip-download "
        f"-d DIR` (BC_SKIP_MAPPING=TRUE, JSON report to a file, as offline/checkov.py runs it) over the same files: "
        f"fresh processes, the four series interleaved, median of {runs} runs after one uncounted warm-up run each; "
        "peak memory is the child's ru_maxrss, its largest process (Checkov parses in worker processes of its own, "
        f"one per CPU; their memory is not summed). YAML is parsed by "
        f"{'libyaml' if yaml.__with_libyaml__ else 'pure-Python PyYAML'} (PyYAML {yaml.__version__}); the offline "
        "check runs with its bytecode cached, as from a user's second run on. One-minute load "
        f"average of the machine: {load[0]:.1f} before the timed runs, {load[1]:.1f} after ({os.cpu_count()} CPUs).",
        "",
        "| input | objects (Checkov resources) | offline check, median (s) | spread (s) | Checkov, median (s) | "
        "spread (s) | Checkov / offline | offline peak memory (MB) | Checkov peak memory (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.label} | {result.objects} ({result.checkov_resources}) | "
            f"{result.offline.median_seconds:.2f} | {result.offline.spread} | {result.checkov.median_seconds:.2f} | "
            f"{result.checkov.spread} | **{result.ratio:.1f}x** | {result.offline.median_peak_mb:.0f} | "
            f"{result.checkov.median_peak_mb:.0f} |"
        )
    worst = min(result.ratio for result in results)
    verdict = "met" if worst >= CHECKOV_TARGET_RATIO else "MISSED"
    aim = "reached" if worst >= CHECKOV_AIM_RATIO else "not reached"
    lines += [
        "",
        f"Target: at least {CHECKOV_TARGET_RATIO:.0f}x Checkov's time on both inputs ({verdict}: worst {worst:.1f}x); "
        f"aim {CHECKOV_AIM_RATIO:.0f}x ({aim}).",
        "",
    ]
    return lines


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
    parser.add_argument("--checkov-runs", type=int, default=5, help="rounds of (3), the comparison with Checkov")
    arguments = parser.parse_args(argv)
    render, check = wall_times(arguments.runs)
    rows = per_resource(arguments.repeats)
    side_by_side, load = against_checkov(arguments.checkov_runs)
    print(report(render, check, rows, arguments.runs, arguments.repeats))
    print("\n".join(checkov_report(side_by_side, arguments.checkov_runs, load)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
