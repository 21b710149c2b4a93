"""How the backup and restore scripts fail: non-zero, with a message naming the failed step.

Every script reports `<script>: FAILED at <step>: <what and why>` on stderr and exits 1. A
failed backup must leave no manifest for its run, so that nothing incomplete looks like a
backup; a failed restore check must stop the throwaway server. Real PostgreSQL and moto S3.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components.data import backup_contract as contract
from components.data.backup_contract import DirectoryStore, S3Store
from tests.support.backup_harness import BUCKET, SMALL_SEED, BackupRun, Harness, ScriptRun, free_port, seed

pytestmark = pytest.mark.timeout(300)


def assert_failed(run: ScriptRun | None, message: str) -> ScriptRun:
    """`run` ran, exited non-zero, and its stderr holds `message`; returns it for further checks."""
    assert run is not None, "the script did not run"
    assert run.returncode != 0, f"{run.script} succeeded:\n{run.output}"
    assert message in run.stderr, f"{message!r} not in:\n{run.stderr}"
    return run


def manifests(rig: Harness, prefix: str) -> list[str]:
    return [key for key in rig.s3.keys(f"{prefix}/") if key.endswith(f"/{contract.MANIFEST_FILE}")]


def shim(rig: Harness, tool: str, body: str) -> dict[str, str]:
    """A PATH on which `tool` is the bash script `body`, ahead of the real tools: a fault injected into one call."""
    directory = rig.scratch.directory(f"shim-{tool}")
    (directory / tool).write_text(f"#!/usr/bin/env bash\n{body}", encoding="utf-8")
    (directory / tool).chmod(0o755)
    return {"PATH": f"{directory}:{rig.tools.path}"}


# --- backup ------------------------------------------------------------------------------------
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


def test_unreachable_endpoint_fails_the_upload(rig: Harness, small_database: str, prefix: str) -> None:
    """An S3 endpoint that does not answer stops the upload at `check-bucket`, naming the endpoint."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    backup = rig.backup(small_database, rig.s3.store(prefix, endpoint_url=endpoint))
    upload = assert_failed(backup.upload, f"backup-upload: FAILED at check-bucket: cannot list s3://{BUCKET}/")
    assert f"cannot reach the S3 endpoint {endpoint}" in upload.stderr
    assert manifests(rig, prefix) == []


def test_missing_bucket_fails_the_upload(rig: Harness, small_database: str, prefix: str) -> None:
    """A bucket that does not exist stops the upload at `check-bucket`, naming the bucket."""
    backup = rig.backup(small_database, rig.s3.store(prefix, bucket="crm-backups-no-such-bucket"))
    upload = assert_failed(backup.upload, "backup-upload: FAILED at check-bucket: ")
    assert "bucket crm-backups-no-such-bucket does not exist" in upload.stderr
    assert manifests(rig, prefix) == []


def test_failed_upload_stops_a_running_pg_dump(rig: Harness, small_database: str, store: S3Store) -> None:
    """When the upload fails (here S3 refuses every call), the dump stops pg_dump instead of finishing a dump
    nobody will store, and says why."""
    # A pg_dump that would run for two minutes, and a store that refuses the backup role.
    slow = shim(
        rig, "pg_dump", 'if [ "${1:-}" = --version ]; then echo "pg_dump (PostgreSQL) 16"; exit; fi\nexec sleep 120\n'
    )
    refused = shim(
        rig,
        "aws",
        'echo "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied" >&2\nexit 1\n',
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
    slow = shim(
        rig, "pg_dump", 'if [ "${1:-}" = --version ]; then echo "pg_dump (PostgreSQL) 16"; exit; fi\nexec sleep 120\n'
    )
    real_aws = rig.tools.python_bin / "aws"
    broken = shim(
        rig,
        "aws",
        f"""if [ "$1" = s3 ] && [ "$2" = cp ]; then
  echo "Connection was closed before we received a valid response from endpoint URL" >&2
  exit 1
fi
exec "{real_aws}" "$@"
""",
    )
    backup = rig.backup(small_database, store, dump_env=slow, upload_env=broken)
    upload = assert_failed(backup.upload, "backup-upload: FAILED at upload-dump: upload of the dump to s3://")
    assert "cannot reach the S3 endpoint" in upload.stderr
    assert_failed(backup.dump, "because the upload failed: backup-upload: FAILED at upload-dump: ")
    assert backup.seconds < 60, f"the stream ran on for {backup.seconds:.0f} s after the store had failed"
    assert manifests(rig, store.prefix) == []


def test_dump_waiting_for_locks_is_not_taken_for_dead(rig: Harness, small_database: str, store: S3Store) -> None:
    """A pg_dump that writes nothing for longer than BACKUP_WAIT_SECONDS (as while it waits for a table lock)
    keeps the dump container's heartbeat going, so the upload waits for it and the backup completes."""
    real = rig.tools.postgres_bin / "pg_dump"
    quiet = shim(rig, "pg_dump", f'if [ "${{1:-}}" != --version ]; then sleep 4; fi\nexec "{real}" "$@"\n')
    backup = rig.backup(small_database, store, dump_env=quiet, upload_env={contract.BACKUP_WAIT_SECONDS: "2"})
    backup.check()
    assert backup.seconds > 4


def test_dump_that_stops_growing_fails_the_upload(rig: Harness, small_database: str, store: S3Store) -> None:
    """A dump container killed mid-dump (a plan and part of a dump, then neither dump-complete.json nor a
    failure, and no heartbeat) fails the upload at `upload-dump` after BACKUP_WAIT_SECONDS."""
    dump, work_dir = rig.dump(small_database)
    dump.check()
    (work_dir / contract.DUMP_COMPLETE_FILE).unlink()
    dump_path = work_dir / f"{small_database}.dump"
    dump_path.write_bytes(dump_path.read_bytes()[:1000])
    upload = rig.upload(store, work_dir, {contract.BACKUP_WAIT_SECONDS: "1"})
    assert_failed(
        upload,
        "backup-upload: FAILED at upload-dump: the dump container has stopped: for 1 s (BACKUP_WAIT_SECONDS) "
        f"{dump_path} did not grow and its heartbeat did not change, and it neither finished nor failed (was it "
        "killed? see its status)",
    )
    assert manifests(rig, store.prefix) == []


def test_dump_changed_under_the_upload_is_refused(rig: Harness, small_database: str, store: S3Store) -> None:
    """Fewer bytes streamed than the finished dump has (here: the file cut short behind the dump's back) fail
    `verify-dump`, and no manifest is stored."""
    dump, work_dir = rig.dump(small_database)
    dump.check()
    dump_path = work_dir / f"{small_database}.dump"
    size = dump_path.stat().st_size
    dump_path.write_bytes(dump_path.read_bytes()[:1000])
    upload = rig.upload(store, work_dir)
    assert_failed(
        upload,
        f"backup-upload: FAILED at verify-dump: 1000 bytes of {dump_path} were streamed, but the finished dump is "
        f"{size} bytes: it changed while it was read",
    )
    assert manifests(rig, store.prefix) == []


def test_upload_without_a_dump_container_fails(rig: Harness, store: S3Store) -> None:
    """An upload whose dump container never writes its plan stops at `wait-for-dump` after BACKUP_WAIT_SECONDS."""
    upload = rig.upload(store, rig.scratch.directory("empty-work"), {contract.BACKUP_WAIT_SECONDS: "1"})
    assert_failed(
        upload,
        "backup-upload: FAILED at wait-for-dump: no plan.json from the dump container after 1 s (BACKUP_WAIT_SECONDS)",
    )
    assert rig.s3.keys(f"{store.prefix}/") == []


@pytest.mark.parametrize("value", ["0", "ten", "-5", "1000000"])
def test_malformed_wait_is_refused(rig: Harness, store: S3Store, value: str) -> None:
    """BACKUP_WAIT_SECONDS must be a whole number of seconds from 1 to 999999."""
    upload = rig.upload(store, rig.scratch.directory("empty-work"), {contract.BACKUP_WAIT_SECONDS: value})
    assert_failed(
        upload,
        f"backup-upload: FAILED at configuration: BACKUP_WAIT_SECONDS '{value}' is not a whole number of seconds "
        "from 1 to 999999",
    )


def test_complete_backup_is_never_overwritten(rig: Harness, small_backup: BackupRun) -> None:
    """Uploading the same backup id again stops at `check-run` and leaves the stored backup as it was."""
    dump_key, manifest_key = small_backup.keys
    before = rig.s3.read(manifest_key), rig.s3.read(dump_key)
    again = rig.upload(small_backup.store, small_backup.work_dir)
    assert_failed(
        again,
        f"backup-upload: FAILED at check-run: backup {small_backup.manifest['backup_id']} is already complete at "
        f"s3://{BUCKET}/{manifest_key}; refusing to overwrite it",
    )
    assert (rig.s3.read(manifest_key), rig.s3.read(dump_key)) == before


def test_manifest_written_meanwhile_is_not_overwritten(rig: Harness, small_database: str, store: S3Store) -> None:
    """A manifest that appears after `check-run` (another run of the same second) makes S3 refuse the
    conditional put of ours at `upload-manifest`; that run's manifest stays, and our dump, stored under
    its own run token, replaced nothing."""
    dump, work_dir = rig.dump(small_database)
    dump.check()
    backup_id = json.loads((work_dir / contract.PLAN_FILE).read_text(encoding="utf-8"))["backup_id"]
    _, manifest_key = contract.run_keys(store.prefix, backup_id, "unused")
    theirs = work_dir.parent / "their-manifest.json"
    theirs.write_text('{"written_by": "the other run"}\n', encoding="utf-8")
    real_aws = rig.tools.python_bin / "aws"
    race = shim(
        rig,
        "aws",
        f"""if [ "$2" = put-object ]; then
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
    assert re.fullmatch(rf".*/{small_database}\.[0-9a-f]{{16}}\.dump", ours)


def test_complete_backup_in_the_store_directory_is_never_overwritten(rig: Harness, small_database: str) -> None:
    """In directory mode an upload of a backup id that is complete already stops at `check-directory`."""
    store = DirectoryStore(prefix="crm/dev", directory=str(rig.scratch.directory("store")))
    first = rig.backup(small_database, store).check()
    _, manifest_path = first.keys
    before = (Path(store.directory) / manifest_path).read_bytes()
    again = rig.upload(store, first.work_dir)
    assert_failed(
        again,
        f"backup-upload: FAILED at check-directory: backup {first.manifest['backup_id']} is already complete at "
        f"{store.directory}/{manifest_path}; refusing to overwrite it",
    )
    assert (Path(store.directory) / manifest_path).read_bytes() == before


def test_unknown_store_is_refused(rig: Harness, small_backup: BackupRun) -> None:
    """A BACKUP_STORE other than s3 or directory stops the upload at `configuration`."""
    upload = rig.upload(small_backup.store, small_backup.work_dir, {contract.BACKUP_STORE: "gcs"})
    assert_failed(upload, "backup-upload: FAILED at configuration: BACKUP_STORE 'gcs' is not one of: s3, directory")


def test_unmounted_store_directory_fails_the_upload(rig: Harness, small_database: str) -> None:
    """In directory mode a missing store directory stops the upload at `check-directory`."""
    backup = rig.backup(small_database, DirectoryStore(prefix="crm/dev", directory="/nonexistent/backups"))
    assert_failed(
        backup.upload,
        "backup-upload: FAILED at check-directory: BACKUP_DIRECTORY /nonexistent/backups is not a writable directory",
    )


# --- restore ---------------------------------------------------------------------------------------


def test_unreachable_endpoint_fails_the_fetch(rig: Harness, prefix: str) -> None:
    """An S3 endpoint that does not answer stops the fetch at `find-manifest`, naming the endpoint."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    restore = rig.restore(rig.s3.store(prefix, endpoint_url=endpoint), {"crm_contact": 1})
    assert_failed(restore.fetch, "restore-fetch: FAILED at find-manifest: cannot list s3://")
    assert f"cannot reach the S3 endpoint {endpoint}" in restore.fetch.stderr
    assert restore.verify is None


def test_missing_bucket_fails_the_fetch(rig: Harness, prefix: str) -> None:
    """A bucket that does not exist stops the fetch at `find-manifest`, naming the bucket."""
    restore = rig.restore(rig.s3.store(prefix, bucket="crm-backups-no-such-bucket"), {"crm_contact": 1})
    assert_failed(restore.fetch, "restore-fetch: FAILED at find-manifest: ")
    assert "bucket crm-backups-no-such-bucket does not exist" in restore.fetch.stderr


def test_no_backup_found(rig: Harness, store: S3Store) -> None:
    """An empty prefix stops the fetch at `find-manifest` with "no backup found"."""
    restore = rig.restore(store, {"crm_contact": 1})
    assert_failed(
        restore.fetch,
        f"restore-fetch: FAILED at find-manifest: no backup found: no {store.prefix}/<backup_id>/manifest.json in "
        f"s3://{store.bucket}",
    )
    assert restore.verify is None


def test_run_without_a_manifest_is_not_a_backup(rig: Harness, store: S3Store) -> None:
    """A dump whose manifest never arrived is not offered for restore: "no backup found"."""
    rig.s3.write(f"{store.prefix}/20260801T020000Z/crm.dump", b"PGDMP")
    restore = rig.restore(store, {"crm_contact": 1})
    assert_failed(restore.fetch, "restore-fetch: FAILED at find-manifest: no backup found")


def test_no_backup_found_in_the_store_directory(rig: Harness) -> None:
    """In directory mode an empty store stops the fetch at `find-manifest` with "no backup found"."""
    store = DirectoryStore(prefix="crm/dev", directory=str(rig.scratch.directory("empty-store")))
    restore = rig.restore(store, {"crm_contact": 1})
    assert_failed(restore.fetch, "restore-fetch: FAILED at find-manifest: no backup found: no crm/dev/<backup_id>")


def test_truncated_dump_fails_the_size_check(rig: Harness, small_backup: BackupRun) -> None:
    """A dump object cut short fails verification at `check-size`, before any restore."""
    dump_key, _ = small_backup.keys
    rig.s3.write(dump_key, rig.s3.read(dump_key)[:4096])
    restore = rig.restore(small_backup.store, {"crm_contact": 1})
    manifest = small_backup.manifest
    assert_failed(
        restore.verify,
        f"restore-verify: FAILED at check-size: dump {manifest['dump_file']} of backup {manifest['backup_id']} "
        f"is 4096 bytes but the manifest says {manifest['size_bytes']}: the dump is truncated",
    )
    assert restore.report == {}


def test_corrupted_dump_fails_the_checksum(rig: Harness, small_backup: BackupRun) -> None:
    """A dump object of the right size with one byte changed fails verification at `check-sha256`."""
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


def test_table_below_its_minimum_fails(rig: Harness, small_backup: BackupRun) -> None:
    """A restored table with fewer rows than RESTORE_MINIMUM_ROWS asks fails at `minimum-rows`."""
    restore = rig.restore(small_backup.store, {"crm_contact": 1000, "audit.event": 1})
    assert_failed(
        restore.verify,
        f"restore-verify: FAILED at minimum-rows: table public.crm_contact has {SMALL_SEED.contacts} rows, "
        "below its minimum of 1000",
    )
    assert restore.report["public.crm_contact"].rows == SMALL_SEED.contacts


def test_missing_table_fails(rig: Harness, small_backup: BackupRun) -> None:
    """A table in RESTORE_MINIMUM_ROWS that the restore lacks fails at `minimum-rows`."""
    restore = rig.restore(small_backup.store, {"crm_invoice": 1})
    assert_failed(
        restore.verify,
        "restore-verify: FAILED at minimum-rows: table public.crm_invoice does not exist in the restored database",
    )


def test_malformed_minimum_rows_is_refused(rig: Harness, small_backup: BackupRun) -> None:
    """A RESTORE_MINIMUM_ROWS item that is not table=count stops verification at `configuration`."""
    restore = rig.restore(
        small_backup.store, {"crm_contact": 1}, verify_env={contract.RESTORE_MINIMUM_ROWS: "crm_contact:10"}
    )
    assert_failed(
        restore.verify,
        "restore-verify: FAILED at configuration: RESTORE_MINIMUM_ROWS item 'crm_contact:10' is not table=count",
    )


def test_failed_check_stops_the_throwaway_server(rig: Harness, small_backup: BackupRun) -> None:
    """After a failed row check the throwaway PostgreSQL is no longer running."""
    cluster_dir = rig.scratch.directory("kept-cluster")
    restore = rig.restore(small_backup.store, {"crm_contact": 1000}, cluster_dir=cluster_dir)
    assert_failed(restore.verify, "restore-verify: FAILED at minimum-rows: ")
    assert (cluster_dir / "data" / "PG_VERSION").exists(), "the cluster was never created"
    assert not (cluster_dir / "data" / "postmaster.pid").exists()
