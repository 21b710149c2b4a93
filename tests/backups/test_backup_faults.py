"""How the backup and restore scripts fail: non-zero, with a message naming the failed step.

Every script reports `<script>: FAILED at <step>: <what and why>` on stderr and exits 1. A
failed backup must leave no manifest for its run, so that nothing incomplete looks like a
backup; a failed restore check must stop the throwaway server. Real PostgreSQL and moto S3.
"""

from __future__ import annotations

import json
import re

import pytest

from components import backup_scripts as contract
from components.backup_scripts import DirectoryStore, S3Store
from offline.bench_backups import BUCKET, SMALL_SEED, BackupRun, Harness, ScriptRun, free_port, seed

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


def test_wrong_password_fails_at_connect(rig: Harness, small_database: str, store: S3Store) -> None:
    """A wrong password stops the dump at `connect`, with the server's reason, and nothing is uploaded."""
    backup = rig.backup(small_database, store, password="not-the-password")
    assert_failed(backup.dump, f'backup-dump: FAILED at connect: cannot connect to database "{small_database}"')
    assert 'password authentication failed for user "crm"' in backup.dump.stderr
    assert backup.upload is None
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_database_without_tables_is_refused(rig: Harness, store: S3Store) -> None:
    """A database with no user tables is refused at `check-tables` and nothing is uploaded."""
    database = rig.postgres.create_database("crm_empty")
    backup = rig.backup(database, store)
    assert_failed(
        backup.dump,
        f'backup-dump: FAILED at check-tables: database "{database}" at 127.0.0.1:{rig.postgres.port} has no user '
        "tables; refusing to store a backup that would restore to nothing",
    )
    assert not (backup.work_dir / f"{database}.dump").exists()
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_failing_pg_dump_is_named_and_leaves_no_manifest(rig: Harness, store: S3Store) -> None:
    """pg_dump failing inside `pg_dump | tee | sha256sum` stops the dump at `pg_dump` with pg_dump's own reason."""
    database = "crm_unreadable"
    seed(rig.postgres, database, SMALL_SEED)
    # A table the backup role may not read: pg_dump fails; tee and sha256sum, given a short stream, succeed.
    rig.postgres.psql("CREATE TABLE zz_secret (note text); INSERT INTO zz_secret VALUES ('x')", database=database)
    backup = rig.backup(database, store)
    dump = assert_failed(backup.dump, f'backup-dump: FAILED at pg_dump: pg_dump of database "{database}" at ')
    assert "permission denied for table zz_secret" in dump.stderr
    assert not (backup.work_dir / contract.MANIFEST_FILE).exists()
    assert not (backup.work_dir / f"{database}.dump").exists()
    assert backup.upload is None
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_failed_write_of_the_dump_is_named(rig: Harness, small_database: str, store: S3Store) -> None:
    """tee failing to write the dump file (a full work volume) stops the dump at `pg_dump`, naming the write."""
    # What GNU tee does on ENOSPC: it says so, keeps copying to its standard output, and exits 1 at the end.
    full = shim(rig, "tee", 'cat; printf "tee: %s: No space left on device\\n" "$2" >&2; exit 1\n')
    backup = rig.backup(small_database, store, dump_env=full)
    assert_failed(
        backup.dump,
        f"backup-dump: FAILED at pg_dump: writing the dump to {backup.work_dir}/{small_database}.dump.partial failed "
        f"(is the work volume full?): tee: {backup.work_dir}/{small_database}.dump.partial: No space left on device",
    )
    assert not (backup.work_dir / contract.MANIFEST_FILE).exists()
    assert backup.upload is None


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


def test_incomplete_local_dump_is_not_uploaded(rig: Harness, small_database: str, store: S3Store) -> None:
    """A dump shorter than its manifest says stops the upload at `check-dump`, before anything is stored."""
    dump_run = rig.backup(small_database, DirectoryStore(prefix="unused", directory="/nonexistent"))
    dump_path = dump_run.work_dir / f"{small_database}.dump"
    dump_path.write_bytes(dump_path.read_bytes()[:1000])
    upload = rig.upload(store, dump_run.work_dir)
    assert_failed(upload, f"backup-upload: FAILED at check-dump: local dump {dump_path} is 1000 bytes but the manifest")
    assert "the dump in the work directory is incomplete" in upload.stderr
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_upload_without_a_finished_dump_fails(rig: Harness, store: S3Store) -> None:
    """An upload whose work directory has no manifest stops at `configuration` and stores nothing."""
    upload = rig.upload(store, rig.scratch.directory("empty-work"))
    assert_failed(upload, "backup-upload: FAILED at configuration: no manifest.json in ")
    assert rig.s3.keys(f"{store.prefix}/") == []


def test_complete_backup_is_never_overwritten(rig: Harness, small_backup: BackupRun) -> None:
    """Uploading the same backup id again stops at `check-run` and leaves the stored manifest as it was."""
    _, manifest_key = small_backup.keys
    before = rig.s3.read(manifest_key)
    again = rig.upload(small_backup.store, small_backup.work_dir)
    assert_failed(
        again,
        f"backup-upload: FAILED at check-run: backup {small_backup.manifest['backup_id']} is already complete at "
        f"s3://{BUCKET}/{manifest_key}; refusing to overwrite it",
    )
    assert rig.s3.read(manifest_key) == before


def test_manifest_written_meanwhile_is_not_overwritten(rig: Harness, small_database: str, store: S3Store) -> None:
    """A manifest that appears after `check-run` (another run of the same second) makes S3 refuse the
    conditional put of ours at `upload-manifest`, and the stored manifest stays as that run wrote it."""
    dump, work_dir = rig.dump(small_database)
    dump.check()
    backup_id = json.loads((work_dir / contract.MANIFEST_FILE).read_text(encoding="utf-8"))["backup_id"]
    _, manifest_key = contract.run_keys(store.prefix, backup_id, small_database)
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


def test_dump_replaced_before_verification_is_refused(rig: Harness, small_database: str, store: S3Store) -> None:
    """A dump object replaced after our upload (same size, another run's sha256) fails `verify-dump`, and no
    manifest is written."""
    dump, work_dir = rig.dump(small_database)
    dump.check()
    backup_id = json.loads((work_dir / contract.MANIFEST_FILE).read_text(encoding="utf-8"))["backup_id"]
    dump_key, _ = contract.run_keys(store.prefix, backup_id, small_database)
    real_aws = rig.tools.python_bin / "aws"
    other = "0" * 64
    race = shim(
        rig,
        "aws",
        f"""if [ "$2" = head-object ]; then
  "{real_aws}" s3 cp {work_dir}/{small_database}.dump s3://{BUCKET}/{dump_key} --sse aws:kms \\
    --metadata sha256={other} --only-show-errors >/dev/null
fi
exec "{real_aws}" "$@"
""",
    )
    upload = rig.upload(store, work_dir, race)
    assert_failed(
        upload,
        f"backup-upload: FAILED at verify-dump: s3://{BUCKET}/{dump_key} carries sha256 '{other}' in its metadata, "
        "not this dump's ",
    )
    assert manifests(rig, store.prefix) == []


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
    size = small_backup.manifest["size_bytes"]
    assert_failed(
        restore.verify,
        f"restore-verify: FAILED at check-size: dump crm_small.dump of backup {small_backup.manifest['backup_id']} "
        f"is 4096 bytes but the manifest says {size}: the dump is truncated",
    )
    assert restore.report == {}


def test_corrupted_dump_fails_the_checksum(rig: Harness, small_backup: BackupRun) -> None:
    """A dump object of the right size with one byte changed fails verification at `check-sha256`."""
    dump_key, _ = small_backup.keys
    dump = bytearray(rig.s3.read(dump_key))
    dump[len(dump) // 2] ^= 0xFF
    rig.s3.write(dump_key, bytes(dump))
    restore = rig.restore(small_backup.store, {"crm_contact": 1})
    assert_failed(restore.verify, "restore-verify: FAILED at check-sha256: sha256 of dump crm_small.dump of backup ")
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
