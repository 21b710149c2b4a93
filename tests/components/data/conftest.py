"""Real servers for the backup tests: one PostgreSQL and one moto S3 endpoint per session.

`rig` is the harness of tests/support/backup_harness.py: PostgreSQL 15+ started with initdb/pg_ctl in
a scratch directory (scram password auth over TCP for the role `crm`), moto's S3 and KMS in
server mode with the backup bucket (made with boto3) and a KMS key, and `rig.backup()` /
`rig.restore()`, which run the scripts exactly as their pods do (`bash <script>`, the variable
names of components/data/backup_contract.py, PostgreSQL's bin directory and the virtualenv's `aws`
on PATH, dummy AWS credentials). A missing tool fails these tests when CI is set and skips
them otherwise (DESIGN.md section 4).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from components.data.backup_contract import S3Store
from tests.support.backup_harness import (
    LARGE_SEED,
    SMALL_SEED,
    BackupRun,
    Harness,
    MissingToolError,
    Seed,
    find_tools,
    harness,
    seed,
)
from tests.support.script_failures import CALL_FAILED
from tests.support.tools import unavailable


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Mark a test whose call failed (CALL_FAILED), for the fault tests' check after each test."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[CALL_FAILED] = True
    return report


@pytest.fixture(scope="session")
def rig() -> Iterator[Harness]:
    """PostgreSQL and moto for the whole session, stopped at its end."""
    try:
        tools = find_tools()
    except MissingToolError as missing:
        unavailable(str(missing))
    with harness(tools) as started:
        yield started


@pytest.fixture(scope="session")
def large_database(rig: Harness) -> str:
    """101,400 rows over five tables in two schemas, with 20-60 KB text and 4-64 KB bytea values."""
    return _seeded(rig, "crm_large", LARGE_SEED)


@pytest.fixture(scope="session")
def small_database(rig: Harness) -> str:
    """183 rows of the same shape: enough for every check, quick to dump and restore."""
    return _seeded(rig, "crm_small", SMALL_SEED)


def _seeded(rig: Harness, database: str, plan: Seed) -> str:
    seed(rig.postgres, database, plan)
    return database


@pytest.fixture
def prefix(rig: Harness, request: pytest.FixtureRequest) -> str:
    """A key prefix of this test's own, so that tests never see each other's backups."""
    return rig.unique_prefix(request.node.name)


@pytest.fixture
def store(rig: Harness, prefix: str) -> S3Store:
    """The moto bucket under this test's prefix, SSE-KMS with the moto key."""
    return rig.s3.store(prefix)


@pytest.fixture
def small_backup(rig: Harness, small_database: str, store: S3Store) -> BackupRun:
    """A fresh, complete backup of the small database under this test's prefix (tests may tamper with it)."""
    return rig.backup(small_database, store).check()
