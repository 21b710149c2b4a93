"""The backup contract against the scripts that read it: the variables each script documents, the store layout
restore-fetch.sh finds, and the settings restore-verify.sh accepts, with every refusal's exact message.

The scripts run for real here (bash, coreutils; restore-verify.sh as the pods' uid when we are root), only up to
where the contract's values are judged: the whole backup and restore against PostgreSQL and S3 is
test_backup_pipeline.py's. These tests call the contract's functions directly, so `make mutation` judges them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from components.data import backup_contract as contract
from tests.support.backup_harness import Account, MissingToolError, as_account, pod_account
from tests.support.tools import unavailable

BACKUP_ID = "20260102T030405Z"
DUMP_FILE = "crm.r4nd0m.dump"
HEADER_NEEDS = {
    "required": contract.Need.REQUIRED,
    "optional": contract.Need.OPTIONAL,
    "s3": contract.Need.S3,
    "directory": contract.Need.DIRECTORY,
}
HEADER_LINE = re.compile(r"^#   ([A-Z][A-Z_]+) +(required|optional|s3|directory) ", re.MULTILINE)


def run(
    script: str, environment: Mapping[str, str], account: Account | None = None
) -> subprocess.CompletedProcess[str]:
    """`bash <script>` from the contract's scripts directory, with `environment` and a plain PATH only."""
    return subprocess.run(
        ["bash", str(contract.SCRIPTS_DIR / script)],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **as_account(account),
    )


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A scratch directory the pods' uid can enter (pytest's tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix="crm-backup-contract-") as name:
        directory = Path(name)
        directory.chmod(0o755)
        yield directory


@pytest.fixture
def pod() -> Account | None:
    """The pods' uid when we are root (restore-verify.sh refuses root, as PostgreSQL does)."""
    if shutil.which("bash") is None:
        unavailable("bash is missing: `apt-get install bash`")
    try:
        return pod_account()
    except MissingToolError as missing:
        unavailable(str(missing))


def owned_directory(parent: Path, name: str, account: Account | None) -> Path:
    directory = parent / name
    directory.mkdir()
    if account is not None:
        os.chown(directory, account.uid, account.gid)
    return directory


# --- which script reads what ---------------------------------------------------------------------


@pytest.mark.parametrize("script", contract.SCRIPTS)
def test_each_script_reads_exactly_the_variables_its_header_documents(script: str) -> None:
    documented = {name: HEADER_NEEDS[need] for name, need in HEADER_LINE.findall(contract.script_text(script))}
    assert {variable.name: variable.need for variable in contract.environment_of(script)} == documented


# --- store layout ---------------------------------------------------------------------------------


def test_run_keys_put_the_dump_and_the_manifest_under_the_backup_id() -> None:
    assert contract.run_keys("/crm/stagingX/", BACKUP_ID, DUMP_FILE) == (
        f"crm/stagingX/{BACKUP_ID}/{DUMP_FILE}",
        f"crm/stagingX/{BACKUP_ID}/manifest.json",
    )


@pytest.mark.parametrize("prefix", ["", "/", "crm//production", "-crm", "crm/../etc", "crm production", "crm/.x"])
def test_a_prefix_that_is_not_a_plain_path_is_refused_by_name(prefix: str) -> None:
    message = (
        f"backup prefix {prefix!r} is not a plain path: segments of letters, digits, '_', '.', '-', "
        "each starting with a letter or digit"
    )
    with pytest.raises(ValueError) as refused:
        contract.run_keys(prefix, BACKUP_ID, DUMP_FILE)
    assert str(refused.value) == message
    with pytest.raises(ValueError) as refused_by_store:
        contract.S3Store(bucket="b", region="eu-west-1", prefix=prefix).environment()
    assert str(refused_by_store.value) == message
    with pytest.raises(ValueError) as refused_by_directory:
        contract.DirectoryStore(prefix=prefix).environment()
    assert str(refused_by_directory.value) == message


def test_the_s3_store_sets_the_bucket_region_key_and_endpoint_only_when_given() -> None:
    store = contract.S3Store(bucket="crm-backups", region="eu-west-1", prefix="/backups/logical/")
    assert contract.transfer_environment(store, "/work") == {
        "BACKUP_WORK_DIR": "/work",
        "BACKUP_STORE": "s3",
        "BACKUP_BUCKET": "crm-backups",
        "AWS_REGION": "eu-west-1",
        "BACKUP_PREFIX": "backups/logical",
    }
    with_key = contract.S3Store("crm-backups", "eu-west-1", "backups", kms_key_id="alias/k", endpoint_url="http://m")
    assert with_key.environment() == {
        "BACKUP_STORE": "s3",
        "BACKUP_BUCKET": "crm-backups",
        "AWS_REGION": "eu-west-1",
        "BACKUP_PREFIX": "backups",
        "BACKUP_KMS_KEY_ID": "alias/k",
        "AWS_ENDPOINT_URL": "http://m",
    }


def test_restore_fetch_finds_a_backup_laid_out_by_run_keys_in_a_directory_store(shared_tmp: Path) -> None:
    """The real reader of the layout: restore-fetch.sh, given transfer_environment of a DirectoryStore."""
    prefix = "/crm/devX/"
    store_directory = shared_tmp / "store"
    dump_key, manifest_key = contract.run_keys(prefix, BACKUP_ID, DUMP_FILE)
    (store_directory / dump_key).parent.mkdir(parents=True)
    (store_directory / dump_key).write_bytes(b"PGDMP the dump")
    # One key per line, as backup-upload.sh writes it (backup-common.sh's write_json).
    (store_directory / manifest_key).write_text(
        f'{{\n  "backup_id": "{BACKUP_ID}",\n  "dump_file": "{DUMP_FILE}"\n}}\n', encoding="utf-8"
    )
    work = owned_directory(shared_tmp, "work", None)
    store = contract.DirectoryStore(prefix=prefix, directory=str(store_directory))
    assert store.environment()["BACKUP_DIRECTORY"] == str(store_directory)
    assert contract.DirectoryStore(prefix="p").environment()["BACKUP_DIRECTORY"] == contract.STORE_MOUNT.path

    fetched = run(contract.RESTORE_FETCH, contract.transfer_environment(store, str(work)))

    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == (
        f"restore-fetch: fetched backup {BACKUP_ID} from {store_directory}/crm/devX/{BACKUP_ID}/: "
        f"manifest.json and {DUMP_FILE} into {work}\n"
    )
    assert (work / DUMP_FILE).read_bytes() == b"PGDMP the dump"


# --- the dump's and the verification's settings -----------------------------------------------------


def test_the_dump_gets_the_server_the_role_and_the_database() -> None:
    assert contract.dump_environment("crm-postgres-rw", 5433, "crm", "crm_app", "/w") == {
        "PGHOST": "crm-postgres-rw",
        "PGPORT": "5433",
        "PGUSER": "crm",
        "PGDATABASE": "crm_app",
        "BACKUP_WORK_DIR": "/w",
    }


def test_the_verification_defaults_to_one_job_and_the_pods_mounts() -> None:
    assert contract.verify_environment({"crm_contact": 1}) == {
        "BACKUP_WORK_DIR": contract.WORK_MOUNT.path,
        "RESTORE_CLUSTER_DIR": contract.CLUSTER_MOUNT.path,
        "RESTORE_MINIMUM_ROWS": "crm_contact=1",
        "RESTORE_JOBS": "1",
    }


@pytest.mark.parametrize(
    ("minimum_rows", "jobs"),
    [({"crm_contact": 0}, 1), ({"sales.deal": 5, "crm_contact": 1000, "auth_user": 0}, 99)],
)
def test_restore_verify_accepts_what_the_contract_formats(
    minimum_rows: dict[str, int], jobs: int, shared_tmp: Path, pod: Account | None
) -> None:
    """restore-verify.sh parses the settings, then stops at the manifest this test does not give it."""
    work = owned_directory(shared_tmp, "work", pod)
    cluster = owned_directory(shared_tmp, "cluster", pod)
    environment = contract.verify_environment(minimum_rows, jobs=jobs, work_dir=str(work), cluster_dir=str(cluster))
    assert environment["RESTORE_JOBS"] == str(jobs)
    assert environment["RESTORE_MINIMUM_ROWS"] == ",".join(f"{t}={n}" for t, n in sorted(minimum_rows.items()))

    verified = run(contract.RESTORE_VERIFY, environment, pod)

    assert verified.returncode == 1
    assert verified.stderr.splitlines()[-1] == (
        f"restore-verify: FAILED at read-manifest: no manifest.json in {work}: restore-fetch.sh did not finish"
    )


@pytest.mark.parametrize("jobs", [0, 100, -1])
def test_restore_jobs_outside_1_to_99_are_refused(jobs: int) -> None:
    with pytest.raises(ValueError) as refused:
        contract.verify_environment({"crm_contact": 1}, jobs=jobs)
    assert str(refused.value) == f"restore jobs must be 1-99, not {jobs}"


@pytest.mark.parametrize(
    ("minimum_rows", "message"),
    [
        ({}, "the restore verification needs at least one table=count in RESTORE_MINIMUM_ROWS"),
        ({"Crm_Contact": 1}, "'Crm_Contact' is not a lower-case table name, optionally schema-qualified"),
        ({"a.b.c": 1}, "'a.b.c' is not a lower-case table name, optionally schema-qualified"),
        ({"crm_contact": -1}, "minimum rows of crm_contact must be a whole number >= 0, not -1"),
        ({"crm_contact": True}, "minimum rows of crm_contact must be a whole number >= 0, not True"),
        ({"crm_contact": False}, "minimum rows of crm_contact must be a whole number >= 0, not False"),
    ],
)
def test_minimum_rows_restore_verify_could_not_read_are_refused_by_name(
    minimum_rows: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        contract.format_minimum_rows(minimum_rows)
    assert str(refused.value) == message
