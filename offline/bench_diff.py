"""Benchmark the render diff against one render: what comparing two commits costs over rendering one.

    python -m offline.bench_diff [--runs 7] [--base HEAD~1] [--head HEAD]

Wall time of `python -m offline diff --base B --head H --stack production` (two `git worktree`
checkouts, both renders, the comparison and the three reports) against `python -m offline render
--stack production`, each in a fresh interpreter, round-robin over `--runs` rounds (offline/bench.py),
medians; peak memory is the largest resident size among the command and the processes it waited
for (Linux reports the maximum over a child and its reaped descendants). The target is at most 2.5x
one render: the diff renders its two sides side by side, as many at a time as there are CPUs, so on
an idle machine with two CPUs it costs little more than one render plus the checkouts. Prints a
Markdown section for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from offline.bench import Series, round_robin
from offline.program import PROJECT_DIR

STACK = "production"
TARGET_RATIO = 2.5


def commit_of(ref: str) -> str:
    return subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def wall_times(runs: int, base: str, head: str) -> tuple[Series, Series]:
    """(one render, the diff of two commits) of the production stack."""
    with tempfile.TemporaryDirectory() as scratch:
        commands = {
            "render": [sys.executable, "-m", "offline", "render", "--stack", STACK, "--out", f"{scratch}/render"],
            "diff": [
                sys.executable,
                "-m",
                "offline",
                "diff",
                "--base",
                base,
                "--head",
                head,
                "--stack",
                STACK,
                "--out",
                str(Path(scratch) / "diff"),
            ],
        }
        series = round_robin(commands, runs)
    return series["render"], series["diff"]


def report(render: Series, diff: Series, runs: int, base: str, head: str) -> str:
    ratio = diff.median_seconds / render.median_seconds
    return "\n".join(
        [
            "## Render diff",
            "",
            f"`python -m offline diff --base {base[:12]} --head {head[:12]} --stack {STACK}` (two worktree "
            "checkouts, both renders side by side, the comparison and the reports) against one render of the "
            f"same stack; medians of {runs} runs in fresh interpreters, taken round-robin.",
            "",
            "| run | wall time, median (s) | spread (s) | peak memory, median (MB) | ratio to one render |",
            "|---|---|---|---|---|",
            f"| render `{STACK}` | {render.median_seconds:.2f} | {render.spread} | "
            f"{render.median_peak_mb:.0f} | 1.00 |",
            f"| diff `{STACK}`, two commits | {diff.median_seconds:.2f} | {diff.spread} | "
            f"{diff.median_peak_mb:.0f} | {ratio:.2f} |",
            "",
            f"Target: the diff at most {TARGET_RATIO}x one render ({'met' if ratio <= TARGET_RATIO else 'MISSED'}: "
            f"{ratio:.2f}x).",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--base", default="HEAD~1", help="base commit of the diff (default: %(default)s)")
    parser.add_argument("--head", default="HEAD", help="head commit of the diff (default: %(default)s)")
    arguments = parser.parse_args(argv)
    base, head = commit_of(arguments.base), commit_of(arguments.head)
    render, diff = wall_times(arguments.runs, base, head)
    print(report(render, diff, arguments.runs, base, head))
    return 0


if __name__ == "__main__":
    sys.exit(main())
