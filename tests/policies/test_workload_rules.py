"""Platform rules for pods beyond PSS (W1-W6): a compliant template passes in every kind; each rule branch
reports exactly its violation, in every container list it applies to."""

from __future__ import annotations

from typing import Any

import pytest

from policies.common import Violation
from policies.registry import POLICIES_BY_NAME, RESOURCE_POLICIES
from policies.workload_rules import image_reference
from tests.policies.pod_fixtures import DELETE, POD_BEARING_KINDS, TEMPLATE_PREFIXES, compliant_object

LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod", "PodTemplate")
RUN_TO_COMPLETION = ("Job", "CronJob")


def findings(policy: str, document: dict[str, Any], options: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(control, path) of each violation of `policy`, paths relative to the pod template."""
    violations: list[Violation] = POLICIES_BY_NAME[policy].evaluate(document, options)
    prefix = TEMPLATE_PREFIXES[str(document["kind"])]
    return [(violation.control, violation.path.removeprefix(prefix)) for violation in violations]


def messages(policy: str, document: dict[str, Any], options: dict[str, Any] | None = None) -> list[str]:
    return [violation.message for violation in POLICIES_BY_NAME[policy].evaluate(document, options)]


@pytest.mark.parametrize("kind", POD_BEARING_KINDS)
@pytest.mark.parametrize("spec", RESOURCE_POLICIES, ids=[spec.name for spec in RESOURCE_POLICIES])
def test_compliant_template_passes_every_resource_policy_in_every_kind(spec: Any, kind: str) -> None:
    assert spec.evaluate(compliant_object(kind)) == []


# W1 resources ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", POD_BEARING_KINDS)
@pytest.mark.parametrize(
    ("field", "container"),
    [
        ("requests.cpu", "initContainers[migrate]"),
        ("requests.memory", "containers[web]"),
        ("limits.memory", "containers[sidecar]"),
    ],
)
def test_missing_request_or_memory_limit_is_reported(kind: str, field: str, container: str) -> None:
    document = compliant_object(kind, (f"spec.{container}.resources.{field}", DELETE))
    assert findings("container-resources", document) == [("W1", f"spec.{container}.resources.{field}")]


def test_container_without_resources_reports_all_three() -> None:
    document = compliant_object("Deployment", ("spec.containers[web].resources", DELETE))
    assert messages("container-resources", document) == [
        "container 'web' sets no requests.cpu",
        "container 'web' sets no requests.memory",
        "container 'web' sets no limits.memory",
    ]


def test_an_empty_quantity_counts_as_missing() -> None:
    """`cpu: ""` requests nothing: the scheduler reads it as unset, so the rule does too."""
    document = compliant_object("Deployment", ("spec.containers[web].resources.requests.cpu", ""))
    assert findings("container-resources", document) == [("W1", "spec.containers[web].resources.requests.cpu")]


def test_ephemeral_containers_need_no_resources() -> None:
    """The API refuses resources on ephemeral containers, so the rule cannot ask for them."""
    document = compliant_object("Pod")
    assert "resources" not in document["spec"]["ephemeralContainers"][0]
    assert findings("container-resources", document) == []


# W2 probes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LONG_RUNNING)
@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_long_running_container_without_probe_is_reported(kind: str, probe: str) -> None:
    document = compliant_object(kind, (f"spec.containers[sidecar].{probe}", DELETE))
    assert findings("liveness-and-readiness-probes", document) == [("W2", f"spec.containers[sidecar].{probe}")]
    assert messages("liveness-and-readiness-probes", document) == [f"long-running container 'sidecar' has no {probe}"]


@pytest.mark.parametrize("kind", RUN_TO_COMPLETION)
def test_jobs_need_no_probes(kind: str) -> None:
    document = compliant_object(
        kind, ("spec.containers[web].livenessProbe", DELETE), ("spec.containers[web].readinessProbe", DELETE)
    )
    assert findings("liveness-and-readiness-probes", document) == []


@pytest.mark.parametrize("kind", ["Pod", "PodTemplate"])
@pytest.mark.parametrize(("restart_policy", "expected"), [("Never", 0), ("OnFailure", 0), ("Always", 2)])
def test_a_pod_is_long_running_only_when_it_restarts_always(kind: str, restart_policy: str, expected: int) -> None:
    """A Pod, and the pods a PodTemplate describes, need probes only when restartPolicy is Always."""
    document = compliant_object(
        kind,
        ("spec.restartPolicy", restart_policy),
        ("spec.containers[web].livenessProbe", DELETE),
        ("spec.containers[web].readinessProbe", DELETE),
    )
    assert len(findings("liveness-and-readiness-probes", document)) == expected


def test_native_sidecar_needs_probes_plain_init_container_does_not() -> None:
    """An init container with restartPolicy Always runs for the pod's life; the migrate one runs once."""
    document = compliant_object("Deployment", ("spec.initContainers[migrate].restartPolicy", "Always"))
    assert findings("liveness-and-readiness-probes", document) == [
        ("W2", "spec.initContainers[migrate].livenessProbe"),
        ("W2", "spec.initContainers[migrate].readinessProbe"),
    ]
    assert findings("liveness-and-readiness-probes", compliant_object("Deployment")) == []


# W3 image pinning ----------------------------------------------------------------------------

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/acme/crm:2.4.1", ("ghcr.io/acme/crm", "2.4.1", "")),
        ("registry.local:5000/crm", ("registry.local:5000/crm", "", "")),
        ("registry.local:5000/crm:1.0", ("registry.local:5000/crm", "1.0", "")),
        (f"postgres:16.13@{DIGEST}", ("postgres", "16.13", DIGEST)),
        (f"postgres@{DIGEST}", ("postgres", "", DIGEST)),
        # A colon before the last slash is not a tag, however many slashes follow the registry.
        ("registry.local:5000/team/crm", ("registry.local:5000/team/crm", "", "")),
        ("ghcr.io/acme:2.4/crm", ("ghcr.io/acme:2.4/crm", "", "")),
    ],
)
def test_image_reference_parts(image: str, expected: tuple[str, str, str]) -> None:
    assert image_reference(image) == expected


@pytest.mark.parametrize("kind", POD_BEARING_KINDS)
@pytest.mark.parametrize(
    "container", ["initContainers[migrate]", "containers[sidecar]", "ephemeralContainers[debugger]"]
)
@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("ghcr.io/acme/crm:latest", "image ghcr.io/acme/crm:latest uses the tag latest; pin a version"),
        ("ghcr.io/acme/crm", "image ghcr.io/acme/crm has no tag, so it means latest; pin a version"),
        ("registry.local:5000/crm", "image registry.local:5000/crm has no tag, so it means latest; pin a version"),
        ("crm@sha256:abc", "image crm@sha256:abc has a malformed digest"),
        ("", "container '{name}' names no image"),
    ],
)
def test_unpinned_image_is_reported_in_every_container_list(
    kind: str, container: str, image: str, message: str
) -> None:
    document = compliant_object(kind, (f"spec.{container}.image", image))
    name = container.split("[")[1].rstrip("]")
    assert findings("image-pinned", document) == [("W3", f"spec.{container}.image")]
    assert messages("image-pinned", document) == [message.format(name=name)]


def test_a_container_without_an_image_does_not_end_the_check() -> None:
    document = compliant_object(
        "Deployment", ("spec.initContainers[migrate].image", ""), ("spec.containers[web].image", "crm:latest")
    )
    assert findings("image-pinned", document) == [
        ("W3", "spec.initContainers[migrate].image"),
        ("W3", "spec.containers[web].image"),
    ]


def test_tags_pass_unless_the_config_requires_digests() -> None:
    """requireDigest is off unless the policy config turns it on."""
    document = compliant_object("Deployment")
    assert findings("image-pinned", document) == []
    assert findings("image-pinned", document, {"requireDigest": False}) == []
    assert messages("image-pinned", document, {"requireDigest": True})[0] == (
        f"image {document['spec']['template']['spec']['initContainers'][0]['image']} is not pinned by digest "
        "(requireDigest is true); add @sha256:..."
    )


def test_digest_without_tag_is_pinned_and_require_digest_demands_one() -> None:
    pinned_by_digest = compliant_object("Deployment", ("spec.containers[web].image", f"ghcr.io/acme/crm@{DIGEST}"))
    assert findings("image-pinned", pinned_by_digest) == []
    required = findings("image-pinned", pinned_by_digest, {"requireDigest": True})
    # Every other container still names a tag only.
    assert ("W3", "spec.containers[web].image") not in required
    assert {path for _, path in required} == {
        "spec.initContainers[migrate].image",
        "spec.containers[sidecar].image",
        "spec.ephemeralContainers[debugger].image",
    }


# W4 service account and token ------------------------------------------------------------------


@pytest.mark.parametrize("kind", POD_BEARING_KINDS)
def test_default_service_account_is_reported(kind: str) -> None:
    document = compliant_object(kind, ("spec.serviceAccountName", DELETE))
    assert findings("service-account-token", document) == [("W4", "spec.serviceAccountName")]
    document = compliant_object(kind, ("spec.serviceAccountName", "default"))
    assert findings("service-account-token", document) == [("W4", "spec.serviceAccountName")]
    assert messages("service-account-token", document) == [
        "the pod runs as the namespace's default ServiceAccount; give the workload its own"
    ]


def test_deprecated_service_account_field_counts() -> None:
    document = compliant_object("Deployment", ("spec.serviceAccountName", DELETE), ("spec.serviceAccount", "crm-web"))
    assert findings("service-account-token", document) == []


@pytest.mark.parametrize(
    ("value", "found"), [(DELETE, "unset (the ServiceAccount decides, true by default)"), (True, "true")]
)
def test_token_automount_is_reported_unless_false(value: object, found: str) -> None:
    document = compliant_object("Deployment", ("spec.automountServiceAccountToken", value))
    assert findings("service-account-token", document) == [("W4", "spec.automountServiceAccountToken")]
    assert messages("service-account-token", document) == [
        f"automountServiceAccountToken is {found} for ServiceAccount crm/crm-web; set false, or allow-list the "
        "account in tokenAllowed if it calls the Kubernetes API"
    ]


def test_an_object_without_a_namespace_is_named_by_its_account_alone() -> None:
    """Nothing is allow-listed by default, and a namespace-less object matches only `/<account>` patterns."""
    document = compliant_object("Deployment", ("spec.automountServiceAccountToken", True))
    del document["metadata"]["namespace"]
    assert messages("service-account-token", document)[0].endswith(
        "is true for ServiceAccount /crm-web; set false, or allow-list the account in tokenAllowed if it calls "
        "the Kubernetes API"
    )
    assert findings("service-account-token", document, {"tokenAllowed": ["/crm-web"]}) == []
    default = compliant_object("Deployment", ("spec.serviceAccountName", "default"))
    assert len(findings("service-account-token", default)) == 1


def test_allow_lists_accept_named_accounts_only() -> None:
    mounted = compliant_object("Deployment", ("spec.automountServiceAccountToken", True))
    assert findings("service-account-token", mounted, {"tokenAllowed": ["crm/crm-*"]}) == []
    assert len(findings("service-account-token", mounted, {"tokenAllowed": ["other/*"]})) == 1
    default = compliant_object("Deployment", ("spec.serviceAccountName", "default"))
    assert findings("service-account-token", default, {"defaultAllowed": ["crm/default"]}) == []


# W5 secrets in env -----------------------------------------------------------------------------

AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"


@pytest.mark.parametrize("container", ["initContainers[migrate]", "containers[web]", "ephemeralContainers[debugger]"])
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "DB_PASSWORD",
            "hunter2hunter2",
            "env DB_PASSWORD looks secret but has a literal value; use valueFrom.secretKeyRef",
        ),
        (
            "STRIPE_SECRET_KEY",
            "abc",
            "env STRIPE_SECRET_KEY looks secret but has a literal value; use valueFrom.secretKeyRef",
        ),
        ("UPSTREAM", AWS_KEY, "env UPSTREAM holds an AWS access key id as a literal; use secretKeyRef"),
        (
            "DATABASE_URL",
            "postgres://crm:s3cret@db:5432/crm",
            "env DATABASE_URL holds a password inside a URL as a literal; use secretKeyRef",
        ),
        (
            "TLS_KEY_PEM",
            "-----BEGIN RSA PRIVATE KEY-----\nMII",
            "env TLS_KEY_PEM holds a PEM private key as a literal; use secretKeyRef",
        ),
    ],
)
def test_literal_secret_in_env_is_reported_without_its_value(
    container: str, name: str, value: str, message: str
) -> None:
    document = compliant_object("Deployment", (f"spec.{container}.env", [{"name": name, "value": value}]))
    violations = POLICIES_BY_NAME["no-secret-literals-in-env"].evaluate(document)
    assert [(v.control, v.path, v.message) for v in violations] == [
        ("W5", f"spec.template.spec.{container}.env[{name}].value", message)
    ]
    assert value not in violations[0].message


@pytest.mark.parametrize(
    "variable",
    [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "DATABASE_URL", "value": "postgres://$(DB_USER):$(DB_PASSWORD)@db:5432/crm"},
        {"name": "REDIS_PASSWORD_FILE_PATH", "value": ""},
        {"name": "DB_PASSWORD", "value": "$(INHERITED_PASSWORD)"},
        {"name": "PASSWORD_RESET_TIMEOUT", "value": "3600"},
        {"name": "CACHE_KEY_PREFIX", "value": "crm"},
    ],
)
def test_references_and_harmless_names_pass(variable: dict[str, Any]) -> None:
    document = compliant_object("Deployment", ("spec.containers[web].env", [variable]))
    assert findings("no-secret-literals-in-env", document) == []


@pytest.mark.parametrize("value", [7, True, ["x"]])
def test_a_value_that_is_not_a_string_is_not_judged(value: object) -> None:
    """The API refuses a non-string env value; the rule skips it rather than fail on it."""
    document = compliant_object("Deployment", ("spec.containers[web].env", [{"name": "DB_PASSWORD", "value": value}]))
    assert findings("no-secret-literals-in-env", document) == []


def test_a_reference_does_not_end_the_check_of_the_variables_after_it() -> None:
    env = [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "DATABASE_URL", "value": "postgres://$(DB_USER):$(DB_PASSWORD)@db:5432/crm"},
        {"name": "API_TOKEN", "value": "abc"},
    ]
    document = compliant_object("Deployment", ("spec.containers[web].env", env))
    assert findings("no-secret-literals-in-env", document) == [("W5", "spec.containers[web].env[API_TOKEN].value")]


# W6 CronJob scheduling -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ({"concurrencyPolicy": DELETE}, "concurrencyPolicy is unset (Allow); allowed: Forbid, Replace"),
        ({"concurrencyPolicy": "Allow"}, 'concurrencyPolicy is "Allow"; allowed: Forbid, Replace'),
        ({"startingDeadlineSeconds": DELETE}, "startingDeadlineSeconds is unset"),
        ({"startingDeadlineSeconds": 0}, "startingDeadlineSeconds is 0"),
        ({"startingDeadlineSeconds": -60}, "startingDeadlineSeconds is -60"),
        ({"startingDeadlineSeconds": "600"}, 'startingDeadlineSeconds is "600"'),
        ({"startingDeadlineSeconds": True}, "startingDeadlineSeconds is true"),
    ],
)
def test_cronjob_without_scheduling_fields_is_reported(edits: dict[str, object], expected: str) -> None:
    document = compliant_object("CronJob")
    for field, value in edits.items():
        if value is DELETE:
            document["spec"].pop(field)
        else:
            document["spec"][field] = value
    field = next(iter(edits))
    tail = {
        "concurrencyPolicy": " (overlapping runs pile up otherwise)",
        "startingDeadlineSeconds": "; set a positive number of seconds so a run missed during an outage is "
        "skipped rather than started at any hour",
    }[field]
    violations = POLICIES_BY_NAME["cronjob-scheduling"].evaluate(document)
    assert [(v.control, v.path, v.message) for v in violations] == [("W6", f"spec.{field}", expected + tail)]


@pytest.mark.parametrize("policy", ["Forbid", "Replace"])
def test_cronjob_with_a_one_second_deadline_and_an_allowed_policy_passes(policy: str) -> None:
    document = compliant_object("CronJob")
    document["spec"] |= {"concurrencyPolicy": policy, "startingDeadlineSeconds": 1}
    assert messages("cronjob-scheduling", document) == []


def test_cronjob_policy_config_may_allow_overlap() -> None:
    document = compliant_object("CronJob")
    document["spec"]["concurrencyPolicy"] = "Allow"
    assert messages("cronjob-scheduling", document, {"allowedConcurrencyPolicies": ["Allow", "Forbid"]}) == []


def test_probe_exemptions_name_the_workload_and_give_a_reason() -> None:
    """A chart workload without a health endpoint is exempted by `<namespace>/<name>` only, with its reason."""
    document = compliant_object("Deployment", ("spec.containers[sidecar].livenessProbe", DELETE))
    assert findings("liveness-and-readiness-probes", document, {"exempt": {"crm/crm-web": "no health endpoint"}}) == []
    assert (
        len(findings("liveness-and-readiness-probes", document, {"exempt": {"crm/other": "no health endpoint"}})) == 1
    )
