"""The upload handlers as each stack renders them: exactly the media services get the media store, the IAM role
trusts exactly the ServiceAccounts that carry it, and the ConfigMap tells django-storages where uploads go."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.app.workloads import config_map_content
from components.shared import checksums
from kube.objects import pod_spec_of
from offline.mocks import RecordedResource
from tests.conftest import RunStack, StackRun
from tests.support.components import declare

MEDIA_LABEL = "crm-platform/media-access"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
TOKEN_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
APP = ("crm-web", "crm-worker", "crm-beat", "crm-frontend")


def app_config(run: StackRun) -> dict[str, str]:
    [config_map] = [c for c in run.kind("ConfigMap") if c["metadata"]["name"].startswith("crm-app-config-")]
    data: dict[str, str] = config_map["data"]
    return data


def pods_of(run: StackRun) -> dict[str, dict[str, Any]]:
    """The application's pod templates by workload name (the migration Job as crm-migrate)."""
    found = {}
    for document in run.objects:
        name = document.name
        if document.kind == "Job" and name.startswith("crm-migrate-"):
            name = "crm-migrate"
        if (document.kind == "Deployment" and name in APP) or name == "crm-migrate":
            template = document.document["spec"]["template"]
            found[name] = {"labels": template["metadata"]["labels"], "spec": pod_spec_of(document.document)}
    return found


def environment_of(pod: dict[str, Any]) -> dict[str, str]:
    [container] = pod["spec"]["containers"]
    return {variable["name"]: variable.get("value", "") for variable in container["env"]}


def mounts_of(pod: dict[str, Any]) -> dict[str, str]:
    [container] = pod["spec"]["containers"]
    return {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}


def aws(run: StackRun, pulumi_type: str, name: str) -> RecordedResource:
    [resource] = [r for r in run.recording.resources if r.type == pulumi_type and r.name == name]
    return resource


def media_role(run: StackRun) -> tuple[str, dict[str, Any]]:
    """The media role's ARN (as the mocks return it) and its trust policy."""
    role = aws(run, "aws:iam/role:Role", "media-role")
    return str(role.outputs["arn"]), json.loads(role.inputs["assumeRolePolicy"])


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_role_trusts_exactly_the_service_accounts_that_carry_it(run_stack: RunStack, stack: str) -> None:
    """The ServiceAccounts annotated with the media role are web's and worker's, and the role's trust names
    exactly those, in the app namespace; no other account carries an IAM role but the backups'."""
    run = run_stack(stack)
    role_arn, trust = media_role(run)
    annotated = {
        account["metadata"]["name"]
        for account in run.kind("ServiceAccount")
        if account["metadata"].get("annotations", {}).get(ROLE_ANNOTATION) == role_arn
    }
    assert annotated == {"crm-web", "crm-worker"}
    [statement] = trust["Statement"]
    [subjects] = [value for key, value in statement["Condition"]["StringEquals"].items() if key.endswith(":sub")]
    assert sorted(subjects) == [f"system:serviceaccount:crm-{stack}:{account}" for account in sorted(annotated)]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_only_the_media_services_get_a_web_identity(run_stack: RunStack, stack: str) -> None:
    """Web and worker: the label the S3 flow selects, the projected STS token at the webhook's path, the role and the
    token file for boto3. Beat, the frontend and the migration Job: none of it."""
    run = run_stack(stack)
    role_arn, _trust = media_role(run)
    pods = pods_of(run)
    for name, pod in pods.items():
        handles_uploads = name in ("crm-web", "crm-worker")
        environment = environment_of(pod)
        assert (pod["labels"].get(MEDIA_LABEL) == "true") is handles_uploads, name
        assert (mounts_of(pod).get(TOKEN_DIR) == "aws-token") is handles_uploads, name
        assert (environment.get("AWS_ROLE_ARN") == role_arn) is handles_uploads, name
        if handles_uploads:
            assert environment["AWS_WEB_IDENTITY_TOKEN_FILE"] == f"{TOKEN_DIR}/token"
            assert environment["AWS_REGION"] == "eu-west-1"
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(environment), name


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_config_map_tells_django_storages_where_uploads_go(run_stack: RunStack, stack: str) -> None:
    """Bucket (the one the stack made), region, prefix, SigV4 and the backend choice; no credential, no ACL; the
    ConfigMap is named after this content, so a new bucket would roll every pod."""
    run = run_stack(stack)
    data = app_config(run)
    bucket = run.recording.stack_outputs["mediaBucket"]
    assert bucket.startswith(f"crm-{stack}-media-")
    assert {key: data[key] for key in data if key.startswith(("AWS_", "MEDIA_"))} == {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_REGION_NAME": "eu-west-1",
        "AWS_LOCATION": "media",
        "AWS_S3_SIGNATURE_VERSION": "s3v4",
    }
    [config_map] = [c for c in run.kind("ConfigMap") if c["metadata"]["name"].startswith("crm-app-config-")]
    assert config_map["metadata"]["name"] == f"crm-app-config-{checksums.config_checksum(data)[:10]}"
    web = run.named("Deployment", "crm-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]


@pytest.mark.parametrize(("stack", "size"), [("dev", "5Gi"), ("pr-7", "2Gi")])
def test_dev_and_review_stacks_share_a_volume_between_web_and_worker_on_one_node(
    run_stack: RunStack, stack: str, size: str
) -> None:
    """A ReadWriteOnce claim mounted at /app/media in web and worker (MEDIA_ROOT), which a required pod affinity
    keeps on one node; beat and the migration get no mount; no bucket, role or S3 flow."""
    run = run_stack(stack)
    claim = run.named("PersistentVolumeClaim", "crm-media")
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    assert {key: app_config(run)[key] for key in ("MEDIA_STORAGE", "MEDIA_ROOT")} == {
        "MEDIA_STORAGE": "filesystem",
        "MEDIA_ROOT": "/app/media",
    }
    for name, pod in pods_of(run).items():
        shares = name in ("crm-web", "crm-worker")
        assert (mounts_of(pod).get("/app/media") == "media") is shares, name
        volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
        assert ("media" in volumes) is shares, name
        if shares:
            assert volumes["media"]["persistentVolumeClaim"] == {"claimName": "crm-media"}
            [term] = pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            assert term["labelSelector"]["matchLabels"] == {MEDIA_LABEL: "true", "app.kubernetes.io/instance": stack}
            assert pod["labels"][MEDIA_LABEL] == "true"
            assert pod["spec"]["securityContext"]["fsGroup"] == pod["spec"]["securityContext"]["runAsUser"]
    assert not [r for r in run.recording.resources if r.type.startswith("aws:")]
    assert "allow-media-to-object-storage" not in {policy["metadata"]["name"] for policy in run.kind("NetworkPolicy")}


def test_the_deployments_wait_for_the_claim(run_stack: RunStack) -> None:
    """Web and worker are created after the claim (pulumi-kubernetes treats a WaitForFirstConsumer claim as ready
    while Pending, so the pods can then bind it)."""
    run = run_stack("dev")
    claim = run.resource("PersistentVolumeClaim", "crm-media")
    for name in ("crm-web", "crm-worker"):
        assert claim.urn in run.resource("Deployment", name).dependencies, name
    assert claim.urn not in run.resource("Deployment", "crm-beat").dependencies


def test_a_read_write_many_volume_needs_no_shared_node(run_stack: RunStack) -> None:
    run = run_stack("dev", config={"mediaAccessMode": "ReadWriteMany", "storageClass": "nfs"})
    claim = run.named("PersistentVolumeClaim", "crm-media")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"] and claim["spec"]["storageClassName"] == "nfs"
    assert "affinity" not in run.named("Deployment", "crm-web")["spec"]["template"]["spec"]


def test_media_services_choose_who_handles_uploads(run_stack: RunStack) -> None:
    """mediaServices [web]: the worker gets no label, token or annotation, and the role no longer trusts it."""
    run = run_stack("staging", config={"mediaServices": '["web"]'})
    role_arn, trust = media_role(run)
    assert trust["Statement"][0]["Condition"]["StringEquals"][
        "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub"
    ] == ("system:serviceaccount:crm-staging:crm-web")
    worker = pods_of(run)["crm-worker"]
    assert MEDIA_LABEL not in worker["labels"] and TOKEN_DIR not in mounts_of(worker)
    assert "annotations" not in run.named("ServiceAccount", "crm-worker")["metadata"]
    assert run.named("ServiceAccount", "crm-web")["metadata"]["annotations"] == {ROLE_ANNOTATION: role_arn}


@pytest.mark.parametrize("stack", ["dev", "production"])
def test_media_off_leaves_no_trace(run_stack: RunStack, stack: str) -> None:
    """media "false": no bucket, role, claim, flow, label, mount or ConfigMap entry."""
    run = run_stack(stack, config={"media": "false"})
    assert not [r for r in run.recording.resources if "crm:data:Media" in r.urn]
    assert not [key for key in app_config(run) if key.startswith("MEDIA_") or key.startswith("AWS_S")]
    for name, pod in pods_of(run).items():
        assert MEDIA_LABEL not in pod["labels"], name
    assert "mediaBucket" not in run.recording.stack_outputs
    assert "allow-media-to-object-storage" not in {policy["metadata"]["name"] for policy in run.kind("NetworkPolicy")}


def test_media_egress_cidrs_narrow_the_flow_to_object_storage(run_stack: RunStack) -> None:
    run = run_stack("production", config={"mediaEgressCidrs": '["10.0.0.0/16", "52.95.128.0/21"]'})
    policy = run.named("NetworkPolicy", "allow-media-to-object-storage")["spec"]
    assert policy["podSelector"] == {"matchLabels": {MEDIA_LABEL: "true"}}
    assert policy["egress"] == [
        {
            "ports": [{"port": 443, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}, {"ipBlock": {"cidr": "52.95.128.0/21"}}],
        }
    ]


# --- the ConfigMap's name with a value only known after creation -----------------------------------------------


def test_a_config_map_of_plain_values_has_a_plain_name() -> None:
    """Without Outputs the content and name are plain data, known before anything is created."""
    data, name = config_map_content({"DEBUG": "false"}, {"MEDIA_ROOT": "/app/media"})
    assert data == {"DEBUG": "false", "MEDIA_ROOT": "/app/media"}
    assert name == f"crm-app-config-{checksums.config_checksum(data)[:10]}"


def test_a_config_map_with_an_output_is_named_after_its_resolved_content() -> None:
    """With the bucket's name an Output, the name is the digest of the resolved content: deterministic, and
    different for another bucket (so the pods roll)."""

    def named(bucket: str) -> tuple[Any, Any]:
        run = declare(
            lambda: config_map_content(
                {"DEBUG": "false"}, {"AWS_STORAGE_BUCKET_NAME": pulumi.Output.from_input(bucket)}
            )
        )
        data, name = run.component
        assert isinstance(data, pulumi.Output) and isinstance(name, pulumi.Output)
        return run.output(data), run.output(name)

    first_data, first_name = named("crm-production-media-1")
    assert first_data == {"DEBUG": "false", "AWS_STORAGE_BUCKET_NAME": "crm-production-media-1"}
    assert first_name == f"crm-app-config-{checksums.config_checksum(first_data)[:10]}"
    assert named("crm-production-media-1")[1] == first_name
    assert named("crm-production-media-2")[1] != first_name


def test_an_entry_set_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="the ConfigMap's entries DEBUG are set twice"):
        config_map_content({"DEBUG": "false"}, {"DEBUG": "true"})
