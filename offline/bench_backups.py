"""Benchmark the logical backup pipeline against plain pg_dump.

    python -m offline.bench_backups [--runs 5] [--scale 10[,40...]]

On a seeded database of 101,400 rows (large text and bytea values among them) it measures,
round-robin over `--runs` rounds: (a) plain pg_dump to /dev/null, with exactly the flags
backup-dump.sh gives pg_dump (PLAIN_DUMP), (b) the backup pipeline (backup-dump.sh, then
backup-upload.sh to a moto S3 endpoint), (c) the restore verification (restore-fetch.sh, then
restore-verify.sh into its throwaway cluster) and, for the fixed cost of (c), the same restore
of a tiny database. With `--scale N[,M...]` (default 10; 1 alone turns it off) it also measures
(a) and (b) on databases of N (and M...) times those rows, same shape, where the fixed cost of a run
(aws CLI start-ups, completing the upload) weighs less and less: throughput is a rate, and the
smallest and largest sizes split each time into a fixed part and a part per MB of dump. It
prints a Markdown section with the medians, the pipeline's throughput against plain pg_dump at
every size, the fixed and per-MB costs, and the restore time projected for a 10 GB database
against the 15-minute target; it writes no file (`make bench` decides where it goes).

The servers come from the tests' real-server harness (tests/support/backup_harness.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from kube import quantities
from stacks.data import BACKUP_JOB_RESOURCES
from tests.support.backup_harness import (
    LARGE_SEED,
    RESTORE_TARGET_SECONDS,
    SMALL_SEED,
    TEN_GB,
    Harness,
    RestoreRun,
    _children_cpu_seconds,
    become_child_subreaper,
    harness,
    run_command,
    seed,
)

# --- the benchmark -----------------------------------------------------------------------------

PLAIN_DUMP: Final = ("pg_dump", "--format=custom", "--no-password")
"""The baseline: pg_dump with exactly the flags backup-dump.sh gives it (tests/components/data checks that they
match), writing to its standard output as in the script, here redirected to /dev/null."""
DEFAULT_SCALES: Final = (10,)
"""The benchmark's larger databases: LARGE_SEED times these (10: a 256 MB dump; 40, a 1 GB one, takes another
quarter of an hour), where the fixed cost of a run (aws CLI start-ups, completing the upload) is small against the
time that grows with the dump."""
MB: Final = 1_000_000


@dataclass(frozen=True)
class Series:
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> str:
        return f"{min(self.seconds):.2f}-{max(self.seconds):.2f}"


@dataclass(frozen=True)
class SizeMeasurements:
    """Plain pg_dump and the backup pipeline on one database."""

    scale: int
    """The database is LARGE_SEED.scaled(scale)."""
    rows: int
    database_bytes: int
    dump_bytes: int
    series: dict[str, Series]
    """plain, dump, upload, pipeline; `-cpu` the CPU seconds of plain, dump and upload; moto-cpu the CPU seconds
    of the moto server (this process) during the backup."""

    @property
    def ratio(self) -> float:
        """Pipeline throughput / plain pg_dump throughput: the same bytes, so plain time / pipeline time."""
        return self.series["plain"].median / self.series["pipeline"].median


@dataclass(frozen=True)
class Cost:
    """t = fixed + per_mb x MB of dump: the straight line through two sizes' medians."""

    fixed: float
    per_mb: float

    @classmethod
    def between(cls, small: SizeMeasurements, large: SizeMeasurements, name: str) -> Cost:
        small_mb, large_mb = small.dump_bytes / MB, large.dump_bytes / MB
        per_mb = (large.series[name].median - small.series[name].median) / (large_mb - small_mb)
        return cls(fixed=small.series[name].median - per_mb * small_mb, per_mb=per_mb)


@dataclass(frozen=True)
class Measurements:
    sizes: tuple[SizeMeasurements, ...]
    """The 101,400-row database (scale 1) first, then the scaled ones, smallest first."""
    restore: dict[str, Series]
    """fetch, verify, restore of the scale-1 database; `small-` the same of the tiny database; `-cpu`
    the CPU seconds of fetch and verify."""
    small_database_bytes: int
    small_rows: int
    postgres_version: str
    cpu_counted: bool
    """The throwaway server's CPU time is in the `-cpu` series (this process could adopt it)."""

    @property
    def base(self) -> SizeMeasurements:
        return self.sizes[0]


def _timed(command: list[str], env: Mapping[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the command and its descendants) of one run."""
    cpu_before = _children_cpu_seconds()
    start = time.perf_counter()
    result = run_command(command, env, account=None, cwd=cwd, timeout=1800)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr}")
    return seconds, _children_cpu_seconds() - cpu_before


def measure(rig: Harness, runs: int, scales: Sequence[int] = DEFAULT_SCALES) -> Measurements:
    """`runs` rounds; each round runs every measurement once (round-robin), so that a burst of load on a
    shared machine hits every series alike."""
    cpu_counted = become_child_subreaper()
    small = "crm_bench_small"
    seed(rig.postgres, small, SMALL_SEED)
    databases = {1: "crm_bench"} | {scale: f"crm_bench_x{scale}" for scale in sorted(set(scales)) if scale > 1}
    for factor, database in databases.items():
        seed(rig.postgres, database, LARGE_SEED.scaled(factor))
    minimum = {table: 1 for table in LARGE_SEED.rows}
    small_store = rig.s3.store(rig.unique_prefix("bench-small"))
    rig.backup(small, small_store).check()
    # To stdout, redirected: pg_dump refuses to fsync /dev/null given as --file.
    plain_dump = ["bash", "-c", f"exec {' '.join(PLAIN_DUMP)} >/dev/null"]
    plain_env = {factor: {**rig.base_environment(), **rig.postgres.connection(db)} for factor, db in databases.items()}
    for factor in databases:
        _timed(plain_dump, plain_env[factor], rig.scratch.root)  # warm the caches (and hint bits), uncounted
    samples: dict[str, list[float]] = {}
    dump_bytes: dict[int, int] = {}

    def add(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    def add_restore(name: str, restore: RestoreRun) -> None:
        assert restore.verify is not None
        for part, run in (("fetch", restore.fetch), ("verify", restore.verify)):
            add(f"{name}{part}", run.seconds)
            add(f"{name}{part}-cpu", run.cpu_seconds)
        add(f"{name}restore", restore.seconds)
        shutil.rmtree(restore.work_dir, ignore_errors=True)

    for _ in range(runs):
        for factor, database in databases.items():
            seconds, cpu = _timed(plain_dump, plain_env[factor], rig.scratch.root)
            add(f"{factor}:plain", seconds)
            add(f"{factor}:plain-cpu", cpu)
            store = rig.s3.store(rig.unique_prefix(f"bench-x{factor}"))
            backup = rig.backup(database, store).check()
            for part, run in (("dump", backup.dump), ("upload", backup.upload)):
                add(f"{factor}:{part}", run.seconds)
                add(f"{factor}:{part}-cpu", run.cpu_seconds)
            add(f"{factor}:moto-cpu", backup.upload.harness_cpu_seconds)
            add(f"{factor}:pipeline", backup.seconds)
            dump_bytes[factor] = int(backup.manifest["size_bytes"])
            shutil.rmtree(backup.work_dir, ignore_errors=True)
            if factor == 1:
                add_restore("", rig.restore(store, minimum).check())
            rig.s3.delete(f"{store.prefix}/")
        add_restore("small-", rig.restore(small_store, {"crm_account": 1}).check())

    def series(prefix: str) -> dict[str, Series]:
        chosen = {name.removeprefix(prefix): values for name, values in samples.items() if name.startswith(prefix)}
        return {name: Series(tuple(values)) for name, values in chosen.items()}

    return Measurements(
        sizes=tuple(
            SizeMeasurements(
                scale=factor,
                rows=sum(LARGE_SEED.scaled(factor).rows.values()),
                database_bytes=rig.postgres.database_size(database),
                dump_bytes=dump_bytes[factor],
                series=series(f"{factor}:"),
            )
            for factor, database in databases.items()
        ),
        restore={name: Series(tuple(values)) for name, values in samples.items() if ":" not in name},
        small_database_bytes=rig.postgres.database_size(small),
        small_rows=sum(SMALL_SEED.rows.values()),
        postgres_version=rig.tools.postgres_version(),
        cpu_counted=cpu_counted,
    )


def _mb(count: float) -> str:
    return f"{count / MB:.1f}"


def project(measured: Measurements, name: str, target_bytes: int) -> float:
    """Series `name` at `target_bytes` of database: the tiny database's cost plus the per-byte rate between the two."""
    large, small = measured.restore[name].median, measured.restore[f"small-{name}"].median
    per_byte = max(large - small, 0.0) / (measured.base.database_bytes - measured.small_database_bytes)
    return small + per_byte * target_bytes


def _met(ratio: float) -> str:
    return "meets the target of at least 0.8" if ratio >= 0.8 else "BELOW the target of 0.8"


def _gap(size: SizeMeasurements) -> str:
    """What the pipeline's time beyond plain pg_dump is made of, at `size`."""
    medians = {name: series.median for name, series in size.series.items()}
    allowed = medians["plain"] / 0.8 - medians["plain"]
    return (
        f"What the gap is made of at {_mb(size.dump_bytes)} MB: the pipeline takes "
        f"{medians['pipeline'] - medians['plain']:.2f} s more than plain pg_dump (a ratio of 0.8 allows "
        f"{allowed:.2f} s). {medians['dump'] - medians['plain']:.2f} s of it is backup-dump.sh ending later than "
        f"plain pg_dump: pg_dump shares the two CPUs with the upload ({medians['upload-cpu']:.2f} CPU seconds: "
        f"four aws CLI start-ups, the stream, its sha256) and with the moto server ({medians['moto-cpu']:.2f} CPU "
        f"seconds), which real S3 spends on its own machines. The other {medians['pipeline'] - medians['dump']:.2f} s "
        "come after pg_dump has ended: the rest of the stream and the completion of the multipart upload, then "
        "a head-object of the stored dump and the manifest's put-object, each a fresh aws CLI."
    )


def report(measured: Measurements, runs: int) -> str:
    """The Markdown section: figures, the throughput ratios, fixed and per-MB costs, the 10 GB restore projection."""
    base = measured.base
    restore = measured.restore
    scale = TEN_GB / base.database_bytes
    cpu_limit = float(quantities.cpu_millicores(BACKUP_JOB_RESOURCES[1])) / 1000
    # Each container has its own CPU limit: at `cpu_limit` a container needs at least CPU seconds / limit.
    unlimited = project(measured, "fetch", TEN_GB) + project(measured, "verify", TEN_GB)
    limited = sum(
        max(project(measured, part, TEN_GB), project(measured, f"{part}-cpu", TEN_GB) / cpu_limit)
        for part in ("fetch", "verify")
    )
    linear = restore["restore"].median * scale

    def verdict(seconds: float) -> str:
        return "within the target" if seconds <= RESTORE_TARGET_SECONDS else "OVER the target"

    def row(label: str, series: dict[str, Series], name: str, rate: str = "") -> str:
        cpu = f"{series[name + '-cpu'].median:.2f}" if f"{name}-cpu" in series else ""
        return f"| {label} | {series[name].median:.2f} | {series[name].spread} | {cpu} | {rate} |"

    def size_label(size: SizeMeasurements) -> str:
        return f"{size.rows:,} rows, {_mb(size.dump_bytes)} MB dump"

    def backup_rows(size: SizeMeasurements) -> list[str]:
        series = size.series
        return [
            row(
                f"(a) `{' '.join(PLAIN_DUMP)}` to /dev/null ({size_label(size)})",
                series,
                "plain",
                f"{_mb(size.dump_bytes / series['plain'].median)} MB/s of dump",
            ),
            row(
                f"(b) backup pipeline: backup-dump.sh + backup-upload.sh ({size_label(size)})",
                series,
                "pipeline",
                f"{_mb(size.dump_bytes / series['pipeline'].median)} MB/s of dump",
            ),
            row("&nbsp;&nbsp;backup-dump.sh ends (probe, pg_dump into the work file)", series, "dump"),
            row(
                "&nbsp;&nbsp;backup-upload.sh ends (list; stream: s3 cp -, sha256; head-object, put-object)",
                series,
                "upload",
            ),
        ]

    cpu_note = (
        "CPU is user + system time of the script (or pg_dump) and everything it started, the throwaway server "
        "included, but not the live server's backend that pg_dump reads from."
        if measured.cpu_counted
        else "CPU excludes the throwaway server (this platform cannot adopt it), so the CPU-limited figure is low."
    )
    largest = measured.sizes[-1]
    scales = tuple(size.scale for size in measured.sizes[1:])
    scale_option = f" --scale {','.join(map(str, scales or (1,)))}" if scales != DEFAULT_SCALES else ""
    lines = [
        "## Logical backups",
        "",
        f"Measured by `python -m offline.bench_backups --runs {runs}{scale_option}` on {datetime.now(UTC):%Y-%m-%d}: "
        f"{measured.postgres_version}, {os.cpu_count()} CPUs, {platform.machine()}; S3 is moto on localhost, in "
        "the benchmark's own process (its work shares the same CPUs). "
        f"Medians of {runs} interleaved runs (spread: fastest-slowest). {cpu_note}",
        "",
        "Databases: the same 5 tables, with 20-60 KB text values in 1% of crm_activity and 4-64 KB bytea values "
        "in crm_attachment: "
        + "; ".join(
            f"{size.rows:,} rows (scale {size.scale}), {_mb(size.database_bytes)} MB on disk (pg_database_size), "
            f"custom-format dump {_mb(size.dump_bytes)} MB"
            for size in measured.sizes
        )
        + ".",
        "",
        "### Backup throughput against plain pg_dump",
        "",
        "Plain pg_dump (a) runs with exactly the flags backup-dump.sh uses and writes to its standard output, "
        "as the script's pg_dump does; the pipeline (b) is the backup pod: its two containers' scripts started "
        "at once, the upload streaming the dump while pg_dump writes it, timed until the later one ends (the "
        "rows below it: when each one ended).",
        "",
        "| measurement | wall, median (s) | spread (s) | CPU, median (s) | throughput |",
        "|---|---|---|---|---|",
        *(line for size in measured.sizes for line in backup_rows(size)),
        "",
        "Pipeline throughput / plain pg_dump throughput, (b)/(a), the same bytes in both:",
        "",
        *(
            f"- {size_label(size)}: **{size.ratio:.2f}** ({_met(size.ratio)})"
            + (
                "; at this size the fixed cost after pg_dump (completing the upload, two more aws CLI calls, "
                "each a fresh Python interpreter) weighs against a pg_dump of under two seconds."
                if size is base and len(measured.sizes) > 1
                else "."
            )
            for size in measured.sizes
        ),
    ]
    if len(measured.sizes) > 1:
        costs = {name: Cost.between(base, largest, name) for name in ("plain", "dump", "pipeline")}
        marginal = costs["plain"].per_mb / costs["pipeline"].per_mb
        lines += [
            "",
            f"Fixed and per-MB cost: the straight line t = fixed + per-MB x MB of dump through the medians of the "
            f"smallest and the largest size ({_mb(base.dump_bytes)} and {_mb(largest.dump_bytes)} MB).",
            "",
            "| part | fixed (s) | per MB of dump (ms) |",
            "|---|---|---|",
            f"| (a) plain pg_dump | {costs['plain'].fixed:.2f} | {costs['plain'].per_mb * 1000:.1f} |",
            f"| (b) backup pipeline | {costs['pipeline'].fixed:.2f} | {costs['pipeline'].per_mb * 1000:.1f} |",
            f"| &nbsp;&nbsp;backup-dump.sh | {costs['dump'].fixed:.2f} | {costs['dump'].per_mb * 1000:.1f} |",
            "",
            f"Per-MB cost of (a) / per-MB cost of (b), the ratio the throughput tends to as the database grows: "
            f"**{marginal:.2f}**.",
            "",
            _gap(largest),
        ]
    lines += [
        "",
        f"### Restore of the {base.rows:,}-row database",
        "",
        "| measurement | wall, median (s) | spread (s) | CPU, median (s) | throughput |",
        "|---|---|---|---|---|",
        row(
            "(c) restore: restore-fetch.sh + restore-verify.sh",
            restore,
            "restore",
            f"{_mb(base.database_bytes / restore['restore'].median)} MB/s of database",
        ),
        row("&nbsp;&nbsp;restore-fetch.sh", restore, "fetch"),
        row("&nbsp;&nbsp;restore-verify.sh (checks, initdb, pg_restore, report)", restore, "verify"),
        row(f"(c) on a {measured.small_rows}-row database: the fixed cost", restore, "small-restore"),
        "",
        f"Projected restore verification of a 10 GB database (10 GiB of pg_database_size, {scale:.0f}x the "
        f"{base.rows:,}-row one) against the {RESTORE_TARGET_SECONDS // 60}-minute target, per container: the tiny "
        "database's time plus the per-byte rate between the two databases:",
        "",
        f"- on this machine's CPUs: **{unlimited / 60:.1f} min** ({verdict(unlimited)});",
        f"- at the pods' CPU limit of {cpu_limit:g} CPU per container (BACKUP_JOB_RESOURCES; a container needs at "
        f"least its CPU seconds / {cpu_limit:g}): **{limited / 60:.1f} min** ({verdict(limited)});",
        f"- pessimistic bound, all of (c) scaled by bytes, fixed cost included: {linear / 60:.1f} min "
        f"({verdict(linear)}).",
        "",
        "Assumptions: time grows linearly with database bytes at this data mix (a large share in TOASTed text "
        "and bytea, which restores faster per byte than narrow rows with many indexes; index builds grow a little "
        "faster than linearly); the cluster volume is as fast as this machine's disk; downloading from real S3 "
        "adds the transfer of the dump (about "
        f"{base.dump_bytes / base.database_bytes:.0%} of the database's size here).",
        "",
    ]
    return "\n".join(lines)


def _scales(text: str) -> tuple[int, ...]:
    """--scale: whole numbers of at least 1, comma-separated."""
    try:
        scales = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not scales or min(scales) < 1:
        raise argparse.ArgumentTypeError(f"every scale must be at least 1, not {text!r}")
    return scales


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the logical backup and restore-verification scripts.")
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds of every measurement (default 5)")
    parser.add_argument(
        "--scale",
        type=_scales,
        default=DEFAULT_SCALES,
        help="also measure pg_dump and the pipeline on databases of these many times the 101,400 rows, same "
        f"shape, comma-separated (default {','.join(map(str, DEFAULT_SCALES))}; 1: the 101,400-row database only)",
    )
    arguments = parser.parse_args(argv)
    if arguments.runs < 1:
        parser.error("--runs must be at least 1")
    with harness() as rig:
        measured = measure(rig, arguments.runs, arguments.scale)
    print(report(measured, arguments.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
