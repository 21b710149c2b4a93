"""Backups: CronJobs from official images and the repository's scripts, with the contract's variables."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.data import backup_contract as contract
from tests.conftest import STACKS, RunStack


def cronjob(run_stack: RunStack, stack: str, name: str, **kwargs: Any) -> dict[str, Any]:
    document: dict[str, Any] = run_stack(stack, **kwargs).named("CronJob", name)
    return document


def containers(job_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = job_spec["template"]["spec"]
    return {container["name"]: container for container in [*spec.get("initContainers", []), *spec["containers"]]}


@pytest.mark.parametrize("stack", STACKS)
def test_the_backup_streams_and_the_restore_fetches_first(run_stack: RunStack, stack: str) -> None:
    """The backup pod runs dump and upload at once (the upload streams the dump as it is written); the
    restore pod fetches in an init container, then verifies: the pods follow the contract's order."""
    run = run_stack(stack)
    for name, pod in (("crm-backup", contract.BACKUP_POD), ("crm-restore-verification", contract.RESTORE_POD)):
        spec = run.named("CronJob", name)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert [c["name"] for c in spec.get("initContainers", [])] == [c.name for c in pod if c.init]
        assert [c["name"] for c in spec["containers"]] == [c.name for c in pod if not c.init]
    backup = run.named("CronJob", "crm-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "initContainers" not in backup and [c["name"] for c in backup["containers"]] == ["dump", "upload"]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("name", ["crm-backup", "crm-restore-verification"])
def test_cronjobs_never_overlap_and_give_up_cleanly(run_stack: RunStack, stack: str, name: str) -> None:
    """Forbid concurrency, a starting deadline, backoff and active deadlines, history limits, UTC."""
    spec = cronjob(run_stack, stack, name)["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0 and spec["timeZone"] == "Etc/UTC"
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] > 0 and job["backoffLimit"] <= 2
    assert job["template"]["spec"]["restartPolicy"] == "Never"


def test_schedules_come_from_the_settings(run_stack: RunStack) -> None:
    """Daily at 02:00 and weekly by default; backupSchedule changes the dump's."""
    assert cronjob(run_stack, "production", "crm-backup")["spec"]["schedule"] == "0 2 * * *"
    assert cronjob(run_stack, "production", "crm-restore-verification")["spec"]["schedule"] == "0 4 * * 0"
    changed = cronjob(run_stack, "staging", "crm-backup", config={"backupSchedule": "30 1 * * *"})
    assert changed["spec"]["schedule"] == "30 1 * * *"


@pytest.mark.parametrize("stack", STACKS)
def test_only_official_images_run_the_repositorys_scripts(run_stack: RunStack, stack: str) -> None:
    """Every container runs `bash <script>` from the mounted ConfigMap in the official postgres or aws-cli image."""
    run = run_stack(stack)
    scripts = run.named("ConfigMap", "crm-backup-scripts")["data"]
    # Byte for byte the files shellcheck and the real-server tests run.
    assert scripts == {name: (contract.SCRIPTS_DIR / name).read_text(encoding="utf-8") for name in scripts}
    run_by_pods = set()
    for name in ("crm-backup", "crm-restore-verification"):
        for container in containers(run.named("CronJob", name)["spec"]["jobTemplate"]["spec"]).values():
            repository, tag = container["image"].rsplit(":", 1)
            assert repository in ("postgres", "amazon/aws-cli") and tag[0].isdigit()
            assert container["command"][0] == "bash"
            script = container["command"][1]
            assert script.startswith(contract.SCRIPTS_MOUNT.path + "/")
            run_by_pods.add(script.removeprefix(contract.SCRIPTS_MOUNT.path + "/"))
    # Everything a pod runs, and everything that sources in turn, is in the ConfigMap (a missing file would only
    # show at 02:00 on the cluster).
    sourced = {
        library for text in scripts.values() for library in re.findall(r'^\s*source .*/([\w.-]+\.sh)"$', text, re.M)
    }
    assert sourced, "the scripts source their library"
    assert run_by_pods | sourced <= set(scripts)


@pytest.mark.parametrize("stack", STACKS)
def test_every_required_variable_of_each_script_is_set(run_stack: RunStack, stack: str) -> None:
    """Each container gets every variable its script requires for the stack's store, secrets by reference."""
    run = run_stack(stack)
    store = "s3" if stack in ("staging", "production") else "directory"
    for name, pod in (("crm-backup", contract.BACKUP_POD), ("crm-restore-verification", contract.RESTORE_POD)):
        by_name = containers(run.named("CronJob", name)["spec"]["jobTemplate"]["spec"])
        for spec in pod:
            env = {variable["name"]: variable for variable in by_name[spec.name]["env"]}
            for variable in spec.environment:
                needed = variable.need is contract.Need.REQUIRED or (
                    variable.need is (contract.Need.S3 if store == "s3" else contract.Need.DIRECTORY)
                )
                if needed:
                    assert variable.name in env, (name, spec.name, variable.name)
                if variable.secret and variable.name in env:
                    assert "secretKeyRef" in env[variable.name]["valueFrom"]
            if spec.name in ("upload", "fetch"):
                assert env[contract.BACKUP_STORE]["value"] == store


def test_uploads_name_the_buckets_key_and_assume_the_role_with_a_projected_token(run_stack: RunStack) -> None:
    """In S3 mode the upload names the bucket's KMS key and the pod has an STS-audience token for IRSA."""
    run = run_stack("production")
    job = run.named("CronJob", "crm-backup")["spec"]["jobTemplate"]["spec"]
    upload = containers(job)["upload"]
    env = {variable["name"]: variable.get("value") for variable in upload["env"]}
    assert env[contract.BACKUP_KMS_KEY_ID].startswith("arn:aws:kms:")
    assert env["AWS_ROLE_ARN"].startswith("arn:aws:iam::") and env["AWS_WEB_IDENTITY_TOKEN_FILE"].endswith("/token")
    [token] = [volume for volume in job["template"]["spec"]["volumes"] if "projected" in volume]
    assert token["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "sts.amazonaws.com"
    account = run.named("ServiceAccount", "crm-backup")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == env["AWS_ROLE_ARN"]


def test_dev_keeps_backups_on_a_volume(run_stack: RunStack) -> None:
    """Without AWS the backups go to a PersistentVolumeClaim mounted in upload and fetch only."""
    run = run_stack("dev")
    claim = run.named("PersistentVolumeClaim", "crm-backup-store")
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    job = run.named("CronJob", "crm-backup")["spec"]["jobTemplate"]["spec"]
    mounted = {name: {m["name"] for m in c["volumeMounts"]} for name, c in containers(job).items()}
    assert contract.STORE_MOUNT.volume in mounted["upload"] and contract.STORE_MOUNT.volume not in mounted["dump"]
    assert "AWS_ROLE_ARN" not in str(job)


def test_the_dump_reads_the_primary_as_the_owner(run_stack: RunStack) -> None:
    """pg_dump connects to the primary (-rw), not the pooler, as crm with the owner Secret's password."""
    dump = containers(cronjob(run_stack, "staging", "crm-backup")["spec"]["jobTemplate"]["spec"])["dump"]
    env = {variable["name"]: variable for variable in dump["env"]}
    assert env["PGHOST"]["value"] == "crm-postgres-rw" and env["PGUSER"]["value"] == "crm"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "crm-database-owner", "key": "password"}


def test_the_restore_check_uses_the_configured_minimum_rows(run_stack: RunStack) -> None:
    """RESTORE_MINIMUM_ROWS comes from restoreMinimumRows; django_migrations >= 1 by default."""
    default = containers(cronjob(run_stack, "staging", "crm-restore-verification")["spec"]["jobTemplate"]["spec"])
    env = {variable["name"]: variable["value"] for variable in default["verify"]["env"]}
    assert env[contract.RESTORE_MINIMUM_ROWS] == "django_migrations=1"
    configured = cronjob(
        run_stack, "staging", "crm-restore-verification", config={"restoreMinimumRows": '{"crm_contact": 1000}'}
    )
    env = {v["name"]: v["value"] for v in containers(configured["spec"]["jobTemplate"]["spec"])["verify"]["env"]}
    assert env[contract.RESTORE_MINIMUM_ROWS] == "crm_contact=1000"
