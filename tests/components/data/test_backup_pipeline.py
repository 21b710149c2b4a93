"""The logical backup pipeline end to end, against a real PostgreSQL and moto's S3.

A database of 101,400 rows (large text and bytea values among them) goes through
backup-dump.sh and backup-upload.sh into S3, comes back through restore-fetch.sh and
restore-verify.sh into that script's own throwaway PostgreSQL, and must match the source
table by table: row counts and content checksums, the source side computed with the same
SQL the verify script runs. The directory store (dev's volume) makes the same round trip
with a small database. As root, every script runs as the pods' uid, which has no passwd
entry, as in the images. The scripts and components/data/backup_contract.py must name the
same variables, since the CronJobs are built from the latter; shellcheck passes them.
"""

from __future__ import annotations

import hashlib
import json
import pwd
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from components.data import backup_contract as contract
from components.data.backup_contract import DirectoryStore
from offline.bench_backups import PLAIN_DUMP
from tests.support.backup_harness import (
    BUCKET,
    LARGE_SEED,
    ROLE,
    SMALL_SEED,
    BackupRun,
    Harness,
    RestoreRun,
    TableReport,
    seed,
)
from tests.support.tools import require_tool, unavailable

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class RoundTrip:
    database: str
    source: dict[str, TableReport]
    backup: BackupRun
    restore: RestoreRun


@pytest.fixture(scope="module")
def large_round_trip(rig: Harness, large_database: str) -> RoundTrip:
    """The large database backed up to S3 and restored once, for every test of this module to inspect."""
    store = rig.s3.store(rig.unique_prefix("large-round-trip"))
    source = rig.postgres.table_report(large_database)
    backup = rig.backup(large_database, store).check()
    restore = rig.restore(store, LARGE_SEED.rows).check()
    return RoundTrip(large_database, source, backup, restore)


def test_source_holds_the_volume_the_pipeline_must_carry(rig: Harness, large_database: str) -> None:
    """The source has over 100,000 rows, text values of tens of KB and bytea values."""
    sizes = rig.postgres.psql(
        "SELECT (SELECT max(octet_length(body)) FROM crm_activity), (SELECT count(*) FROM crm_activity "
        "WHERE octet_length(body) > 20000), (SELECT min(octet_length(content)) FROM crm_attachment)",
        database=large_database,
    )
    longest_text, large_texts, smallest_bytea = (int(value) for value in sizes.strip().split("|"))
    assert sum(report.rows for report in rig.postgres.table_report(large_database).values()) >= 100_000
    assert longest_text >= 50_000 and large_texts >= 100 and smallest_bytea >= 4096


def test_every_table_restores_with_its_row_count(large_round_trip: RoundTrip) -> None:
    """The restored copy has each source table with the same number of rows."""
    restored = {table: report.rows for table, report in large_round_trip.restore.report.items()}
    assert restored == {table: report.rows for table, report in large_round_trip.source.items()}
    assert restored == LARGE_SEED.rows


def test_every_table_restores_with_its_content_checksum(large_round_trip: RoundTrip) -> None:
    """The restored copy has each source table with the same content checksum."""
    restored = {table: report.checksum for table, report in large_round_trip.restore.report.items()}
    assert restored == {table: report.checksum for table, report in large_round_trip.source.items()}


def test_stored_dump_matches_its_stored_manifest(rig: Harness, large_round_trip: RoundTrip) -> None:
    """The dump object in S3 has the size and sha256 its manifest object records."""
    dump_key, manifest_key = large_round_trip.backup.keys
    manifest = json.loads(rig.s3.read(manifest_key))
    dump = rig.s3.read(dump_key)
    assert len(dump) == manifest["size_bytes"]
    assert hashlib.sha256(dump).hexdigest() == manifest["sha256"]
    assert dump.startswith(b"PGDMP"), "not a pg_dump custom-format archive"


def test_manifest_describes_the_backup(rig: Harness, large_round_trip: RoundTrip) -> None:
    """The manifest names the database, server and pg_dump versions, format, size and UTC times."""
    manifest = large_round_trip.backup.manifest
    created = datetime.strptime(manifest["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert tuple(manifest) == contract.MANIFEST_FIELDS
    assert manifest["database"] == large_round_trip.database
    # <database>.<run token>.dump: no other run can write to this name.
    assert re.fullmatch(rf"{large_round_trip.database}\.[0-9a-f]{{16}}\.dump", manifest["dump_file"])
    assert manifest["format"] == "custom"
    assert manifest["server_version"] == rig.postgres.psql("SHOW server_version").strip()
    assert re.fullmatch(r"pg_dump \(PostgreSQL\) \d+\.\d+.*", manifest["pg_dump_version"])
    assert manifest["backup_id"] == created.strftime(contract.BACKUP_ID_FORMAT)
    assert manifest["completed_at"] >= manifest["created_at"]
    assert manifest["user_tables"] == len(LARGE_SEED.rows)


def test_backup_is_stored_under_prefix_and_backup_id(rig: Harness, large_round_trip: RoundTrip) -> None:
    """The store holds exactly <prefix>/<backup_id>/<database>.<run>.dump and .../manifest.json."""
    assert rig.s3.keys(f"{large_round_trip.backup.store.prefix}/") == sorted(large_round_trip.backup.keys)


def test_objects_are_encrypted_with_the_kms_key(rig: Harness, large_round_trip: RoundTrip) -> None:
    """Dump and manifest are stored with SSE-KMS under the configured key."""
    client = rig.s3.client("s3")
    for key in large_round_trip.backup.keys:
        head = client.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert rig.s3.kms_key_id in head["SSEKMSKeyId"], key


def test_checksum_changes_when_one_value_changes(rig: Harness) -> None:
    """The content checksum of a table changes when a single value of a single row changes."""
    database = "crm_checksum_change"
    seed(rig.postgres, database, SMALL_SEED)
    before = rig.postgres.table_report(database)
    rig.postgres.psql("UPDATE crm_contact SET score = score + 1e-9 WHERE id = 42", database=database, user=ROLE)
    after = rig.postgres.table_report(database)
    assert after["public.crm_contact"].checksum != before["public.crm_contact"].checksum
    assert after["public.crm_account"] == before["public.crm_account"]


def test_checksum_ignores_physical_row_order(rig: Harness) -> None:
    """Two tables with the same rows in a different physical order have the same checksum."""
    database = "crm_checksum_order"
    seed(rig.postgres, database, SMALL_SEED)
    rig.postgres.psql(
        "CREATE TABLE contact_copy AS SELECT * FROM crm_contact ORDER BY md5(email) DESC", database=database, user=ROLE
    )
    report = rig.postgres.table_report(database)
    assert report["public.contact_copy"] == report["public.crm_contact"]


def test_directory_store_carries_a_backup_to_a_verified_restore(rig: Harness, small_database: str) -> None:
    """With BACKUP_STORE=directory the backup lands in the directory and restores identical to the source."""
    directory = rig.scratch.directory("store")
    store = DirectoryStore(prefix=rig.unique_prefix("directory"), directory=str(directory))
    backup = rig.backup(small_database, store).check()
    manifest = backup.manifest
    restore = rig.restore(store, {"crm_contact": SMALL_SEED.contacts}).check()
    dump_path, manifest_path = backup.keys
    assert (directory / manifest_path).read_text(encoding="utf-8") == (backup.work_dir / "manifest.json").read_text(
        encoding="utf-8"
    )
    assert hashlib.sha256((directory / dump_path).read_bytes()).hexdigest() == manifest["sha256"]
    assert sorted(path.name for path in (directory / dump_path).parent.iterdir()) == sorted(
        [manifest["dump_file"], "manifest.json"]
    )
    assert restore.report == rig.postgres.table_report(small_database)


def test_restore_takes_the_newest_complete_backup(rig: Harness) -> None:
    """The fetch picks the latest backup id that has a manifest, ignoring a newer run without one."""
    database = "crm_newest"
    seed(rig.postgres, database, SMALL_SEED)
    store = rig.s3.store(rig.unique_prefix("newest"))
    rig.backup(database, store).check()
    rig.postgres.psql(
        "INSERT INTO crm_account SELECT id + 1000, name, industry, created_at, annual_revenue, settings "
        "FROM crm_account WHERE id <= 5",
        database=database,
        user=ROLE,
    )
    time.sleep(1.1)  # backup ids have a resolution of one second
    newest = rig.backup(database, store).check().manifest
    # A later run whose manifest never arrived: a dump object only.
    rig.s3.write(f"{store.prefix}/29991231T235959Z/{database}.dump", b"PGDMP incomplete")
    restore = rig.restore(store, {"crm_account": SMALL_SEED.accounts + 5}).check()
    assert f"fetched backup {newest['backup_id']}" in restore.fetch.stdout
    assert restore.report["public.crm_account"].rows == SMALL_SEED.accounts + 5


def test_scripts_run_as_the_pods_uid_which_has_no_passwd_entry(rig: Harness, small_database: str) -> None:
    """As the pods run them: as RUN_AS_UID (above 10000), a uid without a passwd entry, a backup and its verified
    restore succeed; the dump and the throwaway cluster belong to that uid, and initdb took its user name from
    the passwd file restore-verify.sh wrote for nss_wrapper on the cluster volume."""
    pod = rig.tools.pod
    if pod is None:
        unavailable("running the scripts as the pods' uid needs root (the harness then switches to it)")
    assert pod.uid == contract.RUN_AS_UID and pod.uid >= 10000
    with pytest.raises(KeyError):
        pwd.getpwuid(pod.uid)
    store = rig.s3.store(rig.unique_prefix("pod-uid"))
    backup = rig.backup(small_database, store).check()
    cluster_dir = rig.scratch.directory("pod-uid-cluster")
    restore = rig.restore(store, {"crm_contact": SMALL_SEED.contacts}, cluster_dir=cluster_dir).check()
    assert (backup.work_dir / f"{small_database}.dump").stat().st_uid == pod.uid
    assert (cluster_dir / "data" / "PG_VERSION").stat().st_uid == pod.uid
    assert (cluster_dir / "nss-passwd").read_text(encoding="utf-8") == (
        f"postgres:x:{pod.uid}:{pod.gid}:PostgreSQL:{cluster_dir}:/bin/false\n"
    )
    assert restore.report == rig.postgres.table_report(small_database)


# --- the contract: the scripts and components/data/backup_contract.py agree ------------------------


def _header(script: str) -> str:
    """The leading comment block of a script."""
    lines = contract.script_text(script).splitlines()
    return "\n".join(line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))])


# Names the scripts use that are theirs or bash's, not inputs: set inside the script before use.
_INTERNAL = {
    *("SCRIPT", "TMPDIR"),
    *("BASH_REMATCH", "BASH_SOURCE", "BASHPID", "PIPESTATUS", "SECONDS"),
}


@pytest.mark.parametrize("script", contract.SCRIPTS)
def test_scripts_read_only_contract_variables(script: str) -> None:
    """Every upper-case variable a script reads is in the contract for that script."""
    text = "\n".join(line for line in contract.script_text(script).splitlines() if not line.lstrip().startswith("#"))
    read = set(re.findall(r"\$\{?!?([A-Z][A-Z0-9_]+)", text)) | set(re.findall(r"\brequire ([A-Z][A-Z0-9_]+)", text))
    contract_names = {variable.name for variable in contract.environment_of(script)}
    assert read - _INTERNAL <= contract_names


@pytest.mark.parametrize("script", contract.SCRIPTS)
def test_script_headers_document_their_variables(script: str) -> None:
    """Each script's header comment names every variable the contract says it reads."""
    header = _header(script)
    missing = [variable.name for variable in contract.environment_of(script) if variable.name not in header]
    assert not missing, f"{script} header does not document {missing}"


@pytest.mark.parametrize(
    "container", [*contract.BACKUP_POD, *contract.RESTORE_POD], ids=lambda container: container.name
)
def test_script_headers_name_the_container_that_runs_them(container: contract.Container) -> None:
    """Each script's header names the image and the init or main container the contract assigns it."""
    header = _header(container.script)
    assert f"`{container.image_repository}" in header
    if container.init:
        assert "init container" in header
    else:
        assert "main container" in header


@pytest.mark.parametrize("name", contract.HANDOVER_FILES)
def test_both_backup_scripts_use_each_hand_over_file(name: str) -> None:
    """Each file the two containers of the backup pod exchange is named, under the work directory, in both
    scripts: one writes it, the other reads it."""
    for script in (contract.BACKUP_DUMP, contract.BACKUP_UPLOAD):
        assert f'"$BACKUP_WORK_DIR/{name}"' in contract.script_text(script), (script, name)


def test_benchmark_baseline_runs_pg_dump_as_the_dump_script_does() -> None:
    """The benchmark's plain pg_dump (PLAIN_DUMP) has exactly the flags of backup-dump.sh's pg_dump, and both
    write to standard output: the throughput ratio compares the same dump."""
    lines = contract.script_text(contract.BACKUP_DUMP).splitlines()
    [command] = [line.strip() for line in lines if line.strip().startswith("pg_dump --")]
    words = command.split()
    # Standard output into a pipe to the dump file (not seekable: written once, front to back), in the
    # background of its stage so that the script can stop it.
    assert words[-2:] == ['2>"$errors"', "&"], "pg_dump no longer writes its standard output"
    assert tuple(words[:-2]) == PLAIN_DUMP
    stage = lines[lines.index(f"  {command}") - 1 : lines.index(f"  {command}") + 4]
    assert stage[0] == "{" and stage[-1].startswith('} | cat >"$dump_path"'), stage


@pytest.mark.parametrize("script", contract.SCRIPTS)
def test_scripts_stop_at_the_first_error(script: str) -> None:
    """Each script is bash with errexit, nounset and pipefail set before any work."""
    lines = contract.script_text(script).splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert lines[len(_header(script).splitlines())] == "set -euo pipefail"


def test_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """shellcheck finds nothing in the scripts and their library, each read with the library it sources, as the
    ConfigMap mounts them side by side."""
    shellcheck = require_tool("shellcheck", package="shellcheck")
    for name, text in contract.script_texts().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [shellcheck, "--external-sources", "--format=gcc", *sorted(contract.script_texts())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
