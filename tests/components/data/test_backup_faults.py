"""How the backup and restore scripts fail: non-zero, with a message naming the failed step.

Every script reports `<script>: FAILED at <step>: <what and why>` on stderr and exits 1. A
failed backup must leave no manifest for its run, so that nothing incomplete looks like a
backup; a failed restore check must stop the throwaway server. Real PostgreSQL and moto S3;
where a fault cannot be made for real (a full disk, a store that drops the encryption header),
a program on PATH stands in for the one that would fail (`shim`).

FAILURE_EXITS below lists every failure exit of the scripts (each `fail`, `require`, `aws_call`
and the exit trap's `report_failure`, found in their text by tests/support/script_failures.py)
with the test that reaches it: a new exit without a test fails test_every_failure_exit_has_a_test,
and after each test the exits the table gives it must be among the failure lines its runs printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from components.data import backup_contract as contract
from components.data.backup_contract import DirectoryStore, Need, S3Store
from tests.support.backup_harness import (
    BUCKET,
    ROLE,
    SMALL_SEED,
    BackupRun,
    Harness,
    ScriptRun,
    free_port,
    run_command,
    seed,
)
from tests.support.script_failures import CALL_FAILED, call_sites, failure_lines, indistinguishable
from tests.support.tools import unavailable

pytestmark = pytest.mark.timeout(300)

COMMON: Final = contract.LIBRARY
DUMP: Final = contract.BACKUP_DUMP
UPLOAD: Final = contract.BACKUP_UPLOAD
FETCH: Final = contract.RESTORE_FETCH
VERIFY: Final = contract.RESTORE_VERIFY

# --- which test reaches which failure exit -------------------------------------------------------
# (file, the start of the call as the file spells it) -> the test that reaches it. The start must
# name one call site of that file. The library's exits (backup-common.sh) are reached by any script.
FAILURE_EXITS: Final[dict[tuple[str, str], str]] = {
    (COMMON, 'report_failure "unexpected error'): "test_an_error_no_check_catches_is_still_named",
    (COMMON, 'fail "stopped by SIGTERM'): "test_sigterm_is_a_named_failure_the_other_container_sees",
    (COMMON, 'fail "environment variable $1 is not set'): "test_a_missing_variable_is_named[backup-dump.sh-PGHOST]",
    (COMMON, 'fail "${3:-manifest'): "test_manifest_without_a_field_is_refused",
    (COMMON, 'fail "BACKUP_WAIT_SECONDS'): "test_malformed_wait_is_refused[ten]",
    (COMMON, 'fail "$(one_line "$partner_failed")"'): "test_wrong_password_fails_at_connect",
    (COMMON, 'fail "no $what after'): "test_upload_without_a_dump_container_fails",
    (COMMON, 'fail "$what: $(describe_aws_error)"'): "test_missing_bucket_fails_the_upload",
    (COMMON, "require BACKUP_WORK_DIR"): "test_a_missing_variable_is_named[backup-dump.sh-BACKUP_WORK_DIR]",
    (COMMON, 'fail "BACKUP_WORK_DIR'): "test_malformed_setting_is_refused[dump-work-dir-missing]",
    (COMMON, "require BACKUP_STORE"): "test_a_missing_variable_is_named[backup-upload.sh-BACKUP_STORE]",
    (COMMON, "require BACKUP_PREFIX"): "test_a_missing_variable_is_named[restore-fetch.sh-BACKUP_PREFIX]",
    (COMMON, "require BACKUP_BUCKET"): "test_a_missing_variable_is_named[backup-upload.sh-BACKUP_BUCKET]",
    (COMMON, "require AWS_REGION"): "test_a_missing_variable_is_named[restore-fetch.sh-AWS_REGION]",
    (COMMON, "require BACKUP_DIRECTORY"): "test_a_missing_variable_is_named[backup-upload.sh-BACKUP_DIRECTORY]",
    (COMMON, 'fail "BACKUP_STORE'): "test_unknown_store_is_refused",
    (COMMON, 'fail "BACKUP_PREFIX'): "test_malformed_setting_is_refused[upload-prefix]",
    # backup-dump.sh
    (DUMP, "require PGHOST"): "test_a_missing_variable_is_named[backup-dump.sh-PGHOST]",
    (DUMP, "require PGUSER"): "test_a_missing_variable_is_named[backup-dump.sh-PGUSER]",
    (DUMP, "require PGDATABASE"): "test_a_missing_variable_is_named[backup-dump.sh-PGDATABASE]",
    (DUMP, 'fail "PGDATABASE'): "test_malformed_setting_is_refused[dump-database-name]",
    (DUMP, 'fail "cannot connect'): "test_wrong_password_fails_at_connect",
    (DUMP, 'fail "connected to $server but'): "test_server_that_refuses_the_probe_query_is_named",
    (DUMP, 'fail "database \\"$PGDATABASE\\" at'): "test_database_without_tables_is_refused",
    (DUMP, 'fail "not starting pg_dump'): "test_dump_does_not_start_after_the_upload_failed",
    (DUMP, 'fail "stopped pg_dump'): "test_failed_upload_stops_a_running_pg_dump",
    (DUMP, 'fail "pg_dump of $server failed'): "test_failing_pg_dump_is_named_and_leaves_no_manifest",
    # backup-upload.sh
    (UPLOAD, 'fail "plan backup_id'): "test_malformed_plan_is_refused[backup_id]",
    (UPLOAD, 'fail "plan database'): "test_malformed_plan_is_refused[database]",
    (UPLOAD, 'fail "$(one_line "$dump_failed")"'): "test_failing_pg_dump_is_named_and_leaves_no_manifest",
    (UPLOAD, 'fail "the dump container has stopped'): "test_dump_that_stops_growing_fails_the_upload",
    (UPLOAD, 'fail "reading $dump_path failed: '): "test_unreadable_dump_fails_the_upload",
    (UPLOAD, 'fail "passing the dump to sha256sum failed: '): "test_failing_tee_fails_the_upload",
    (UPLOAD, 'fail "$store_failure: $(describe'): "test_store_failing_mid_stream_stops_the_upload_and_the_dump",
    (UPLOAD, 'fail "$store_failure: it stopped'): "test_store_that_ends_before_the_dump_fails_the_upload",
    (UPLOAD, 'fail "the stream broke off'): "test_store_that_stops_reading_mid_stream_fails",
    (UPLOAD, 'fail "reading $dump_path failed (exit'): "test_stream_cut_short_fails_the_upload",
    (UPLOAD, 'fail "sha256sum of the stream failed'): "test_failing_sha256sum_fails_the_upload",
    (UPLOAD, 'fail "sha256sum printed'): "test_sha256sum_printing_no_digest_fails_the_upload",
    (UPLOAD, 'fail "dump-complete.json is of backup'): "test_dump_complete_of_another_backup_is_refused",
    (UPLOAD, 'fail "$streamed bytes of'): "test_dump_changed_under_the_upload_is_refused",
    (UPLOAD, 'aws_call "cannot list'): "test_missing_bucket_fails_the_upload",
    (UPLOAD, 'fail "backup $backup_id is already complete in S3'): "test_complete_backup_is_never_overwritten",
    (UPLOAD, 'aws_call "cannot read back'): "test_unreadable_stored_dump_fails_the_upload",
    (UPLOAD, 'fail "$url/$dump_key is $stored bytes'): "test_stored_dump_of_another_size_is_refused",
    (UPLOAD, 'fail "the dump $url/$dump_key is stored with encryption'): "test_dump_stored_without_kms_is_refused",
    (UPLOAD, 'aws_call "upload of $manifest_path'): "test_manifest_written_meanwhile_is_not_overwritten",
    (UPLOAD, 'fail "the manifest $url/$manifest_key is stored with'): "test_manifest_stored_without_kms_is_refused",
    (UPLOAD, 'fail "S3 stored $url/$manifest_key with SHA256'): "test_manifest_stored_with_another_checksum_is_refused",
    (UPLOAD, 'fail "copy of $source to $target'): "test_failed_copy_of_the_manifest_into_the_store_directory",
    (UPLOAD, 'fail "rename to $target failed'): "test_failed_rename_of_the_manifest_in_the_store_directory",
    (UPLOAD, 'fail "$target is $stored bytes in the store'): "test_stored_file_of_another_size_is_refused",
    (UPLOAD, 'fail "BACKUP_DIRECTORY $BACKUP_DIRECTORY is not a writable'): (
        "test_unmounted_store_directory_fails_the_upload"
    ),
    (UPLOAD, 'fail "backup $backup_id is already complete in the store directory'): (
        "test_complete_backup_in_the_store_directory_is_never_overwritten"
    ),
    (UPLOAD, 'fail "cannot create $run_dir'): "test_store_directory_that_cannot_hold_the_run_fails",
    (UPLOAD, 'fail "rename of the dump to'): "test_failed_rename_of_the_dump_in_the_store_directory",
    (
        UPLOAD,
        'fail "a manifest of backup $backup_id appeared',
    ): "test_manifest_appearing_in_the_store_directory_is_kept",
    # restore-fetch.sh
    (FETCH, 'aws_call "cannot list'): "test_missing_bucket_fails_the_fetch",
    (FETCH, 'fail "no backup found: no $prefix/<backup_id>/manifest.json in S3'): "test_no_backup_found",
    (FETCH, 'aws_call "download of the manifest'): "test_failed_download_of_the_manifest",
    (FETCH, 'aws_call "download of the dump'): "test_manifest_without_its_dump_fails_the_fetch",
    (FETCH, 'fail "BACKUP_DIRECTORY $BACKUP_DIRECTORY is not a directory'): (
        "test_malformed_setting_is_refused[fetch-store-directory-missing]"
    ),
    (FETCH, 'fail "no backup found: no $prefix/<backup_id>/manifest.json in the store directory'): (
        "test_no_backup_found_in_the_store_directory"
    ),
    (FETCH, 'fail "copy of the manifest'): "test_unreadable_manifest_in_the_store_directory",
    (FETCH, 'fail "copy of the dump'): "test_manifest_without_its_dump_in_the_store_directory",
    (FETCH, 'fail "$manifest_source says backup_id'): "test_manifest_in_the_wrong_place_is_refused",
    (FETCH, 'fail "$manifest_source names dump_file'): "test_manifest_naming_a_path_is_refused_by_the_fetch",
    # restore-verify.sh
    (VERIFY, "require BACKUP_WORK_DIR"): "test_a_missing_variable_is_named[restore-verify.sh-BACKUP_WORK_DIR]",
    (VERIFY, "require RESTORE_CLUSTER_DIR"): "test_a_missing_variable_is_named[restore-verify.sh-RESTORE_CLUSTER_DIR]",
    (VERIFY, "require RESTORE_MINIMUM_ROWS"): (
        "test_a_missing_variable_is_named[restore-verify.sh-RESTORE_MINIMUM_ROWS]"
    ),
    (VERIFY, 'fail "RESTORE_JOBS'): "test_malformed_setting_is_refused[verify-jobs]",
    (VERIFY, 'fail "RESTORE_CLUSTER_DIR $RESTORE_CLUSTER_DIR is not a writable'): (
        "test_malformed_setting_is_refused[verify-cluster-dir-missing]"
    ),
    (VERIFY, 'fail "RESTORE_CLUSTER_DIR $RESTORE_CLUSTER_DIR contains a quote'): (
        "test_malformed_setting_is_refused[verify-cluster-dir-quote]"
    ),
    (VERIFY, 'fail "PostgreSQL refuses to run as root'): "test_verify_refuses_to_run_as_root",
    (VERIFY, 'fail "RESTORE_MINIMUM_ROWS item'): "test_malformed_minimum_rows_is_refused",
    (VERIFY, 'fail "RESTORE_MINIMUM_ROWS names no table'): "test_malformed_setting_is_refused[verify-no-table]",
    (VERIFY, 'fail "uid $uid has no passwd entry, which initdb needs'): "test_verify_without_nss_wrapper_is_named",
    (VERIFY, 'fail "uid $uid has no passwd entry, and preloading'): "test_verify_with_a_wrong_nss_wrapper_is_named",
    (VERIFY, 'fail "no manifest.json in'): "test_verify_without_a_fetched_backup_fails",
    (VERIFY, 'fail "manifest database'): "test_tampered_manifest_is_refused[database]",
    (VERIFY, 'fail "manifest dump_file'): "test_tampered_manifest_is_refused[dump_file]",
    (VERIFY, 'fail "the manifest names $dump_file but'): "test_missing_dump_fails_the_verification",
    (
        VERIFY,
        'fail "dump $dump_file of backup $backup_id is $actual_size bytes but the manifest says $size_bytes: '
        "the dump is truncated",
    ): "test_truncated_dump_fails_the_size_check",
    (
        VERIFY,
        'fail "dump $dump_file of backup $backup_id is $actual_size bytes but the manifest says $size_bytes: '
        "the dump is not",
    ): "test_longer_dump_fails_the_size_check",
    (VERIFY, 'fail "sha256 of dump'): "test_corrupted_dump_fails_the_checksum",
    (
        VERIFY,
        'fail "RESTORE_CLUSTER_DIR $RESTORE_CLUSTER_DIR is too long',
    ): "test_too_long_cluster_directory_is_refused",
    (VERIFY, 'fail "initdb of the throwaway cluster'): "test_failing_initdb_is_named",
    (VERIFY, 'fail "pg_ctl start'): "test_throwaway_server_that_does_not_start_is_named",
    (VERIFY, 'fail "CREATE DATABASE'): "test_database_that_cannot_be_created_is_named",
    (VERIFY, 'fail "pg_restore of backup'): "test_dump_truncated_before_its_manifest_fails_the_restore",
    (VERIFY, 'fail "the row count and checksum query'): "test_failing_report_query_is_named",
    (VERIFY, 'fail "backup $backup_id restored no user tables'): "test_backup_without_tables_fails_the_verification",
    (VERIFY, 'fail "RESTORE_MINIMUM_ROWS not met'): "test_table_below_its_minimum_fails",
    (VERIFY, 'fail "pg_ctl stop'): "test_throwaway_server_that_does_not_stop_is_still_stopped",
}


def _exit_of(site_key: tuple[str, str]) -> tuple[str, str] | None:
    """The FAILURE_EXITS entry whose start names this call site, or None."""
    script, call = site_key
    named = [entry for entry in FAILURE_EXITS if entry[0] == script and call.startswith(entry[1])]
    return named[0] if len(named) == 1 else None


def test_every_failure_exit_has_a_test(request: pytest.FixtureRequest) -> None:
    """Each failure exit of the scripts is named by exactly one FAILURE_EXITS entry, each entry names exactly one
    exit, and each names a test of this module: a new `fail` without a fault test fails here."""
    sites = call_sites()
    without_entry = [f"{site.script}:{site.line}: {site.call}" for site in sites if _exit_of(site.key) is None]
    assert not without_entry, "failure exits without exactly one FAILURE_EXITS entry:\n" + "\n".join(without_entry)
    named = [_exit_of(site.key) for site in sites]
    unused = [entry for entry in FAILURE_EXITS if named.count(entry) != 1]
    assert not unused, f"FAILURE_EXITS entries that do not name exactly one call site: {unused}"
    module = request.node.parent
    assert isinstance(module, pytest.Module)
    tests = {item.name for item in module.collect()}
    assert not set(FAILURE_EXITS.values()) - tests, f"no such tests: {set(FAILURE_EXITS.values()) - tests}"


def test_failure_exits_can_be_told_apart() -> None:
    """No failure line of one exit can be taken for another's of the same script, so a test reaching the wrong
    exit cannot pass for one reaching the right one."""
    pairs = indistinguishable(call_sites())
    assert not pairs, "\n".join(f"{a.script}:{a.line} {a.call} / {b.script}:{b.line} {b.call}" for a, b in pairs)


@pytest.fixture(autouse=True)
def reaches_its_failure_exits(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that ran scripts: every exit FAILURE_EXITS gives it is among its runs' failure lines."""
    if "rig" not in request.fixturenames:
        yield
        return
    rig: Harness = request.getfixturevalue("rig")
    before = len(rig.runs)
    yield
    expected = []
    for site in call_sites():
        entry = _exit_of(site.key)
        if entry is not None and FAILURE_EXITS[entry] == request.node.name:
            expected.append(site)
    if not expected or request.node.stash.get(CALL_FAILED, False):
        return  # a test that failed has said why already
    lines = [line for run in rig.runs[before:] for line in failure_lines(run.stderr)]
    missing = [site for site in expected if not any(site.reached_by(line) for line in lines)]
    assert not missing, (
        f"{request.node.name} did not reach "
        + "; ".join(f"{site.script}:{site.line} {site.call}" for site in missing)
        + "\nfailure lines: "
        + "\n".join(f"{line.script}: FAILED at {line.step}: {line.message}" for line in lines)
    )


# --- helpers ------------------------------------------------------------------------------------


def assert_failed(run: ScriptRun | None, message: str) -> ScriptRun:
    """`run` ran, exited non-zero, and its stderr holds `message`; returns it for further checks."""
    assert run is not None, "the script did not run"
    assert run.returncode != 0, f"{run.script} succeeded:\n{run.output}"
    assert message in run.stderr, f"{message!r} not in:\n{run.stderr}"
    return run


def manifests(rig: Harness, prefix: str) -> list[str]:
    return [key for key in rig.s3.keys(f"{prefix}/") if key.endswith(f"/{contract.MANIFEST_FILE}")]


def shim(rig: Harness, **bodies: str) -> dict[str, str]:
    """A PATH on which each named tool is the bash script given, ahead of the real tools: a fault injected into
    one program the script calls."""
    directory = rig.scratch.directory("shim")
    for tool, body in bodies.items():
        (directory / tool).write_text(f"#!/usr/bin/env bash\n{body}", encoding="utf-8")
        (directory / tool).chmod(0o755)
    return {"PATH": f"{directory}:{rig.tools.path}"}


def real(rig: Harness, tool: str) -> str:
    """The path of the real `tool` the harness puts on PATH (for a shim to call)."""
    found = shutil.which(tool, path=rig.tools.path)
    assert found, tool
    return found


def copy_of(rig: Harness, source: Path, name: str = "copy") -> Path:
    """A new directory the scripts may write, with a copy of every file of `source` (subdirectories included)."""
    target = rig.scratch.directory(name)
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def set_field(path: Path, field: str, value: str | int) -> None:
    """Set one field of a JSON file the scripts wrote (one key per line), keeping its layout."""
    text = path.read_text(encoding="utf-8")
    changed, count = re.subn(
        rf'^(  "{field}": ).*?(,?)$', lambda match: match[1] + json.dumps(value) + match[2], text, flags=re.MULTILINE
    )
    assert count == 1, f"no field {field} in {path}"
    path.write_text(changed, encoding="utf-8")


def field_of(path: Path, field: str) -> str:
    value = json.loads(path.read_text(encoding="utf-8"))[field]
    return str(value)


# --- shared, read-only artifacts: copy before tampering -----------------------------------------


@pytest.fixture(scope="module")
def finished_dump(rig: Harness, small_database: str) -> Path:
    """The work directory of a finished backup-dump.sh run: plan, dump, dump-complete.json (never tampered with)."""
    dump, work_dir = rig.dump(small_database)
    dump.check()
    return work_dir


@pytest.fixture(scope="module")
def stored_backup(rig: Harness, small_database: str) -> BackupRun:
    """A complete backup in S3 under a prefix of this module's (never tampered with)."""
    return rig.backup(small_database, rig.s3.store(rig.unique_prefix("faults-stored"))).check()


@pytest.fixture(scope="module")
def fetched(rig: Harness, stored_backup: BackupRun) -> Path:
    """The work directory restore-fetch.sh filled from `stored_backup`: manifest.json and the dump."""
    fetch, work_dir = rig.fetch(stored_backup.store)
    fetch.check()
    return work_dir


@pytest.fixture(scope="module")
def directory_backup(rig: Harness, small_database: str) -> DirectoryStore:
    """A complete backup in a store directory (never tampered with: copy_of it)."""
    store = DirectoryStore(prefix="crm/dev", directory=str(rig.scratch.directory("faults-store")))
    rig.backup(small_database, store).check()
    return store


def copied_store(rig: Harness, store: DirectoryStore) -> tuple[DirectoryStore, Path]:
    """A copy of a store directory, and the directory of its one backup in the copy."""
    copy = copy_of(rig, Path(store.directory), "store")
    [run_dir] = (copy / store.prefix).iterdir()
    return DirectoryStore(prefix=store.prefix, directory=str(copy)), run_dir


def directory_store(rig: Harness) -> DirectoryStore:
    return DirectoryStore(prefix="crm/dev", directory=str(rig.scratch.directory("store")))


SLOW_PG_DUMP: Final = 'if [ "${1:-}" = --version ]; then echo "pg_dump (PostgreSQL) 16"; exit; fi\nexec sleep 120\n'
"""A pg_dump that writes nothing for two minutes (as while it waits for locks)."""


# --- configuration: every script, before any work ------------------------------------------------


def _required() -> list[tuple[str, str]]:
    """(script, variable) for every variable the contract says a script requires, S3 and directory ones too."""
    return [
        (container.script, variable.name)
        for container in (*contract.BACKUP_POD, *contract.RESTORE_POD)
        for variable in container.environment
        if variable.need is not Need.OPTIONAL
    ]


def _valid_environment(rig: Harness, script: str, database: str, *, directory: bool) -> dict[str, str]:
    work_dir = str(rig.scratch.directory("work"))
    store: S3Store | DirectoryStore = (
        directory_store(rig) if directory else rig.s3.store(rig.unique_prefix("configuration"))
    )
    if script == DUMP:
        return {**rig.postgres.connection(database), contract.BACKUP_WORK_DIR: work_dir}
    if script == VERIFY:
        return contract.verify_environment(
            {"crm_contact": 1}, work_dir=work_dir, cluster_dir=str(rig.scratch.directory("cluster"))
        )
    return contract.transfer_environment(store, work_dir)


@pytest.mark.parametrize(("script", "variable"), _required(), ids=lambda value: str(value))
def test_a_missing_variable_is_named(rig: Harness, small_database: str, script: str, variable: str) -> None:
    """Each variable the contract says a script requires stops it at `configuration` when unset, named."""
    directory = variable == contract.BACKUP_DIRECTORY
    environment = _valid_environment(rig, script, small_database, directory=directory)
    assert variable in environment
    del environment[variable]
    run = rig.run_script(script, environment)
    assert_failed(
        run, f"{script.removesuffix('.sh')}: FAILED at configuration: environment variable {variable} is not set: "
    )


# id -> script, what to set, the failure line expected.
MALFORMED: Final = {
    "dump-work-dir-missing": (
        DUMP,
        {contract.BACKUP_WORK_DIR: "/nonexistent/work"},
        "backup-dump: FAILED at configuration: BACKUP_WORK_DIR /nonexistent/work is not a writable directory",
    ),
    "dump-database-name": (
        DUMP,
        {contract.PGDATABASE: "crm/../other"},
        "backup-dump: FAILED at configuration: PGDATABASE 'crm/../other' is not a plain name",
    ),
    "upload-prefix": (
        UPLOAD,
        {contract.BACKUP_PREFIX: "../elsewhere"},
        "backup-upload: FAILED at configuration: BACKUP_PREFIX '../elsewhere' is not a plain path",
    ),
    "fetch-store-directory-missing": (
        FETCH,
        {contract.BACKUP_STORE: "directory", contract.BACKUP_DIRECTORY: "/nonexistent/backups"},
        "restore-fetch: FAILED at find-manifest: BACKUP_DIRECTORY /nonexistent/backups is not a directory",
    ),
    "verify-jobs": (
        VERIFY,
        {contract.RESTORE_JOBS: "0"},
        "restore-verify: FAILED at configuration: RESTORE_JOBS '0' is not a number of parallel jobs from 1 to 99",
    ),
    "verify-cluster-dir-missing": (
        VERIFY,
        {contract.RESTORE_CLUSTER_DIR: "/nonexistent/cluster"},
        "restore-verify: FAILED at configuration: RESTORE_CLUSTER_DIR /nonexistent/cluster is not a writable directory",
    ),
    "verify-cluster-dir-quote": (
        VERIFY,
        {contract.RESTORE_CLUSTER_DIR: "<a directory with a quote>"},
        "restore-verify: FAILED at configuration: RESTORE_CLUSTER_DIR ",
    ),
    "verify-no-table": (
        VERIFY,
        {contract.RESTORE_MINIMUM_ROWS: " , "},
        "restore-verify: FAILED at configuration: RESTORE_MINIMUM_ROWS names no table",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_setting_is_refused(rig: Harness, small_database: str, case: str) -> None:
    """A setting a script cannot use stops it before any work, naming the variable and the value."""
    script, changes, message = MALFORMED[case]
    environment = _valid_environment(rig, script, small_database, directory=False)
    environment.update(changes)
    if environment.get(contract.RESTORE_CLUSTER_DIR) == "<a directory with a quote>":
        quoted = rig.scratch.directory("it's")
        environment[contract.RESTORE_CLUSTER_DIR] = str(quoted)
        message += f"{quoted} contains a quote"
    assert_failed(rig.run_script(script, environment), message)


@pytest.mark.parametrize("value", ["0", "ten", "-5", "1000000"])
def test_malformed_wait_is_refused(rig: Harness, store: S3Store, value: str) -> None:
    """BACKUP_WAIT_SECONDS must be a whole number of seconds from 1 to 999999."""
    upload = rig.upload(store, rig.scratch.directory("empty-work"), {contract.BACKUP_WAIT_SECONDS: value})
    assert_failed(
        upload,
        f"backup-upload: FAILED at configuration: BACKUP_WAIT_SECONDS '{value}' is not a whole number of seconds "
        "from 1 to 999999",
    )


def test_unknown_store_is_refused(rig: Harness, finished_dump: Path) -> None:
    """A BACKUP_STORE other than s3 or directory stops the upload at `configuration`."""
    upload = rig.upload(directory_store(rig), copy_of(rig, finished_dump), {contract.BACKUP_STORE: "gcs"})
    assert_failed(upload, "backup-upload: FAILED at configuration: BACKUP_STORE 'gcs' is not one of: s3, directory")


def test_an_error_no_check_catches_is_still_named(rig: Harness, small_database: str) -> None:
    """A command failing where no check expects it (here pg_dump cannot even say its version) still ends the
    script with a failure line naming the step, through the exit trap."""
    broken = shim(rig, pg_dump='echo "pg_dump: error while loading shared libraries: libpq.so.5" >&2\nexit 127\n')
    dump, work_dir = rig.dump(small_database, env=broken)
    assert_failed(dump, "backup-dump: FAILED at plan: unexpected error (exit status 127)")
    assert "error while loading shared libraries" in dump.stderr
    assert (
        (work_dir / contract.DUMP_FAILED_FILE)
        .read_text(encoding="utf-8")
        .startswith("backup-dump: FAILED at plan: unexpected error")
    )


def test_sigterm_is_a_named_failure_the_other_container_sees(rig: Harness, store: S3Store) -> None:
    """SIGTERM (the Job's deadline, an eviction) ends a script with a failure line naming the step it stopped in,
    written where the other container of the pod looks for it."""
    work_dir = rig.scratch.directory("terminated-work")
    environment = {**contract.transfer_environment(store, str(work_dir)), contract.BACKUP_WAIT_SECONDS: "120"}
    upload = rig.run_script(UPLOAD, environment, terminate_after=2)
    failure = "backup-upload: FAILED at wait-for-dump: stopped by SIGTERM or SIGINT"
    assert_failed(upload, failure)
    assert upload.seconds < 60
    assert (work_dir / contract.UPLOAD_FAILED_FILE).read_text(encoding="utf-8").startswith(failure)


# --- backup: the dump ----------------------------------------------------------------------------
# The two containers run at once: a dump failure also fails the upload, which names it; an upload
# failure makes the dump stop pg_dump. Either way no manifest is stored.


def test_wrong_password_fails_at_connect(rig: Harness, small_database: str, store: S3Store) -> None:
    """A wrong password stops the dump at `connect`, with the server's reason; the upload, still waiting for
    the dump's plan, fails naming it, and nothing is uploaded."""
    backup = rig.backup(small_database, store, password="not-the-password")
    failure = f'backup-dump: FAILED at connect: cannot connect to database "{small_database}"'
    assert_failed(backup.dump, failure)
    assert 'password authentication failed for user "crm"' in backup.dump.stderr
    assert_failed(backup.upload, f"backup-upload: FAILED at wait-for-dump: {failure}")
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_server_that_refuses_the_probe_query_is_named(rig: Harness) -> None:
    """A server that lets the role in but refuses its first query (here pg_database_size is not granted) stops
    the dump at `connect`, told apart from a refused connection, with the server's reason."""
    database = rig.postgres.create_database("crm_no_size")
    rig.postgres.psql("REVOKE EXECUTE ON FUNCTION pg_catalog.pg_database_size(name) FROM PUBLIC", database=database)
    dump, _ = rig.dump(database)
    assert_failed(
        dump, f'backup-dump: FAILED at connect: connected to database "{database}" at 127.0.0.1:{rig.postgres.port}'
    )
    assert "permission denied for function pg_database_size" in dump.stderr


def test_database_without_tables_is_refused(rig: Harness, store: S3Store) -> None:
    """A database with no user tables is refused at `check-tables` and nothing is uploaded."""
    database = rig.postgres.create_database("crm_empty")
    backup = rig.backup(database, store)
    failure = (
        f'backup-dump: FAILED at check-tables: database "{database}" at 127.0.0.1:{rig.postgres.port} has no user '
        "tables; refusing to store a backup that would restore to nothing"
    )
    assert_failed(backup.dump, failure)
    assert_failed(backup.upload, f"backup-upload: FAILED at wait-for-dump: {failure}")
    assert not (backup.work_dir / f"{database}.dump").exists()
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_dump_does_not_start_after_the_upload_failed(rig: Harness, small_database: str) -> None:
    """When the upload container has failed before pg_dump starts, the dump does not start it, and names why."""
    work_dir = rig.scratch.directory("upload-failed-work")
    upload_failure = "backup-upload: FAILED at check-bucket: cannot list s3://crm-backups-test/x/: access denied"
    (work_dir / contract.UPLOAD_FAILED_FILE).write_text(upload_failure + "\n", encoding="utf-8")
    dump, _ = rig.dump(small_database, work_dir=work_dir)
    assert_failed(dump, f'backup-dump: FAILED at pg_dump: not starting pg_dump of database "{small_database}" at ')
    assert f"the upload failed: {upload_failure}" in dump.stderr
    assert (work_dir / f"{small_database}.dump").stat().st_size == 0


def test_failing_pg_dump_is_named_and_leaves_no_manifest(rig: Harness, store: S3Store) -> None:
    """pg_dump failing inside `pg_dump | tee | sha256sum` stops the dump at `pg_dump` with pg_dump's own reason;
    the upload, already streaming, fails at `upload-dump` naming it, and no manifest is stored anywhere."""
    database = "crm_unreadable"
    seed(rig.postgres, database, SMALL_SEED)
    # A table the backup role may not read: pg_dump fails; tee and sha256sum, given a short stream, succeed.
    rig.postgres.psql("CREATE TABLE zz_secret (note text); INSERT INTO zz_secret VALUES ('x')", database=database)
    backup = rig.backup(database, store)
    failure = f'backup-dump: FAILED at pg_dump: pg_dump of database "{database}" at '
    dump = assert_failed(backup.dump, failure)
    assert "permission denied for table zz_secret" in dump.stderr
    assert_failed(backup.upload, f"backup-upload: FAILED at upload-dump: {failure}")
    assert not (backup.work_dir / contract.MANIFEST_FILE).exists()
    assert manifests(rig, store.prefix) == []


def test_failed_write_of_the_dump_is_named(rig: Harness, small_database: str) -> None:
    """pg_dump unable to write the dump file (a full work volume: here the file is /dev/full) stops the dump at
    `pg_dump` with pg_dump's own reason."""
    work_dir = rig.scratch.directory("full-work")
    (work_dir / f"{small_database}.dump").symlink_to("/dev/full")
    dump, _ = rig.dump(small_database, work_dir=work_dir)
    assert_failed(dump, f'backup-dump: FAILED at pg_dump: pg_dump of database "{small_database}" at ')
    assert "No space left on device" in dump.stderr
    assert not (work_dir / contract.DUMP_COMPLETE_FILE).exists()
    assert (
        (work_dir / contract.DUMP_FAILED_FILE)
        .read_text(encoding="utf-8")
        .startswith("backup-dump: FAILED at pg_dump: ")
    )


# --- backup: the upload, before and while streaming ---------------------------------------------


def test_upload_without_a_dump_container_fails(rig: Harness, store: S3Store) -> None:
    """An upload whose dump container never writes its plan stops at `wait-for-dump` after BACKUP_WAIT_SECONDS."""
    upload = rig.upload(store, rig.scratch.directory("empty-work"), {contract.BACKUP_WAIT_SECONDS: "1"})
    assert_failed(
        upload,
        "backup-upload: FAILED at wait-for-dump: no plan.json from the dump container after 1 s (BACKUP_WAIT_SECONDS)",
    )
    assert rig.s3.keys(f"{store.prefix}/") == []


@pytest.mark.parametrize(
    ("field", "value"), [("backup_id", "yesterday"), ("database", "crm small")], ids=["backup_id", "database"]
)
def test_malformed_plan_is_refused(rig: Harness, finished_dump: Path, field: str, value: str) -> None:
    """A plan.json whose backup id or database the upload could not use as a key is refused at `wait-for-dump`."""
    work_dir = copy_of(rig, finished_dump)
    set_field(work_dir / contract.PLAN_FILE, field, value)
    upload = rig.upload(directory_store(rig), work_dir)
    assert_failed(upload, f"backup-upload: FAILED at wait-for-dump: plan {field} '{value}' is not ")


def test_unmounted_store_directory_fails_the_upload(rig: Harness, finished_dump: Path) -> None:
    """In directory mode a missing store directory stops the upload at `check-directory`."""
    upload = rig.upload(DirectoryStore(prefix="crm/dev", directory="/nonexistent/backups"), copy_of(rig, finished_dump))
    assert_failed(
        upload,
        "backup-upload: FAILED at check-directory: BACKUP_DIRECTORY /nonexistent/backups is not a writable directory",
    )


def test_store_directory_that_cannot_hold_the_run_fails(rig: Harness, finished_dump: Path) -> None:
    """A store directory where the run's directory cannot be made (a file is in the way) stops the upload at
    `check-directory`, with mkdir's reason."""
    store = directory_store(rig)
    (Path(store.directory) / "crm").write_text("not a directory\n", encoding="utf-8")
    upload = rig.upload(store, copy_of(rig, finished_dump))
    assert_failed(upload, f"backup-upload: FAILED at check-directory: cannot create {store.directory}/crm/dev/")


def test_unreachable_endpoint_fails_the_upload(rig: Harness, finished_dump: Path, prefix: str) -> None:
    """An S3 endpoint that does not answer stops the upload at `check-bucket`, naming the endpoint."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    upload = rig.upload(rig.s3.store(prefix, endpoint_url=endpoint), copy_of(rig, finished_dump))
    assert_failed(upload, f"backup-upload: FAILED at check-bucket: cannot list s3://{BUCKET}/")
    assert f"cannot reach the S3 endpoint {endpoint}" in upload.stderr
    assert manifests(rig, prefix) == []


def test_missing_bucket_fails_the_upload(rig: Harness, finished_dump: Path, prefix: str) -> None:
    """A bucket that does not exist stops the upload at `check-bucket`, naming the bucket."""
    upload = rig.upload(rig.s3.store(prefix, bucket="crm-backups-no-such-bucket"), copy_of(rig, finished_dump))
    assert_failed(upload, "backup-upload: FAILED at check-bucket: ")
    assert "bucket crm-backups-no-such-bucket does not exist" in upload.stderr
    assert manifests(rig, prefix) == []


def test_failed_upload_stops_a_running_pg_dump(rig: Harness, small_database: str, store: S3Store) -> None:
    """When the upload fails (here S3 refuses every call), the dump stops pg_dump instead of finishing a dump
    nobody will store, and says why."""
    slow = shim(rig, pg_dump=SLOW_PG_DUMP)
    refused = shim(
        rig,
        aws='echo "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied" >&2\n'
        "exit 1\n",
    )
    backup = rig.backup(small_database, store, dump_env=slow, upload_env=refused)
    upload = assert_failed(backup.upload, "backup-upload: FAILED at check-bucket: cannot list s3://")
    assert "access denied (check the IAM role, the bucket policy and the KMS key policy)" in upload.stderr
    assert_failed(
        backup.dump,
        f'backup-dump: FAILED at pg_dump: stopped pg_dump of database "{small_database}" at 127.0.0.1:'
        f'{rig.postgres.port} as "crm" because the upload failed: backup-upload: FAILED at check-bucket: ',
    )
    assert backup.seconds < 60, f"the dump ran on for {backup.seconds:.0f} s after the upload had failed"
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_store_failing_mid_stream_stops_the_upload_and_the_dump(
    rig: Harness, small_database: str, store: S3Store
) -> None:
    """A store that stops reading while pg_dump still runs ends the stream at once (not at the end of the
    dump): the upload names the store's error at `upload-dump`, and the dump stops pg_dump."""
    slow = shim(rig, pg_dump=SLOW_PG_DUMP)
    broken = shim(
        rig,
        aws=f"""if [ "$1" = s3 ] && [ "$2" = cp ]; then
  echo "Connection was closed before we received a valid response from endpoint URL" >&2
  exit 1
fi
exec "{real(rig, "aws")}" "$@"
""",
    )
    backup = rig.backup(small_database, store, dump_env=slow, upload_env=broken)
    upload = assert_failed(backup.upload, "backup-upload: FAILED at upload-dump: upload of the dump to s3://")
    assert "cannot reach the S3 endpoint" in upload.stderr
    assert_failed(backup.dump, "because the upload failed: backup-upload: FAILED at upload-dump: ")
    assert backup.seconds < 60, f"the stream ran on for {backup.seconds:.0f} s after the store had failed"
    assert manifests(rig, store.prefix) == []


def test_store_that_ends_before_the_dump_fails_the_upload(rig: Harness, small_database: str, store: S3Store) -> None:
    """A store command that ends, even successfully, while the dump is still being written fails the upload at
    `upload-dump` (the dump would be stored in part), and the dump stops pg_dump."""
    slow = shim(rig, pg_dump=SLOW_PG_DUMP)
    quitting = shim(rig, aws=f'if [ "$1" = s3 ] && [ "$2" = cp ]; then exit 0; fi\nexec "{real(rig, "aws")}" "$@"\n')
    backup = rig.backup(small_database, store, dump_env=slow, upload_env=quitting)
    assert_failed(backup.upload, "it stopped reading before the dump was complete").stderr.startswith(
        "backup-upload: FAILED at upload-dump: upload of the dump to s3://"
    )
    assert_failed(backup.dump, "because the upload failed: backup-upload: FAILED at upload-dump: ")
    assert manifests(rig, store.prefix) == []


def _large_dump(rig: Harness, finished_dump: Path) -> Path:
    """A copy of the finished dump's work directory with 2 MiB more dump: more than the pipes between the stream's
    stages hold, so a stage that stops reading is noticed by the one writing to it."""
    work_dir = copy_of(rig, finished_dump)
    [dump_path] = work_dir.glob("*.dump")
    with dump_path.open("ab") as dump:
        dump.write(os.urandom(2 * 1024 * 1024))
    set_field(work_dir / contract.DUMP_COMPLETE_FILE, "size_bytes", dump_path.stat().st_size)
    return work_dir


def test_store_that_stops_reading_mid_stream_fails(rig: Harness, finished_dump: Path, store: S3Store) -> None:
    """A store that stops reading in the middle of the stream yet reports success (tee, writing to it, is killed
    by SIGPIPE) fails the upload at `upload-dump`, and no manifest is stored."""
    quitting = shim(
        rig,
        aws='if [ "$1" = s3 ] && [ "$2" = cp ]; then head -c 1 >/dev/null; exit 0; fi\n'
        f'exec "{real(rig, "aws")}" "$@"\n',
    )
    upload = rig.upload(store, _large_dump(rig, finished_dump), quitting)
    assert_failed(
        upload,
        "backup-upload: FAILED at upload-dump: the stream broke off: tee exited with status 141 (SIGPIPE), so the "
        "store or sha256sum stopped reading before the end of the dump (sha256sum exit status 0)",
    )
    assert manifests(rig, store.prefix) == []


def test_stream_cut_short_fails_the_upload(rig: Harness, finished_dump: Path) -> None:
    """A stream that ends early without an error of its own (tee and the store content with part of the dump)
    fails the upload at `upload-dump` on the dump file's reader, and nothing is stored under the final name."""
    store = directory_store(rig)
    cut = shim(rig, tee=f'head -c 1000 | "{real(rig, "tee")}" "$@"\n')
    upload = rig.upload(store, _large_dump(rig, finished_dump), cut)
    assert_failed(upload, "backup-upload: FAILED at upload-dump: reading ")
    assert re.search(r"reading \S+\.dump failed \(exit status \d+\)", upload.stderr), upload.stderr
    assert not list(Path(store.directory).rglob("*.dump")) and not list(Path(store.directory).rglob("manifest.json"))


def test_unreadable_dump_fails_the_upload(rig: Harness, finished_dump: Path) -> None:
    """A dump file the upload cannot open (the plan is there, the file is not) fails `upload-dump` with the
    shell's reason."""
    work_dir = copy_of(rig, finished_dump)
    for dump_path in work_dir.glob("*.dump"):
        dump_path.unlink()
    upload = rig.upload(directory_store(rig), work_dir)
    assert_failed(upload, "backup-upload: FAILED at upload-dump: reading ")
    assert "No such file or directory" in upload.stderr


def test_failing_tee_fails_the_upload(rig: Harness, finished_dump: Path) -> None:
    """tee (which hands the stream to sha256sum) failing fails the upload at `upload-dump` with tee's words."""
    broken = shim(rig, tee='echo "tee: /dev/fd/63: Input/output error" >&2\ncat >/dev/null\nexit 1\n')
    upload = rig.upload(directory_store(rig), copy_of(rig, finished_dump), broken)
    assert_failed(
        upload, "backup-upload: FAILED at upload-dump: passing the dump to sha256sum failed: tee: /dev/fd/63: Input"
    )


def test_failing_sha256sum_fails_the_upload(rig: Harness, finished_dump: Path) -> None:
    """sha256sum failing on the stream fails the upload at `upload-dump`: no checksum, no manifest."""
    broken = shim(rig, sha256sum='cat >/dev/null\necho "sha256sum: -: Input/output error" >&2\nexit 1\n')
    store = directory_store(rig)
    upload = rig.upload(store, copy_of(rig, finished_dump), broken)
    assert_failed(upload, "backup-upload: FAILED at upload-dump: sha256sum of the stream failed (exit status 1)")
    assert not list(Path(store.directory).rglob("manifest.json"))


def test_sha256sum_printing_no_digest_fails_the_upload(rig: Harness, finished_dump: Path) -> None:
    """A sha256sum that prints something other than a digest fails the upload rather than store it as one."""
    broken = shim(rig, sha256sum='cat >/dev/null\necho "d41d8cd98f00b204  -"\n')
    upload = rig.upload(directory_store(rig), copy_of(rig, finished_dump), broken)
    assert_failed(upload, "backup-upload: FAILED at upload-dump: sha256sum printed 'd41d8cd98f00b204', not a sha256")


def test_dump_that_stops_growing_fails_the_upload(rig: Harness, finished_dump: Path) -> None:
    """A dump container killed mid-dump (a plan and part of a dump, then neither dump-complete.json nor a
    failure, and no heartbeat) fails the upload at `upload-dump` after BACKUP_WAIT_SECONDS."""
    work_dir = copy_of(rig, finished_dump)
    (work_dir / contract.DUMP_COMPLETE_FILE).unlink()
    [dump_path] = work_dir.glob("*.dump")
    dump_path.write_bytes(dump_path.read_bytes()[:1000])
    store = directory_store(rig)
    upload = rig.upload(store, work_dir, {contract.BACKUP_WAIT_SECONDS: "1"})
    assert_failed(
        upload,
        "backup-upload: FAILED at upload-dump: the dump container has stopped: for 1 s (BACKUP_WAIT_SECONDS) "
        f"{dump_path} did not grow and its heartbeat did not change, and it neither finished nor failed (was it "
        "killed? see its status)",
    )
    assert not list(Path(store.directory).rglob("manifest.json"))


def test_dump_waiting_for_locks_is_not_taken_for_dead(rig: Harness, small_database: str, store: S3Store) -> None:
    """A pg_dump that writes nothing for longer than BACKUP_WAIT_SECONDS (as while it waits for a table lock)
    keeps the dump container's heartbeat going, so the upload waits for it and the backup completes."""
    quiet = shim(
        rig,
        pg_dump=f'if [ "${{1:-}}" != --version ]; then sleep 4; fi\nexec "{rig.tools.postgres_bin / "pg_dump"}" "$@"\n',
    )
    backup = rig.backup(small_database, store, dump_env=quiet, upload_env={contract.BACKUP_WAIT_SECONDS: "2"})
    backup.check()
    assert backup.seconds > 4


# --- backup: after the stream -------------------------------------------------------------------


def test_dump_changed_under_the_upload_is_refused(rig: Harness, finished_dump: Path) -> None:
    """Fewer bytes streamed than the finished dump has (here: the file cut short behind the dump's back) fail
    `verify-dump`, and no manifest is stored."""
    work_dir = copy_of(rig, finished_dump)
    [dump_path] = work_dir.glob("*.dump")
    size = dump_path.stat().st_size
    dump_path.write_bytes(dump_path.read_bytes()[:1000])
    store = directory_store(rig)
    upload = rig.upload(store, work_dir)
    assert_failed(
        upload,
        f"backup-upload: FAILED at verify-dump: 1000 bytes of {dump_path} were streamed, but the finished dump is "
        f"{size} bytes: it changed while it was read",
    )
    assert not list(Path(store.directory).rglob("manifest.json"))


def test_dump_complete_of_another_backup_is_refused(rig: Harness, finished_dump: Path) -> None:
    """A dump-complete.json that names another backup than the plan (files of two runs mixed up) fails
    `verify-dump`: the manifest would describe the wrong dump."""
    work_dir = copy_of(rig, finished_dump)
    set_field(work_dir / contract.DUMP_COMPLETE_FILE, "backup_id", "20000101T000000Z")
    upload = rig.upload(directory_store(rig), work_dir)
    planned = field_of(work_dir / contract.PLAN_FILE, "backup_id")
    assert_failed(
        upload,
        f"backup-upload: FAILED at verify-dump: dump-complete.json is of backup 20000101T000000Z, but the plan said "
        f"{planned}",
    )


def test_unreadable_stored_dump_fails_the_upload(rig: Harness, finished_dump: Path, store: S3Store) -> None:
    """A stored dump that cannot be read back (S3 refuses head-object) fails `verify-dump`: unchecked, it gets no
    manifest."""
    refused = shim(
        rig,
        aws='if [ "$2" = head-object ]; then\n'
        '  echo "An error occurred (403) when calling the HeadObject operation: Forbidden" >&2\n  exit 1\nfi\n'
        f'exec "{real(rig, "aws")}" "$@"\n',
    )
    upload = rig.upload(store, copy_of(rig, finished_dump), refused)
    assert_failed(upload, f"backup-upload: FAILED at verify-dump: cannot read back s3://{BUCKET}/{store.prefix}/")
    assert "access denied" in upload.stderr
    assert manifests(rig, store.prefix) == []


def test_stored_dump_of_another_size_is_refused(rig: Harness, finished_dump: Path, store: S3Store) -> None:
    """A dump object of another size than the dump (the store kept only part of the stream, and said nothing)
    fails `verify-dump`, and no manifest is stored."""
    cut = shim(
        rig,
        aws='if [ "$1" = s3 ] && [ "$2" = cp ]; then\n'
        f'  {{ head -c 1000; cat >/dev/null; }} | "{real(rig, "aws")}" "$@"\n  exit\nfi\n'
        f'exec "{real(rig, "aws")}" "$@"\n',
    )
    work_dir = copy_of(rig, finished_dump)
    size = field_of(work_dir / contract.DUMP_COMPLETE_FILE, "size_bytes")
    upload = rig.upload(store, work_dir, cut)
    assert_failed(upload, f"backup-upload: FAILED at verify-dump: s3://{BUCKET}/{store.prefix}/")
    assert f"is 1000 bytes in S3 but the dump is {size} bytes" in upload.stderr
    assert manifests(rig, store.prefix) == []


def _without_arguments(rig: Harness, command: str, *removed: str) -> dict[str, str]:
    """A PATH whose `aws` drops each option in `removed` (and its value) from `aws <command...>` calls: what a
    store that ignored those request headers would keep."""
    drop = " ".join(removed)
    return shim(
        rig,
        aws=f"""if [ "$1 $2" = "{command}" ]; then
  kept=()
  while [ "$#" -gt 0 ]; do
    case " {drop} " in
      *" $1 "*) shift 2 ;;
      *) kept+=("$1"); shift ;;
    esac
  done
  set -- "${{kept[@]}}"
fi
exec "{real(rig, "aws")}" "$@"
""",
    )


def test_dump_stored_without_kms_is_refused(rig: Harness, finished_dump: Path, store: S3Store) -> None:
    """A dump object S3 stored without SSE-KMS (the encryption request was lost on the way) fails `verify-dump`,
    and no manifest is stored: an unencrypted dump never becomes a backup."""
    unencrypted = _without_arguments(rig, "s3 cp", "--sse", "--sse-kms-key-id")
    upload = rig.upload(store, copy_of(rig, finished_dump), unencrypted)
    assert_failed(upload, f"backup-upload: FAILED at verify-dump: the dump s3://{BUCKET}/{store.prefix}/")
    assert "is stored with encryption 'None', not aws:kms" in upload.stderr
    assert manifests(rig, store.prefix) == []


def test_manifest_stored_without_kms_is_refused(rig: Harness, finished_dump: Path, store: S3Store) -> None:
    """A manifest S3 stored without SSE-KMS fails `verify-manifest`."""
    unencrypted = _without_arguments(rig, "s3api put-object", "--server-side-encryption", "--ssekms-key-id")
    upload = rig.upload(store, copy_of(rig, finished_dump), unencrypted)
    assert_failed(upload, f"backup-upload: FAILED at verify-manifest: the manifest s3://{BUCKET}/{store.prefix}/")
    assert "manifest.json is stored with encryption 'None', not aws:kms" in upload.stderr


def test_manifest_stored_with_another_checksum_is_refused(rig: Harness, finished_dump: Path, store: S3Store) -> None:
    """A manifest S3 stored with other bytes than the local one (its SHA256, which S3 computed and checked on
    arrival, differs) fails `verify-manifest`."""
    altered = shim(
        rig,
        aws=f"""if [ "$2" = put-object ]; then
  arguments=()
  while [ "$#" -gt 0 ]; do
    if [ "$1" = --body ]; then
      {{ cat -- "$2"; printf ' '; }} >"$TMPDIR/altered-manifest.json"
      arguments+=(--body "$TMPDIR/altered-manifest.json")
      shift 2
    else
      arguments+=("$1")
      shift
    fi
  done
  set -- "${{arguments[@]}}"
fi
exec "{real(rig, "aws")}" "$@"
""",
    )
    upload = rig.upload(store, copy_of(rig, finished_dump), altered)
    assert_failed(upload, f"backup-upload: FAILED at verify-manifest: S3 stored s3://{BUCKET}/{store.prefix}/")
    assert re.search(r"with SHA256 '[A-Za-z0-9+/=]{44}', not the local manifest's [A-Za-z0-9+/=]{44}", upload.stderr)


def test_complete_backup_is_never_overwritten(rig: Harness, stored_backup: BackupRun) -> None:
    """Uploading the same backup id again stops at `check-run` and leaves the stored backup as it was."""
    dump_key, manifest_key = stored_backup.keys
    before = rig.s3.read(manifest_key), rig.s3.read(dump_key)
    again = rig.upload(stored_backup.store, copy_of(rig, stored_backup.work_dir))
    assert_failed(
        again,
        f"backup-upload: FAILED at check-run: backup {stored_backup.manifest['backup_id']} is already complete in S3 "
        f"at s3://{BUCKET}/{manifest_key}; refusing to overwrite it",
    )
    assert (rig.s3.read(manifest_key), rig.s3.read(dump_key)) == before


def test_manifest_written_meanwhile_is_not_overwritten(rig: Harness, finished_dump: Path, store: S3Store) -> None:
    """A manifest that appears after `check-run` (another run of the same second) makes S3 refuse the
    conditional put of ours at `upload-manifest`; that run's manifest stays, and our dump, stored under
    its own run token, replaced nothing."""
    work_dir = copy_of(rig, finished_dump)
    backup_id = field_of(work_dir / contract.PLAN_FILE, "backup_id")
    database = field_of(work_dir / contract.PLAN_FILE, "database")
    _, manifest_key = contract.run_keys(store.prefix, backup_id, "unused")
    theirs = rig.scratch.directory("theirs") / "their-manifest.json"
    theirs.write_text('{"written_by": "the other run"}\n', encoding="utf-8")
    real_aws = real(rig, "aws")
    race = shim(
        rig,
        aws=f"""if [ "$2" = put-object ]; then
  "{real_aws}" s3api put-object --bucket {BUCKET} --key {manifest_key} --body {theirs} >/dev/null
fi
exec "{real_aws}" "$@"
""",
    )
    upload = rig.upload(store, work_dir, race)
    assert_failed(
        upload,
        f"backup-upload: FAILED at upload-manifest: upload of {work_dir}/manifest.json to s3://{BUCKET}/{manifest_key} "
        "failed: the object was written meanwhile, and S3 refused to overwrite it "
        "(conditional write, If-None-Match: *)",
    )
    assert rig.s3.read(manifest_key) == theirs.read_bytes()
    [ours] = [key for key in rig.s3.keys(f"{store.prefix}/") if key.endswith(".dump")]
    assert re.fullmatch(rf".*/{database}\.[0-9a-f]{{16}}\.dump", ours)


# --- backup: the store directory (dev) -----------------------------------------------------------


def test_complete_backup_in_the_store_directory_is_never_overwritten(
    rig: Harness, directory_backup: DirectoryStore, finished_dump: Path
) -> None:
    """In directory mode an upload of a backup id that is complete already stops at `check-directory`."""
    store, run_dir = copied_store(rig, directory_backup)
    before = (run_dir / contract.MANIFEST_FILE).read_bytes()
    work_dir = copy_of(rig, finished_dump)
    backup_id = run_dir.name
    set_field(work_dir / contract.PLAN_FILE, "backup_id", backup_id)
    set_field(work_dir / contract.DUMP_COMPLETE_FILE, "backup_id", backup_id)
    again = rig.upload(store, work_dir)
    assert_failed(
        again,
        f"backup-upload: FAILED at check-directory: backup {backup_id} is already complete in the store directory at "
        f"{run_dir}/manifest.json; refusing to overwrite it",
    )
    assert (run_dir / contract.MANIFEST_FILE).read_bytes() == before


def _store_mv(rig: Harness, store: DirectoryStore, pattern: str, action: str) -> dict[str, str]:
    """A PATH whose `mv` does `action` instead of (or before, if it goes on) renaming onto a path under the store
    directory that matches the shell `pattern`; every other rename is a real one."""
    return shim(
        rig,
        mv=f"""target=${{!#}}
case $target in
  {store.directory}/{pattern})
    {action}
    ;;
esac
exec "{real(rig, "mv")}" "$@"
""",
    )


def test_failed_rename_of_the_dump_in_the_store_directory(rig: Harness, finished_dump: Path) -> None:
    """A dump that cannot be renamed to its final name in the store directory fails `verify-dump` with mv's words,
    and no manifest is written."""
    store = directory_store(rig)
    refused = _store_mv(rig, store, "*.dump", 'echo "mv: cannot move: Read-only file system" >&2; exit 1')
    upload = rig.upload(store, copy_of(rig, finished_dump), refused)
    assert_failed(upload, f"backup-upload: FAILED at verify-dump: rename of the dump to {store.directory}/crm/dev/")
    assert "Read-only file system" in upload.stderr
    assert not list(Path(store.directory).rglob("manifest.json"))


def test_manifest_appearing_in_the_store_directory_is_kept(rig: Harness, finished_dump: Path) -> None:
    """A manifest that appears in the run's store directory while the dump is stored (another run of the same
    second) is not replaced: the upload stops at `upload-manifest`."""
    store = directory_store(rig)
    theirs = '{"written_by": "the other run"}'
    race = _store_mv(rig, store, "*.dump", f"printf '%s\\n' '{theirs}' >\"${{target%/*}}/manifest.json\"")
    upload = rig.upload(store, copy_of(rig, finished_dump), race)
    assert_failed(upload, "backup-upload: FAILED at upload-manifest: a manifest of backup ")
    assert "meanwhile (another run of the same second?); refusing to overwrite it" in upload.stderr
    [manifest] = Path(store.directory).rglob("manifest.json")
    assert manifest.read_text(encoding="utf-8") == theirs + "\n"


def test_failed_copy_of_the_manifest_into_the_store_directory(rig: Harness, finished_dump: Path) -> None:
    """A manifest that cannot be copied into the store directory (a full volume) fails `upload-manifest` with
    cp's words."""
    store = directory_store(rig)
    full = shim(rig, cp='echo "cp: error writing: No space left on device" >&2\nexit 1\n')
    upload = rig.upload(store, copy_of(rig, finished_dump), full)
    assert_failed(upload, "backup-upload: FAILED at upload-manifest: copy of ")
    assert "No space left on device" in upload.stderr
    assert not list(Path(store.directory).rglob("manifest.json"))


def test_failed_rename_of_the_manifest_in_the_store_directory(rig: Harness, finished_dump: Path) -> None:
    """A manifest copy that cannot be renamed to manifest.json in the store directory fails `upload-manifest`."""
    store = directory_store(rig)
    refused = _store_mv(rig, store, "*/manifest.json", 'echo "mv: cannot move: Input/output error" >&2; exit 1')
    upload = rig.upload(store, copy_of(rig, finished_dump), refused)
    assert_failed(upload, f"backup-upload: FAILED at upload-manifest: rename to {store.directory}/crm/dev/")
    assert not list(Path(store.directory).rglob("manifest.json"))


def test_stored_file_of_another_size_is_refused(rig: Harness, finished_dump: Path) -> None:
    """A file in the store directory of another size than what was written (as stat reports it) fails
    `verify-dump`, and no manifest is written."""
    store = directory_store(rig)
    wrong = shim(
        rig,
        stat=f'case "$*" in *"{store.directory}"*) echo 7; exit 0 ;; esac\nexec "{real(rig, "stat")}" "$@"\n',
    )
    upload = rig.upload(store, copy_of(rig, finished_dump), wrong)
    assert_failed(upload, f"backup-upload: FAILED at verify-dump: {store.directory}/crm/dev/")
    assert "is 7 bytes in the store but " in upload.stderr
    assert not list(Path(store.directory).rglob("manifest.json"))


# --- restore: the fetch --------------------------------------------------------------------------


def test_unreachable_endpoint_fails_the_fetch(rig: Harness, prefix: str) -> None:
    """An S3 endpoint that does not answer stops the fetch at `find-manifest`, naming the endpoint."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    fetch, _ = rig.fetch(rig.s3.store(prefix, endpoint_url=endpoint))
    assert_failed(fetch, "restore-fetch: FAILED at find-manifest: cannot list s3://")
    assert f"cannot reach the S3 endpoint {endpoint}" in fetch.stderr


def test_missing_bucket_fails_the_fetch(rig: Harness, prefix: str) -> None:
    """A bucket that does not exist stops the fetch at `find-manifest`, naming the bucket; no verification runs."""
    restore = rig.restore(rig.s3.store(prefix, bucket="crm-backups-no-such-bucket"), {"crm_contact": 1})
    assert_failed(restore.fetch, "restore-fetch: FAILED at find-manifest: ")
    assert "bucket crm-backups-no-such-bucket does not exist" in restore.fetch.stderr
    assert restore.verify is None


def test_no_backup_found(rig: Harness, store: S3Store) -> None:
    """An empty prefix stops the fetch at `find-manifest` with "no backup found"."""
    fetch, _ = rig.fetch(store)
    assert_failed(
        fetch,
        f"restore-fetch: FAILED at find-manifest: no backup found: no {store.prefix}/<backup_id>/manifest.json in S3 "
        f"at s3://{store.bucket}",
    )


def test_run_without_a_manifest_is_not_a_backup(rig: Harness, store: S3Store) -> None:
    """A dump whose manifest never arrived is not offered for restore: "no backup found"."""
    rig.s3.write(f"{store.prefix}/20260801T020000Z/crm.dump", b"PGDMP")
    fetch, _ = rig.fetch(store)
    assert_failed(fetch, "restore-fetch: FAILED at find-manifest: no backup found")


def test_failed_download_of_the_manifest(rig: Harness, stored_backup: BackupRun) -> None:
    """A manifest that is listed but cannot be downloaded stops the fetch at `download-manifest`, naming it."""
    refused = shim(
        rig,
        aws='if [ "$1 $2" = "s3 cp" ] && [[ $3 == */manifest.json ]]; then\n'
        '  echo "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied" >&2\n'
        f'  exit 1\nfi\nexec "{real(rig, "aws")}" "$@"\n',
    )
    _, manifest_key = stored_backup.keys
    fetch, _ = rig.fetch(stored_backup.store, refused)
    assert_failed(
        fetch, f"restore-fetch: FAILED at download-manifest: download of the manifest s3://{BUCKET}/{manifest_key} "
    )
    assert "access denied" in fetch.stderr


def test_manifest_without_its_dump_fails_the_fetch(rig: Harness, stored_backup: BackupRun, prefix: str) -> None:
    """A manifest whose dump object is missing stops the fetch at `download-dump`, naming the dump's key."""
    dump_key, manifest_key = stored_backup.keys
    rig.s3.write(manifest_key.replace(stored_backup.store.prefix, prefix, 1), rig.s3.read(manifest_key))
    fetch, _ = rig.fetch(rig.s3.store(prefix))
    missing = dump_key.replace(stored_backup.store.prefix, prefix, 1)
    assert_failed(fetch, f"restore-fetch: FAILED at download-dump: download of the dump s3://{BUCKET}/{missing} failed")


def test_no_backup_found_in_the_store_directory(rig: Harness) -> None:
    """In directory mode an empty store stops the fetch at `find-manifest` with "no backup found"."""
    store = DirectoryStore(prefix="crm/dev", directory=str(rig.scratch.directory("empty-store")))
    fetch, _ = rig.fetch(store)
    assert_failed(
        fetch,
        "restore-fetch: FAILED at find-manifest: no backup found: no crm/dev/<backup_id>/manifest.json in the store "
        f"directory {store.directory}",
    )


def test_unreadable_manifest_in_the_store_directory(rig: Harness, directory_backup: DirectoryStore) -> None:
    """A manifest in the store directory that cannot be read (a read error of the volume) stops the fetch at
    `download-manifest`, with cp's words."""
    store, run_dir = copied_store(rig, directory_backup)
    unreadable = shim(
        rig,
        cp='case "$2" in */manifest.json) echo "cp: error reading: Input/output error" >&2; exit 1 ;; esac\n'
        f'exec "{real(rig, "cp")}" "$@"\n',
    )
    fetch, _ = rig.fetch(store, unreadable)
    assert_failed(fetch, f"restore-fetch: FAILED at download-manifest: copy of the manifest {run_dir}/manifest.json")
    assert "Input/output error" in fetch.stderr


def test_manifest_without_its_dump_in_the_store_directory(rig: Harness, directory_backup: DirectoryStore) -> None:
    """A manifest in the store directory whose dump is missing stops the fetch at `download-dump`."""
    store, run_dir = copied_store(rig, directory_backup)
    for dump in run_dir.glob("*.dump"):
        dump.unlink()
    fetch, _ = rig.fetch(store)
    assert_failed(fetch, f"restore-fetch: FAILED at download-dump: copy of the dump {run_dir}/")
    assert "No such file or directory" in fetch.stderr


def test_manifest_in_the_wrong_place_is_refused(rig: Harness, directory_backup: DirectoryStore) -> None:
    """A manifest found under another backup id than its own (copied to the wrong place) is refused at
    `download-manifest`: the fetch would restore another backup than it names."""
    store, run_dir = copied_store(rig, directory_backup)
    moved = run_dir.rename(run_dir.parent / "29991231T235959Z")
    fetch, _ = rig.fetch(store)
    assert_failed(
        fetch,
        f"restore-fetch: FAILED at download-manifest: {moved}/manifest.json says backup_id {run_dir.name}, not "
        "29991231T235959Z: the manifest was copied to the wrong place",
    )


def test_manifest_naming_a_path_is_refused_by_the_fetch(rig: Harness, directory_backup: DirectoryStore) -> None:
    """A manifest whose dump_file is a path, not a file name, is refused at `download-manifest` before anything
    is copied from or to where it points."""
    store, run_dir = copied_store(rig, directory_backup)
    set_field(run_dir / contract.MANIFEST_FILE, "dump_file", "../../../etc/passwd")
    fetch, _ = rig.fetch(store)
    assert_failed(fetch, "restore-fetch: FAILED at download-manifest: ")
    assert "names dump_file '../../../etc/passwd', which is not a plain file name" in fetch.stderr


# --- restore: the verification -------------------------------------------------------------------


def test_verify_refuses_to_run_as_root(rig: Harness, fetched: Path) -> None:
    """Run as root, the verification stops at `configuration` (PostgreSQL would refuse), naming the fix."""
    if os.geteuid() != 0:
        unavailable("running restore-verify.sh as root needs the tests to run as root")
    environment = contract.verify_environment(
        {"crm_contact": 1}, work_dir=str(fetched), cluster_dir=str(rig.scratch.directory("cluster"))
    )
    verify = rig.run_script(VERIFY, environment, as_harness_user=True)
    assert_failed(verify, "restore-verify: FAILED at configuration: PostgreSQL refuses to run as root")


def _as_uid_without_passwd_entry(rig: Harness) -> None:
    if rig.tools.pod is None:
        unavailable("running the scripts as a uid without a passwd entry needs root")


def test_verify_without_nss_wrapper_is_named(rig: Harness, fetched: Path) -> None:
    """As a uid without a passwd entry and no nss_wrapper where it looks, the verification stops at
    `configuration`, saying what initdb needs and where it looked."""
    _as_uid_without_passwd_entry(rig)
    verify = rig.verify(
        copy_of(rig, fetched), {"crm_contact": 1}, {contract.RESTORE_NSS_WRAPPER_LIBRARY: "/nonexistent/nss.so"}
    )
    assert_failed(
        verify,
        f"restore-verify: FAILED at configuration: uid {contract.RUN_AS_UID} has no passwd entry, which initdb needs, "
        "and there is no nss_wrapper library to give it one at /nonexistent/nss.so",
    )


def test_verify_with_a_wrong_nss_wrapper_is_named(rig: Harness, fetched: Path) -> None:
    """As a uid without a passwd entry, a RESTORE_NSS_WRAPPER_LIBRARY that gives it no user name (not nss_wrapper)
    stops the verification at `configuration`, with the loader's words."""
    _as_uid_without_passwd_entry(rig)
    not_a_library = rig.scratch.directory("not-a-library") / "libnss_wrapper.so"
    not_a_library.write_text("not a shared object\n", encoding="utf-8")
    verify = rig.verify(
        copy_of(rig, fetched), {"crm_contact": 1}, {contract.RESTORE_NSS_WRAPPER_LIBRARY: str(not_a_library)}
    )
    assert_failed(
        verify,
        f"restore-verify: FAILED at configuration: uid {contract.RUN_AS_UID} has no passwd entry, and preloading "
        f"{not_a_library} did not give it one",
    )
    assert "cannot be preloaded" in verify.stderr


def test_verify_without_a_fetched_backup_fails(rig: Harness) -> None:
    """A work directory without manifest.json (the fetch did not finish) stops the verification at
    `read-manifest`."""
    work_dir = rig.scratch.directory("empty-work")
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(
        verify, f"restore-verify: FAILED at read-manifest: no manifest.json in {work_dir}: restore-fetch.sh did not"
    )


def test_manifest_without_a_field_is_refused(rig: Harness, fetched: Path) -> None:
    """A manifest lacking a field the verification reads (here sha256) stops it at `read-manifest`."""
    work_dir = copy_of(rig, fetched)
    manifest = work_dir / contract.MANIFEST_FILE
    manifest.write_text(
        "".join(
            line for line in manifest.read_text(encoding="utf-8").splitlines(keepends=True) if '"sha256"' not in line
        ),
        encoding="utf-8",
    )
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(
        verify,
        f'restore-verify: FAILED at read-manifest: manifest {manifest} has no "sha256" field (not written by these '
        "scripts?)",
    )


@pytest.mark.parametrize(
    ("field", "value"), [("database", "crm; DROP"), ("dump_file", "../crm.dump")], ids=["database", "dump_file"]
)
def test_tampered_manifest_is_refused(rig: Harness, fetched: Path, field: str, value: str) -> None:
    """A manifest whose database or dump_file is not a plain name stops the verification at `read-manifest`,
    before any of it reaches SQL or a path."""
    work_dir = copy_of(rig, fetched)
    set_field(work_dir / contract.MANIFEST_FILE, field, value)
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(verify, f"restore-verify: FAILED at read-manifest: manifest {field} '{value}' is not a plain ")


def test_missing_dump_fails_the_verification(rig: Harness, fetched: Path) -> None:
    """A manifest whose dump is not in the work directory stops the verification at `read-manifest`."""
    work_dir = copy_of(rig, fetched)
    dump_file = field_of(work_dir / contract.MANIFEST_FILE, "dump_file")
    (work_dir / dump_file).unlink()
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(
        verify,
        f"restore-verify: FAILED at read-manifest: the manifest names {dump_file} but {work_dir}/{dump_file} does not "
        "exist",
    )


def test_truncated_dump_fails_the_size_check(rig: Harness, fetched: Path) -> None:
    """A dump cut short (an interrupted download) fails verification at `check-size`, before any restore."""
    work_dir = copy_of(rig, fetched)
    manifest = json.loads((work_dir / contract.MANIFEST_FILE).read_text(encoding="utf-8"))
    dump_path = work_dir / manifest["dump_file"]
    dump_path.write_bytes(dump_path.read_bytes()[:4096])
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(
        verify,
        f"restore-verify: FAILED at check-size: dump {manifest['dump_file']} of backup {manifest['backup_id']} "
        f"is 4096 bytes but the manifest says {manifest['size_bytes']}: the dump is truncated",
    )


def test_longer_dump_fails_the_size_check(rig: Harness, fetched: Path) -> None:
    """A dump longer than its manifest says (another file under its name) fails verification at `check-size`."""
    work_dir = copy_of(rig, fetched)
    manifest = json.loads((work_dir / contract.MANIFEST_FILE).read_text(encoding="utf-8"))
    with (work_dir / manifest["dump_file"]).open("ab") as dump:
        dump.write(b"\0")
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(
        verify,
        f"restore-verify: FAILED at check-size: dump {manifest['dump_file']} of backup {manifest['backup_id']} "
        f"is {manifest['size_bytes'] + 1} bytes but the manifest says {manifest['size_bytes']}: the dump is not the "
        "one the manifest describes",
    )


def test_corrupted_dump_fails_the_checksum(rig: Harness, small_backup: BackupRun) -> None:
    """A dump object in S3 of the right size with one byte changed fails verification at `check-sha256`."""
    dump_key, _ = small_backup.keys
    dump = bytearray(rig.s3.read(dump_key))
    dump[len(dump) // 2] ^= 0xFF
    rig.s3.write(dump_key, bytes(dump))
    restore = rig.restore(small_backup.store, {"crm_contact": 1})
    assert_failed(
        restore.verify,
        f"restore-verify: FAILED at check-sha256: sha256 of dump {small_backup.manifest['dump_file']} of backup ",
    )
    assert re.search(r"is [0-9a-f]{64} but the manifest says [0-9a-f]{64}: the dump is corrupted", restore.output)
    assert restore.report == {}


def test_too_long_cluster_directory_is_refused(rig: Harness, fetched: Path) -> None:
    """A RESTORE_CLUSTER_DIR too long for the server's unix socket path stops the verification at `initdb`."""
    cluster_dir = rig.scratch.directory("c" * 80)
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1}, cluster_dir=cluster_dir)
    assert_failed(
        verify, f"restore-verify: FAILED at initdb: RESTORE_CLUSTER_DIR {cluster_dir} is too long for a unix socket"
    )


def test_failing_initdb_is_named(rig: Harness, fetched: Path) -> None:
    """initdb failing (a full volume) stops the verification at `initdb` with the end of initdb's log."""
    full = shim(rig, initdb='echo "initdb: error: could not create directory: No space left on device" >&2\nexit 1\n')
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1}, full)
    assert_failed(
        verify,
        "restore-verify: FAILED at initdb: initdb of the throwaway cluster failed: initdb: error: could not create "
        "directory: No space left on device",
    )


def test_throwaway_server_that_does_not_start_is_named(rig: Harness, fetched: Path) -> None:
    """A throwaway server that does not start stops the verification at `start` with pg_ctl's words."""
    refusing = shim(
        rig,
        pg_ctl='case " $* " in *" start "*) echo "pg_ctl: could not start server" >&2; exit 1 ;; esac\n'
        f'exec "{rig.tools.postgres_bin / "pg_ctl"}" "$@"\n',
    )
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1}, refusing)
    assert_failed(
        verify, "restore-verify: FAILED at start: pg_ctl start of the throwaway cluster failed: pg_ctl: could not start"
    )


def test_database_that_cannot_be_created_is_named(rig: Harness, fetched: Path) -> None:
    """A manifest naming a database the throwaway cluster already has (postgres) stops the verification at
    `restore`, with the server's reason."""
    work_dir = copy_of(rig, fetched)
    set_field(work_dir / contract.MANIFEST_FILE, "database", "postgres")
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(verify, 'restore-verify: FAILED at restore: CREATE DATABASE "postgres" failed: ')
    assert 'database "postgres" already exists' in verify.stderr


def _replace_dump(work_dir: Path, content: bytes, database: str | None = None) -> None:
    """Put `content` in place of the fetched dump, with a manifest that describes it (size and sha256)."""
    manifest = work_dir / contract.MANIFEST_FILE
    (work_dir / field_of(manifest, "dump_file")).write_bytes(content)
    set_field(manifest, "size_bytes", len(content))
    set_field(manifest, "sha256", hashlib.sha256(content).hexdigest())
    if database is not None:
        set_field(manifest, "database", database)


def test_dump_truncated_before_its_manifest_fails_the_restore(rig: Harness, fetched: Path) -> None:
    """A dump cut short before its manifest was written (size and sha256 describe the short file, so both checks
    pass) fails at `restore`: pg_restore cannot read it, and its words are in the failure."""
    work_dir = copy_of(rig, fetched)
    dump = (work_dir / field_of(work_dir / contract.MANIFEST_FILE, "dump_file")).read_bytes()
    _replace_dump(work_dir, dump[: len(dump) // 2])
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(verify, "restore-verify: FAILED at restore: pg_restore of backup ")
    assert "pg_restore: error:" in verify.stderr


def test_failing_report_query_is_named(rig: Harness, fetched: Path) -> None:
    """The row count and checksum query failing stops the verification at `report`, with psql's words."""
    failing = shim(
        rig,
        psql='case "$*" in *query_to_xml*) echo "psql: error: ERROR:  out of shared memory" >&2; exit 1 ;; esac\n'
        f'exec "{rig.tools.postgres_bin / "psql"}" "$@"\n',
    )
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1}, failing)
    assert_failed(
        verify,
        "restore-verify: FAILED at report: the row count and checksum query failed: psql: error: ERROR: out of shared",
    )


def test_backup_without_tables_fails_the_verification(rig: Harness, fetched: Path) -> None:
    """A backup that restores to no user table at all (a pg_dump of an empty database, not taken by backup-dump.sh,
    which refuses one) fails at `report`."""
    database = rig.postgres.create_database("crm_nothing")
    target = rig.scratch.server_directory("empty-dump") / "empty.dump"
    dumped = run_command(
        [
            str(rig.tools.postgres_bin / "pg_dump"),
            "--format=custom",
            f"--file={target}",
            f"--host={rig.postgres.socket_dir}",
            f"--port={rig.postgres.port}",
            f"--username={ROLE}",
            database,
        ],
        {"PATH": rig.tools.path},
        account=rig.tools.account,
        cwd=rig.scratch.root,
        timeout=120,
    )
    assert dumped.returncode == 0, dumped.stderr
    work_dir = copy_of(rig, fetched)
    _replace_dump(work_dir, target.read_bytes(), database=database)
    verify = rig.verify(work_dir, {"crm_contact": 1})
    assert_failed(verify, "restore-verify: FAILED at report: backup ")
    assert "restored no user tables" in verify.stderr


def test_table_below_its_minimum_fails(rig: Harness, fetched: Path) -> None:
    """A restored table with fewer rows than RESTORE_MINIMUM_ROWS asks fails at `minimum-rows`, after the report."""
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1000, "audit.event": 1})
    assert_failed(
        verify,
        f"restore-verify: FAILED at minimum-rows: RESTORE_MINIMUM_ROWS not met: table public.crm_contact has "
        f"{SMALL_SEED.contacts} rows, below its minimum of 1000",
    )
    assert f"restore-verify: table public.crm_contact rows={SMALL_SEED.contacts} " in verify.stdout


def test_missing_table_fails(rig: Harness, fetched: Path) -> None:
    """A table in RESTORE_MINIMUM_ROWS that the restore lacks fails at `minimum-rows`."""
    verify = rig.verify(copy_of(rig, fetched), {"crm_invoice": 1})
    assert_failed(
        verify,
        "restore-verify: FAILED at minimum-rows: RESTORE_MINIMUM_ROWS not met: table public.crm_invoice does not exist "
        "in the restored database",
    )


def test_malformed_minimum_rows_is_refused(rig: Harness, fetched: Path) -> None:
    """A RESTORE_MINIMUM_ROWS item that is not table=count stops verification at `configuration`."""
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1}, {contract.RESTORE_MINIMUM_ROWS: "crm_contact:10"})
    assert_failed(
        verify,
        "restore-verify: FAILED at configuration: RESTORE_MINIMUM_ROWS item 'crm_contact:10' is not table=count",
    )


def test_failed_check_stops_the_throwaway_server(rig: Harness, fetched: Path) -> None:
    """After a failed row check the throwaway PostgreSQL is no longer running."""
    cluster_dir = rig.scratch.directory("kept-cluster")
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1000}, cluster_dir=cluster_dir)
    assert_failed(verify, "restore-verify: FAILED at minimum-rows: ")
    assert (cluster_dir / "data" / "PG_VERSION").exists(), "the cluster was never created"
    assert not (cluster_dir / "data" / "postmaster.pid").exists()


def test_throwaway_server_that_does_not_stop_is_still_stopped(rig: Harness, fetched: Path) -> None:
    """A throwaway server that does not stop when asked (pg_ctl stop --mode=fast fails) fails the verification at
    `stop`, and the exit trap still stops it (immediate mode)."""
    stubborn = shim(
        rig,
        pg_ctl='case " $* " in *" --mode=fast "*) echo "pg_ctl: server does not shut down" >&2; exit 1 ;; esac\n'
        f'exec "{rig.tools.postgres_bin / "pg_ctl"}" "$@"\n',
    )
    cluster_dir = rig.scratch.directory("kept-cluster")
    verify = rig.verify(copy_of(rig, fetched), {"crm_contact": 1}, stubborn, cluster_dir=cluster_dir)
    assert_failed(
        verify, "restore-verify: FAILED at stop: pg_ctl stop of the throwaway cluster failed: pg_ctl: server does not"
    )
    assert "restore-verify: table public.crm_contact " in verify.stdout
    assert not (cluster_dir / "data" / "postmaster.pid").exists()
