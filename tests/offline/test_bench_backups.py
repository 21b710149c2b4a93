"""The backup benchmark's arithmetic and report, on made-up figures (no servers: tests/backups runs them)."""

from __future__ import annotations

import pytest

from offline.bench_backups import PLAIN_DUMP, Cost, Measurements, Series, SizeMeasurements, main, report
from tests.support.backup_harness import LARGE_SEED


def size(scale: int, dump_mb: float, **medians: float) -> SizeMeasurements:
    return SizeMeasurements(
        scale=scale,
        rows=sum(LARGE_SEED.scaled(scale).rows.values()),
        database_bytes=int(dump_mb * 2.4e6),
        dump_bytes=int(dump_mb * 1e6),
        series={name: Series((value * 0.9, value, value * 1.2)) for name, value in medians.items()},
    )


SMALL = size(1, 25.0, plain=2.0, dump=2.1, upload=4.6, pipeline=4.6)
LARGE = size(
    10, 250.0, plain=18.2, dump=19.6, upload=23.0, pipeline=23.0, **{"upload-cpu": 4.2, "moto-cpu": 1.4}
)  # fmt: skip
RESTORE = {
    name: Series((value,))
    for name, value in {
        "fetch": 1.5, "fetch-cpu": 1.4, "verify": 3.0, "verify-cpu": 3.1, "restore": 4.5,
        "small-fetch": 1.2, "small-fetch-cpu": 1.1, "small-verify": 2.0, "small-verify-cpu": 2.0, "small-restore": 3.2,
    }.items()
}  # fmt: skip


def measurements(*sizes: SizeMeasurements) -> Measurements:
    return Measurements(
        sizes=sizes,
        restore=RESTORE,
        small_database_bytes=1_000_000,
        small_rows=183,
        postgres_version="postgres (PostgreSQL) 15.0",
        cpu_counted=True,
    )


def test_scaled_seed_multiplies_every_table_and_keeps_the_shape() -> None:
    """--scale N seeds N times the rows of each table, with the same share of large values."""
    scaled = LARGE_SEED.scaled(10)
    assert scaled.rows == {table: rows * 10 for table, rows in LARGE_SEED.rows.items()}
    assert scaled.large_every == LARGE_SEED.large_every
    assert LARGE_SEED.scaled(1) == LARGE_SEED
    with pytest.raises(ValueError, match="scale"):
        LARGE_SEED.scaled(0)


def test_throughput_ratio_is_plain_time_over_pipeline_time() -> None:
    """Both move the same dump, so the ratio of throughputs is the inverse ratio of times."""
    assert SMALL.ratio == pytest.approx(2.0 / 4.6)
    assert LARGE.ratio == pytest.approx(18.2 / 23.0)


def test_cost_splits_time_into_fixed_and_per_mb_parts() -> None:
    """The straight line through the two sizes' medians."""
    cost = Cost.between(SMALL, LARGE, "pipeline")
    assert cost.per_mb == pytest.approx((23.0 - 4.6) / 225.0)
    assert cost.fixed + cost.per_mb * 25.0 == pytest.approx(4.6)
    assert cost.fixed + cost.per_mb * 250.0 == pytest.approx(23.0)


def test_report_gives_the_ratio_at_both_sizes_and_per_mb() -> None:
    """The section names the baseline's flags, both ratios against the 0.8 target, and the per-MB ratio."""
    text = report(measurements(SMALL, LARGE), runs=3)
    assert text.startswith("## Logical backups\n")
    assert f"`{' '.join(PLAIN_DUMP)}` to /dev/null" in text
    assert "101,400 rows, 25.0 MB dump: **0.43** (BELOW the target of 0.8)" in text
    assert "1,014,000 rows, 250.0 MB dump: **0.79** (BELOW the target of 0.8)" in text
    plain, pipeline = Cost.between(SMALL, LARGE, "plain"), Cost.between(SMALL, LARGE, "pipeline")
    assert f"**{plain.per_mb / pipeline.per_mb:.2f}**" in text
    assert "| &nbsp;&nbsp;backup-dump.sh | " in text
    assert "What the gap is made of at 250.0 MB: the pipeline takes 4.80 s more than plain pg_dump" in text
    # 1.40 s while pg_dump runs (it ends later than alone), 3.40 s after it.
    assert "1.40 s of it is backup-dump.sh ending later than plain pg_dump" in text
    assert "(4.20 CPU seconds: four aws CLI start-ups" in text and "moto server (1.40 CPU seconds)" in text
    assert "The other 3.40 s come after pg_dump has ended" in text
    assert "### Restore of the 101,400-row database" in text and "15-minute target" in text


def test_report_without_a_scaled_size_has_no_per_mb_split() -> None:
    """--scale 1: the 101,400-row figures alone."""
    text = report(measurements(SMALL), runs=3)
    assert "**0.43**" in text and "per MB of dump" not in text


@pytest.mark.parametrize("arguments", [["--scale", "0"], ["--scale", "10,0"], ["--scale", "ten"], ["--runs", "0"]])
def test_scale_and_runs_must_be_positive(arguments: list[str]) -> None:
    with pytest.raises(SystemExit):
        main(arguments)


def test_report_with_three_sizes_gives_each_ratio_and_splits_between_the_outer_two() -> None:
    """--scale 10,40: a ratio per size; the per-MB line runs from the smallest to the largest."""
    huge = size(40, 1000.0, plain=70.0, dump=73.0, upload=82.0, pipeline=82.0, **{"upload-cpu": 9.0, "moto-cpu": 5.0})
    text = report(measurements(SMALL, LARGE, huge), runs=3)
    assert "4,056,000 rows, 1000.0 MB dump: **0.85** (meets the target of at least 0.8)" in text
    assert "1,014,000 rows, 250.0 MB dump: **0.79**" in text
    assert "(25.0 and 1000.0 MB)" in text and "What the gap is made of at 1000.0 MB" in text
    assert "`python -m offline.bench_backups --runs 3 --scale 10,40`" in text
