"""Web identity (IRSA) across the whole program: every pod that assumes a role carries what keeps the EKS pod
identity webhook away from it.

The webhook mutates a container unless it already has AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE, a region and
AWS_STS_REGIONAL_ENDPOINTS; when it mutates, it mounts its own token at the path of ours and the API server
refuses the pod (two mounts at one path). So each container that names a role has all four, and the token it
names is the one its pod mounts.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.shared import irsa
from kube.objects import pod_spec_of
from tests.conftest import RunFeature

WEB_IDENTITY = {"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION", "AWS_STS_REGIONAL_ENDPOINTS"}


def role_containers(run_objects: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """'<kind>/<name>/<container>' -> (container, its pod spec), for every container that names a role."""
    found: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for document in run_objects:
        spec = pod_spec_of(document)
        if spec is None:
            continue
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            names = {variable["name"] for variable in container.get("env", [])}
            if "AWS_ROLE_ARN" in names:
                key = f"{document['kind']}/{document['metadata']['name']}/{container['name']}"
                found[key] = (container, spec)
    return found


@pytest.mark.parametrize("feature", ["production-tenants"])
def test_every_container_that_assumes_a_role_has_the_four_variables_and_the_token(
    feature: str, run_feature: RunFeature
) -> None:
    """Backups (the CronJob and the pre-migration Job) and the media services, in production with every AWS
    role on."""
    run = run_feature(feature)
    containers = role_containers([obj.document for obj in run.objects])
    kinds = {key.split("/", 2)[0] + "/" + key.split("/", 2)[1] for key in containers}
    assert {"CronJob/crm-backup", "Deployment/crm-web", "Deployment/crm-worker"} <= kinds
    for key, (container, spec) in containers.items():
        env = {variable["name"]: variable.get("value") for variable in container["env"]}
        assert set(env) >= WEB_IDENTITY, key
        assert env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional", key
        assert env["AWS_REGION"], key
        token_dir = env["AWS_WEB_IDENTITY_TOKEN_FILE"].rsplit("/", 1)[0]
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == token_dir]
        [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] == irsa.WEB_IDENTITY_AUDIENCE, key
