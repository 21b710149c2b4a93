"""Pod Security Standards checks: a restricted template passes in every kind; each control catches its own breach."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kube.objects import pod_metadata_of, pod_spec_of
from policies.pod_security import (
    CONTROLS,
    READ_ONLY_ROOT_FILESYSTEM,
    Violation,
    check_baseline,
    check_read_only_root,
    check_restricted,
    pod_template_of,
    pod_templates_reused,
)
from tests.conftest import STACKS, RunStack
from tests.policies.pod_fixtures import (
    ALL_CONTAINERS,
    DELETE,
    POD_BEARING_KINDS,
    TEMPLATE_PREFIXES,
    render,
    restricted_template,
    variant,
)


@dataclass(frozen=True)
class Case:
    id: str
    edits: tuple[tuple[str, object], ...]
    expected: frozenset[tuple[str, str]]
    """(control, path relative to the pod template)."""


def case(case_id: str, edits: list[tuple[str, object]], expected: list[tuple[str, str]]) -> Case:
    return Case(case_id, tuple(edits), frozenset(expected))


APPARMOR_WEB = "metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]"
POD_CONTEXT = "spec.securityContext"


def container_context(container: str) -> str:
    return f"spec.{container}.securityContext"


NON_COMPLIANT = [
    case(
        "B1-pod-hostProcess",
        [(f"{POD_CONTEXT}.windowsOptions.hostProcess", True)],
        [("B1", f"{POD_CONTEXT}.windowsOptions.hostProcess")],
    ),
    case(
        "B1-ephemeral-hostProcess",
        [(f"{container_context('ephemeralContainers[debugger]')}.windowsOptions.hostProcess", True)],
        [("B1", f"{container_context('ephemeralContainers[debugger]')}.windowsOptions.hostProcess")],
    ),
    case("B2-hostNetwork", [("spec.hostNetwork", True)], [("B2", "spec.hostNetwork")]),
    case("B2-hostPID", [("spec.hostPID", True)], [("B2", "spec.hostPID")]),
    case("B2-hostIPC", [("spec.hostIPC", True)], [("B2", "spec.hostIPC")]),
    case(
        "B3-init-privileged",
        [(f"{container_context('initContainers[migrate]')}.privileged", True)],
        [("B3", f"{container_context('initContainers[migrate]')}.privileged")],
    ),
    case(
        "B4-and-R6-add-SYS_ADMIN",
        [(f"{container_context('containers[web]')}.capabilities.add", ["SYS_ADMIN"])],
        [
            ("B4", f"{container_context('containers[web]')}.capabilities.add"),
            ("R6", f"{container_context('containers[web]')}.capabilities.add"),
        ],
    ),
    case(
        "B5-and-R1-hostPath",
        [("spec.volumes[host].hostPath", {"path": "/var/run"})],
        [("B5", "spec.volumes[host].hostPath"), ("R1", "spec.volumes[host].hostPath")],
    ),
    case(
        "B6-hostPort",
        [("spec.containers[web].ports[http].hostPort", 8080)],
        [("B6", "spec.containers[web].ports[http].hostPort")],
    ),
    case(
        "B7-probe-httpGet-host",
        [("spec.containers[web].livenessProbe.httpGet.host", "10.0.0.1")],
        [("B7", "spec.containers[web].livenessProbe.httpGet.host")],
    ),
    case(
        "B7-probe-tcpSocket-host",
        [("spec.containers[web].readinessProbe.tcpSocket.host", "metadata.google.internal")],
        [("B7", "spec.containers[web].readinessProbe.tcpSocket.host")],
    ),
    case(
        "B7-lifecycle-host",
        [("spec.containers[sidecar].lifecycle.postStart.tcpSocket", {"port": 80, "host": "10.0.0.1"})],
        [("B7", "spec.containers[sidecar].lifecycle.postStart.tcpSocket.host")],
    ),
    case("B8-annotation-unconfined", [(APPARMOR_WEB, "unconfined")], [("B8", APPARMOR_WEB)]),
    case(
        "B8-pod-appArmorProfile",
        [(f"{POD_CONTEXT}.appArmorProfile", {"type": "Unconfined"})],
        [("B8", f"{POD_CONTEXT}.appArmorProfile.type")],
    ),
    case(
        "B8-ephemeral-appArmorProfile",
        [(f"{container_context('ephemeralContainers[debugger]')}.appArmorProfile", {"type": "Unconfined"})],
        [("B8", f"{container_context('ephemeralContainers[debugger]')}.appArmorProfile.type")],
    ),
    case(
        "B9-pod-type",
        [(f"{POD_CONTEXT}.seLinuxOptions.type", "spc_t")],
        [("B9", f"{POD_CONTEXT}.seLinuxOptions.type")],
    ),
    case(
        "B9-container-type-unconfined_t",
        [(f"{container_context('containers[web]')}.seLinuxOptions.type", "unconfined_t")],
        [("B9", f"{container_context('containers[web]')}.seLinuxOptions.type")],
    ),
    case(
        "B9-init-user",
        [(f"{container_context('initContainers[migrate]')}.seLinuxOptions", {"user": "system_u"})],
        [("B9", f"{container_context('initContainers[migrate]')}.seLinuxOptions.user")],
    ),
    case(
        "B9-container-role",
        [(f"{container_context('containers[web]')}.seLinuxOptions.role", "sysadm_r")],
        [("B9", f"{container_context('containers[web]')}.seLinuxOptions.role")],
    ),
    case(
        "B10-procMount",
        [(f"{container_context('containers[sidecar]')}.procMount", "Unmasked")],
        [("B10", f"{container_context('containers[sidecar]')}.procMount")],
    ),
    case(
        "B11-and-R5-pod-unconfined",
        [(f"{POD_CONTEXT}.seccompProfile.type", "Unconfined")],
        # The pod level no longer covers the containers that set no profile of their own.
        [
            ("B11", f"{POD_CONTEXT}.seccompProfile.type"),
            ("R5", f"{POD_CONTEXT}.seccompProfile.type"),
            ("R5", f"{container_context('initContainers[migrate]')}.seccompProfile.type"),
            ("R5", f"{container_context('ephemeralContainers[debugger]')}.seccompProfile.type"),
        ],
    ),
    case(
        "B11-and-R5-ephemeral-unconfined",
        [(f"{container_context('ephemeralContainers[debugger]')}.seccompProfile", {"type": "Unconfined"})],
        [
            ("B11", f"{container_context('ephemeralContainers[debugger]')}.seccompProfile.type"),
            ("R5", f"{container_context('ephemeralContainers[debugger]')}.seccompProfile.type"),
        ],
    ),
    case(
        "B11-and-R5-container-profile-without-type",
        [(f"{container_context('containers[web]')}.seccompProfile", {"localhostProfile": "profiles/web.json"})],
        [
            ("B11", f"{container_context('containers[web]')}.seccompProfile.type"),
            ("R5", f"{container_context('containers[web]')}.seccompProfile.type"),
        ],
    ),
    case(
        "B12-unsafe-sysctl",
        [(f"{POD_CONTEXT}.sysctls[kernel.msgmax].value", "65536")],
        [("B12", f"{POD_CONTEXT}.sysctls[kernel.msgmax]")],
    ),
    case(
        "R1-nfs-volume",
        [("spec.volumes[shared].nfs", {"server": "nfs", "path": "/"})],
        [("R1", "spec.volumes[shared].nfs")],
    ),
    case(
        "R1-nfs-and-iscsi-reported-once-by-the-first",
        [("spec.volumes[shared].nfs", {"server": "nfs", "path": "/"}), ("spec.volumes[shared].iscsi", {"lun": 0})],
        [("R1", "spec.volumes[shared].nfs")],
    ),
    case(
        "B12-sysctl-safe-only-from-1.37",
        [(f"{POD_CONTEXT}.sysctls[net.ipv4.tcp_keepalive_time].name", "net.ipv4.tcp_notsent_lowat")],
        [("B12", f"{POD_CONTEXT}.sysctls[net.ipv4.tcp_notsent_lowat]")],
    ),
    case(
        "R2-ephemeral-unset",
        [(f"{container_context('ephemeralContainers[debugger]')}.allowPrivilegeEscalation", DELETE)],
        [("R2", f"{container_context('ephemeralContainers[debugger]')}.allowPrivilegeEscalation")],
    ),
    case(
        "R2-init-true",
        [(f"{container_context('initContainers[migrate]')}.allowPrivilegeEscalation", True)],
        [("R2", f"{container_context('initContainers[migrate]')}.allowPrivilegeEscalation")],
    ),
    case(
        "R3-container-overrides-pod-true",
        [(f"{container_context('containers[web]')}.runAsNonRoot", False)],
        [("R3", f"{container_context('containers[web]')}.runAsNonRoot")],
    ),
    case(
        "R3-missing-everywhere",
        [(f"{POD_CONTEXT}.runAsNonRoot", DELETE), (f"{container_context('containers[web]')}.runAsNonRoot", DELETE)],
        [("R3", f"{container_context(container)}.runAsNonRoot") for container in ALL_CONTAINERS],
    ),
    case(
        "R3-pod-false",
        [(f"{POD_CONTEXT}.runAsNonRoot", False)],
        # web still says true; the others fall back to the pod's false.
        [("R3", f"{POD_CONTEXT}.runAsNonRoot")]
        + [
            ("R3", f"{container_context(container)}.runAsNonRoot")
            for container in ALL_CONTAINERS
            if "web" not in container
        ],
    ),
    case("R4-pod-root", [(f"{POD_CONTEXT}.runAsUser", 0)], [("R4", f"{POD_CONTEXT}.runAsUser")]),
    case(
        "R4-init-root",
        [(f"{container_context('initContainers[migrate]')}.runAsUser", 0)],
        [("R4", f"{container_context('initContainers[migrate]')}.runAsUser")],
    ),
    case(
        "R5-no-pod-profile",
        [(f"{POD_CONTEXT}.seccompProfile", DELETE)],
        [
            ("R5", f"{container_context('initContainers[migrate]')}.seccompProfile.type"),
            ("R5", f"{container_context('ephemeralContainers[debugger]')}.seccompProfile.type"),
        ],
    ),
    case(
        "R6-drop-missing",
        [(f"{container_context('containers[sidecar]')}.capabilities", DELETE)],
        [("R6", f"{container_context('containers[sidecar]')}.capabilities.drop")],
    ),
    case(
        "R6-drop-without-ALL",
        [(f"{container_context('ephemeralContainers[debugger]')}.capabilities.drop", ["NET_RAW"])],
        [("R6", f"{container_context('ephemeralContainers[debugger]')}.capabilities.drop")],
    ),
    case(
        "R6-add-baseline-capability",
        [(f"{container_context('initContainers[migrate]')}.capabilities.add", ["CHOWN"])],
        [("R6", f"{container_context('initContainers[migrate]')}.capabilities.add")],
    ),
]

COMPLIANT = [
    case(
        "selinux-container_engine_t-allowed-since-1.31",
        [
            (f"{POD_CONTEXT}.seLinuxOptions.type", "container_engine_t"),
            (f"{container_context('containers[web]')}.seLinuxOptions.type", "container_engine_t"),
        ],
        [],
    ),
    case("volume-without-source-is-an-emptyDir", [("spec.volumes[defaulted].name", "defaulted")], []),
    case(
        "seccomp-RuntimeDefault-only-at-pod-level",
        [
            (f"{container_context('containers[web]')}.seccompProfile", DELETE),
            (f"{container_context('containers[sidecar]')}.seccompProfile", DELETE),
        ],
        [],
    ),
    case(
        "seccomp-on-every-container-and-none-at-pod-level",
        [(f"{POD_CONTEXT}.seccompProfile", DELETE)]
        + [
            (f"{container_context(container)}.seccompProfile", {"type": "RuntimeDefault"})
            for container in ALL_CONTAINERS
        ],
        [],
    ),
    case(
        "runAsNonRoot-on-every-container-and-none-at-pod-level",
        [(f"{POD_CONTEXT}.runAsNonRoot", DELETE)]
        + [(f"{container_context(container)}.runAsNonRoot", True) for container in ALL_CONTAINERS],
        [],
    ),
    case(
        "windows-pod-exempt-from-R2-R5-R6",
        [
            ("spec.os", {"name": "windows"}),
            (f"{POD_CONTEXT}.seccompProfile", DELETE),
            (f"{container_context('containers[web]')}.seccompProfile", DELETE),
            (f"{container_context('containers[sidecar]')}.seccompProfile", DELETE),
            (f"{container_context('containers[web]')}.allowPrivilegeEscalation", DELETE),
            (f"{container_context('containers[sidecar]')}.capabilities", DELETE),
        ],
        [],
    ),
]


def test_user_namespace_relaxes_nothing_at_1_34() -> None:
    """With hostUsers false, root UIDs, runAsNonRoot false and an Unmasked procMount still fail: policy version 1.34
    relaxes them only behind an alpha feature gate that is off by default (1.35 relaxes them for everyone)."""
    template = variant(
        ("spec.hostUsers", False),
        (f"{POD_CONTEXT}.runAsNonRoot", False),
        (f"{POD_CONTEXT}.runAsUser", 0),
        (f"{container_context('containers[web]')}.runAsUser", 0),
        (f"{container_context('containers[sidecar]')}.procMount", "Unmasked"),
    )
    pod = render("Pod", template)
    assert found(check_baseline(pod)) == [("B10", "spec.containers[sidecar].securityContext.procMount")]
    assert {control for control, _ in found(check_restricted(pod))} == {"B10", "R3", "R4"}


def found(violations: list[Violation]) -> list[tuple[str, str]]:
    return sorted((violation.control, violation.path) for violation in violations)


def expected_for(kind: str, expected: frozenset[tuple[str, str]]) -> list[tuple[str, str]]:
    return sorted((control, TEMPLATE_PREFIXES[kind] + path) for control, path in expected)


@pytest.mark.parametrize("kind", POD_BEARING_KINDS)
def test_restricted_template_has_no_violations_in_every_kind(kind: str) -> None:
    """A fully restricted pod template passes both checks whichever kind carries it."""
    obj = render(kind, restricted_template())
    assert check_restricted(obj) == []
    assert check_read_only_root(obj) == []


@pytest.mark.parametrize("kind", POD_BEARING_KINDS)
@pytest.mark.parametrize("breach", NON_COMPLIANT, ids=lambda breach: breach.id)
def test_each_breach_reports_exactly_its_controls(breach: Case, kind: str) -> None:
    """A single breach yields exactly its controls' violations, at paths under the kind's pod template; the baseline
    check reports exactly the baseline ones among them."""
    obj = render(kind, variant(*breach.edits))
    expected = expected_for(kind, breach.expected)
    assert found(check_restricted(obj)) == expected
    assert found(check_baseline(obj)) == [(control, path) for control, path in expected if control.startswith("B")]


@pytest.mark.parametrize("allowed", COMPLIANT, ids=lambda allowed: allowed.id)
def test_precedence_that_satisfies_the_profile_passes(allowed: Case) -> None:
    """Pod-level versus container-level settings that the standard accepts give no violation."""
    assert check_restricted(render("Deployment", variant(*allowed.edits))) == []


def test_every_control_has_a_breach_case() -> None:
    """The breach cases between them exercise every control check_restricted knows."""
    covered = {control for breach in NON_COMPLIANT for control, _ in breach.expected}
    assert covered == set(CONTROLS)


def test_container_overriding_pod_run_as_non_root_is_reported_at_that_container() -> None:
    """runAsNonRoot true at pod level and false on one container flags only that container, with R3."""
    template = variant((f"{container_context('containers[sidecar]')}.runAsNonRoot", False))
    assert found(check_restricted(render("Deployment", template))) == [
        ("R3", "spec.template.spec.containers[sidecar].securityContext.runAsNonRoot")
    ]


def test_cron_job_paths_run_through_the_job_template() -> None:
    """A CronJob's violations are reported under spec.jobTemplate.spec.template.spec."""
    template = variant((f"{container_context('containers[web]')}.privileged", True), (APPARMOR_WEB, "unconfined"))
    assert found(check_restricted(render("CronJob", template))) == [
        ("B3", "spec.jobTemplate.spec.template.spec.containers[web].securityContext.privileged"),
        (
            "B8",
            "spec.jobTemplate.spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]",
        ),
    ]


def test_message_names_field_value_and_what_is_allowed() -> None:
    """A violation's message says which field, the value found, and what would be allowed."""
    template = variant((f"{container_context('containers[web]')}.privileged", True))
    [violation] = check_restricted(render("Pod", template))
    assert violation == Violation(
        "B3",
        "spec.containers[web].securityContext.privileged",
        "securityContext.privileged is true; allowed: false or unset",
    )


def test_pod_template_kind_is_checked_through_its_top_level_template() -> None:
    """A core/v1 PodTemplate is pod-bearing: its `template` is read, breaches are reported under template.spec and
    template.metadata, and the restricted template passes."""
    template = variant((f"{container_context('containers[web]')}.privileged", True), (APPARMOR_WEB, "unconfined"))
    obj = render("PodTemplate", template)
    assert pod_spec_of(obj) == template["spec"]
    assert pod_metadata_of(obj) == template["metadata"]
    assert found(check_restricted(obj)) == [
        ("B3", "template.spec.containers[web].securityContext.privileged"),
        ("B8", "template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]"),
    ]
    assert check_restricted(render("PodTemplate", restricted_template())) == []


def test_pod_spec_and_metadata_come_from_the_template() -> None:
    """pod_spec_of and pod_metadata_of find a CronJob's template spec and template metadata."""
    template = restricted_template()
    obj = render("CronJob", template)
    assert pod_spec_of(obj) == template["spec"]
    assert pod_metadata_of(obj) == template["metadata"]


@pytest.mark.parametrize("kind", ["ConfigMap", "Service", "PodDisruptionBudget"])
def test_objects_without_a_pod_spec_are_not_checked(kind: str) -> None:
    """Kinds that run no pods have no pod spec and no violations."""
    obj = {"kind": kind, "metadata": {"name": "crm"}, "spec": {"containers": [{"name": "web", "privileged": True}]}}
    assert pod_spec_of(obj) is None
    assert pod_metadata_of(obj) is None
    assert check_restricted(obj) == []
    assert check_read_only_root(obj) == []


@pytest.mark.parametrize(
    ("container", "value"),
    [("initContainers[migrate]", False), ("ephemeralContainers[debugger]", DELETE)],
)
def test_writable_root_filesystem_is_reported(container: str, value: object) -> None:
    """A container whose readOnlyRootFilesystem is false or unset breaks the platform rule, and only that one."""
    template = variant((f"{container_context(container)}.readOnlyRootFilesystem", value))
    assert found(check_read_only_root(render("StatefulSet", template))) == [
        (READ_ONLY_ROOT_FILESYSTEM, f"spec.template.{container_context(container)}.readOnlyRootFilesystem")
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_pod_templates_meet_the_restricted_profile(run_stack: RunStack, stack: str) -> None:
    """Every pod-bearing object a stack renders passes the restricted profile and the read-only-root rule."""
    pod_bearing = [obj.document for obj in run_stack(stack).objects if pod_spec_of(obj.document) is not None]
    assert pod_bearing, f"{stack} renders no pod-bearing objects"
    violations = {
        f"{document['kind']}/{document['metadata']['name']}": check_restricted(document)
        + check_read_only_root(document)
        for document in pod_bearing
    }
    assert {name: listed for name, listed in violations.items() if listed} == {}


def test_pod_templates_are_read_once_per_object_only_within_the_block() -> None:
    """Inside pod_templates_reused every pod policy gets the one template read for an object; outside, each call
    reads the object afresh, so a caller that changes an object between checks sees the change."""
    obj = render("Deployment", restricted_template())
    with pod_templates_reused():
        first = pod_template_of(obj)
        assert first is not None and pod_template_of(obj) is first
        assert pod_template_of(render("Deployment", restricted_template())) is not first
    assert pod_template_of(obj) is not first
    obj["spec"]["template"]["spec"]["containers"].append({"name": "added"})
    template = pod_template_of(obj)
    assert template is not None and "added" in [container.name for container in template.containers]


WEB = "spec.containers[web].securityContext"
SIDECAR = "spec.containers[sidecar].securityContext"
MIGRATE = "spec.initContainers[migrate].securityContext"
DEBUGGER = "spec.ephemeralContainers[debugger].securityContext"
APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_UNSET = (
    "securityContext.seccompProfile is unset and the pod level sets no valid profile; "
    "required: RuntimeDefault or Localhost here or at pod level"
)
RUN_AS_NON_ROOT_UNSET = (
    "securityContext.runAsNonRoot is unset and the pod-level value is not true; required: true here or at pod level"
)

MESSAGES = [
    pytest.param(
        [(f"{POD_CONTEXT}.windowsOptions.hostProcess", True)],
        [
            Violation(
                "B1",
                "spec.securityContext.windowsOptions.hostProcess",
                "windowsOptions.hostProcess is true; allowed: false or unset",
            )
        ],
        id="B1",
    ),
    pytest.param(
        [("spec.hostPID", True)],
        [Violation("B2", "spec.hostPID", "hostPID is true; allowed: false or unset")],
        id="B2",
    ),
    pytest.param(
        [(f"{container_context('containers[web]')}.capabilities.add", ["NET_BIND_SERVICE", "SYS_ADMIN"])],
        [
            Violation(
                "B4",
                f"{WEB}.capabilities.add",
                'securityContext.capabilities.add contains "SYS_ADMIN"; allowed: AUDIT_WRITE, CHOWN, DAC_OVERRIDE, '
                "FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT",
            ),
            Violation(
                "R6",
                f"{WEB}.capabilities.add",
                'securityContext.capabilities.add contains "SYS_ADMIN"; allowed: NET_BIND_SERVICE only',
            ),
        ],
        id="B4-R6-add",
    ),
    pytest.param(
        [("spec.volumes[host].hostPath", {"path": "/var/run"})],
        [
            Violation(
                "B5",
                "spec.volumes[host].hostPath",
                'volume source hostPath is {"path": "/var/run"}; allowed: no hostPath volumes',
            ),
            Violation(
                "R1",
                "spec.volumes[host].hostPath",
                "volume source is hostPath; allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, image, "
                "persistentVolumeClaim, projected, secret",
            ),
        ],
        id="B5-R1",
    ),
    pytest.param(
        # The second port has an empty name: it is labelled by its index.
        [
            (
                "spec.containers[web].ports",
                [
                    {"name": "http", "containerPort": 8000, "hostPort": 0},
                    {"name": "", "containerPort": 9000, "hostPort": 9000},
                ],
            )
        ],
        [Violation("B6", "spec.containers[web].ports[1].hostPort", "ports[].hostPort is 9000; allowed: 0 or unset")],
        id="B6-unnamed-port",
    ),
    pytest.param(
        [
            ("spec.containers[web].livenessProbe.httpGet.host", "10.0.0.1"),
            ("spec.containers[sidecar].lifecycle.preStop.tcpSocket", {"port": 80, "host": "metadata.internal"}),
        ],
        [
            Violation(
                "B7",
                "spec.containers[web].livenessProbe.httpGet.host",
                'livenessProbe.httpGet.host is "10.0.0.1"; allowed: unset (the pod\'s own IP)',
            ),
            Violation(
                "B7",
                "spec.containers[sidecar].lifecycle.preStop.tcpSocket.host",
                'lifecycle.preStop.tcpSocket.host is "metadata.internal"; allowed: unset (the pod\'s own IP)',
            ),
        ],
        id="B7",
    ),
    pytest.param(
        # Another annotation and an allowed AppArmor one come first: the breach after them is still found.
        [
            (
                "metadata.annotations",
                {
                    "example.com/owner": "crm",
                    f"{APPARMOR_PREFIX}web": "runtime/default",
                    f"{APPARMOR_PREFIX}sidecar": "unconfined",
                },
            )
        ],
        [
            Violation(
                "B8",
                f"metadata.annotations[{APPARMOR_PREFIX}sidecar]",
                f'annotation {APPARMOR_PREFIX}sidecar is "unconfined"; '
                "allowed: runtime/default, localhost/<profile> or unset",
            )
        ],
        id="B8-annotation-after-others",
    ),
    pytest.param(
        [(f"{container_context('containers[sidecar]')}.appArmorProfile", {"type": "Unconfined"})],
        [
            Violation(
                "B8",
                f"{SIDECAR}.appArmorProfile.type",
                'appArmorProfile.type is "Unconfined"; allowed: RuntimeDefault, Localhost or unset',
            )
        ],
        id="B8-appArmorProfile",
    ),
    pytest.param(
        [(f"{POD_CONTEXT}.seLinuxOptions", {"type": "spc_t", "user": "system_u", "role": "sysadm_r"})],
        [
            Violation(
                "B9",
                "spec.securityContext.seLinuxOptions.type",
                'seLinuxOptions.type is "spc_t"; '
                "allowed: container_engine_t, container_init_t, container_kvm_t, container_t or unset",
            ),
            Violation(
                "B9", "spec.securityContext.seLinuxOptions.user", 'seLinuxOptions.user is "system_u"; allowed: unset'
            ),
            Violation(
                "B9", "spec.securityContext.seLinuxOptions.role", 'seLinuxOptions.role is "sysadm_r"; allowed: unset'
            ),
        ],
        id="B9",
    ),
    pytest.param(
        [(f"{container_context('containers[web]')}.procMount", "Unmasked")],
        [Violation("B10", f"{WEB}.procMount", 'securityContext.procMount is "Unmasked"; allowed: Default or unset')],
        id="B10",
    ),
    pytest.param(
        [(f"{POD_CONTEXT}.seccompProfile.type", "Unconfined")],
        [
            Violation(
                "B11",
                "spec.securityContext.seccompProfile.type",
                'seccompProfile.type is "Unconfined"; allowed: RuntimeDefault, Localhost, or no seccompProfile',
            ),
            Violation(
                "R5",
                "spec.securityContext.seccompProfile.type",
                'pod securityContext.seccompProfile.type is "Unconfined"; allowed: RuntimeDefault or Localhost',
            ),
            Violation("R5", f"{MIGRATE}.seccompProfile.type", SECCOMP_UNSET),
            Violation("R5", f"{DEBUGGER}.seccompProfile.type", SECCOMP_UNSET),
        ],
        id="B11-R5-pod-unconfined",
    ),
    pytest.param(
        [
            (f"{container_context('containers[web]')}.seccompProfile", {"localhostProfile": "profiles/web.json"}),
            (f"{container_context('containers[sidecar]')}.seccompProfile", {"type": "Unconfined"}),
        ],
        [
            Violation(
                "B11",
                f"{WEB}.seccompProfile.type",
                "seccompProfile.type is unset; allowed: RuntimeDefault, Localhost, or no seccompProfile",
            ),
            Violation(
                "B11",
                f"{SIDECAR}.seccompProfile.type",
                'seccompProfile.type is "Unconfined"; allowed: RuntimeDefault, Localhost, or no seccompProfile',
            ),
            Violation(
                "R5",
                f"{WEB}.seccompProfile.type",
                "securityContext.seccompProfile.type is unset; allowed: RuntimeDefault or Localhost",
            ),
            Violation(
                "R5",
                f"{SIDECAR}.seccompProfile.type",
                'securityContext.seccompProfile.type is "Unconfined"; allowed: RuntimeDefault or Localhost',
            ),
        ],
        id="B11-R5-container-without-type-and-unconfined",
    ),
    pytest.param(
        # A sysctl without a name is no safe sysctl either, and is labelled by its index.
        [(f"{POD_CONTEXT}.sysctls", [{"name": "kernel.msgmax", "value": "65536"}, {"value": "1"}])],
        [
            Violation(
                "B12",
                f"spec.securityContext.sysctls[{name}]",
                f"securityContext.sysctls contains {shown}; allowed: kernel.shm_rmid_forced, "
                "net.ipv4.ip_local_port_range, net.ipv4.ip_local_reserved_ports, net.ipv4.ip_unprivileged_port_start, "
                "net.ipv4.ping_group_range, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl, "
                "net.ipv4.tcp_keepalive_probes, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_rmem, "
                "net.ipv4.tcp_syncookies, net.ipv4.tcp_wmem",
            )
            for name, shown in (("kernel.msgmax", '"kernel.msgmax"'), ("1", "null"))
        ],
        id="B12-named-and-unnamed",
    ),
    pytest.param(
        # The second volume has no name: it is labelled by its index.
        [("spec.volumes", [{"name": "tmp", "emptyDir": {}}, {"nfs": {"server": "nfs", "path": "/"}}])],
        [
            Violation(
                "R1",
                "spec.volumes[1].nfs",
                "volume source is nfs; allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, image, "
                "persistentVolumeClaim, projected, secret",
            )
        ],
        id="R1-unnamed-volume",
    ),
    pytest.param(
        [
            (f"{container_context('initContainers[migrate]')}.allowPrivilegeEscalation", DELETE),
            (f"{container_context('containers[web]')}.allowPrivilegeEscalation", True),
        ],
        [
            Violation(
                "R2",
                f"{MIGRATE}.allowPrivilegeEscalation",
                "securityContext.allowPrivilegeEscalation is unset; required: false, set explicitly",
            ),
            Violation(
                "R2",
                f"{WEB}.allowPrivilegeEscalation",
                "securityContext.allowPrivilegeEscalation is true; required: false, set explicitly",
            ),
        ],
        id="R2-unset-and-true",
    ),
    pytest.param(
        [(f"{POD_CONTEXT}.runAsNonRoot", False), (f"{container_context('containers[web]')}.runAsNonRoot", False)],
        [
            Violation(
                "R3",
                "spec.securityContext.runAsNonRoot",
                "pod securityContext.runAsNonRoot is false; required: true, or unset with every container true",
            ),
            Violation("R3", f"{MIGRATE}.runAsNonRoot", RUN_AS_NON_ROOT_UNSET),
            Violation("R3", f"{WEB}.runAsNonRoot", "securityContext.runAsNonRoot is false; required: true or unset"),
            Violation("R3", f"{SIDECAR}.runAsNonRoot", RUN_AS_NON_ROOT_UNSET),
            Violation("R3", f"{DEBUGGER}.runAsNonRoot", RUN_AS_NON_ROOT_UNSET),
        ],
        id="R3-pod-and-container-false",
    ),
    pytest.param(
        [(f"{container_context('containers[sidecar]')}.runAsUser", 0)],
        [Violation("R4", f"{SIDECAR}.runAsUser", "securityContext.runAsUser is 0; allowed: any non-zero UID or unset")],
        id="R4",
    ),
    pytest.param(
        [
            (f"{container_context('initContainers[migrate]')}.capabilities", DELETE),
            (f"{container_context('containers[web]')}.capabilities.drop", ["NET_RAW"]),
            (f"{container_context('containers[sidecar]')}.capabilities", {"drop": ["ALL"], "add": ["CHOWN"]}),
        ],
        [
            Violation(
                "R6",
                f"{MIGRATE}.capabilities.drop",
                "securityContext.capabilities.drop is unset; required: includes ALL",
            ),
            Violation(
                "R6",
                f"{WEB}.capabilities.drop",
                'securityContext.capabilities.drop is ["NET_RAW"]; required: includes ALL',
            ),
            Violation(
                "R6",
                f"{SIDECAR}.capabilities.add",
                'securityContext.capabilities.add contains "CHOWN"; allowed: NET_BIND_SERVICE only',
            ),
        ],
        id="R6-drop-unset-drop-without-ALL-add",
    ),
]


@pytest.mark.parametrize(("edits", "expected"), MESSAGES)
def test_each_violation_names_its_field_the_value_found_and_what_is_allowed(
    edits: list[tuple[str, object]], expected: list[Violation]
) -> None:
    """Every control's violations, in order, at their exact paths (items without a name by their index), each with
    the exact message a user reads: the field, the value as the manifest spells it (or unset), what is allowed."""
    assert check_restricted(render("Pod", variant(*edits))) == expected


def test_read_only_root_message_says_unset_or_the_value_found() -> None:
    """The platform rule's message tells an unset readOnlyRootFilesystem from an explicit false."""
    template = variant(
        (f"{container_context('initContainers[migrate]')}.readOnlyRootFilesystem", DELETE),
        (f"{container_context('containers[web]')}.readOnlyRootFilesystem", False),
    )
    assert check_read_only_root(render("Pod", template)) == [
        Violation(
            READ_ONLY_ROOT_FILESYSTEM,
            f"{MIGRATE}.readOnlyRootFilesystem",
            "securityContext.readOnlyRootFilesystem is unset; required: true",
        ),
        Violation(
            READ_ONLY_ROOT_FILESYSTEM,
            f"{WEB}.readOnlyRootFilesystem",
            "securityContext.readOnlyRootFilesystem is false; required: true",
        ),
    ]


def test_a_container_without_a_name_is_labelled_by_its_index() -> None:
    """A container with no name is reported by its position in its list."""
    template = variant()
    template["spec"]["containers"].append({"image": "busybox:1.37", "securityContext": {"privileged": True}})
    assert check_baseline(render("Pod", template)) == [
        Violation(
            "B3",
            "spec.containers[2].securityContext.privileged",
            "securityContext.privileged is true; allowed: false or unset",
        )
    ]


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"kind": ["Pod"], "spec": {"hostPID": True}}, id="kind-not-a-string"),
        pytest.param({"kind": "Deployment", "metadata": {"name": "crm"}, "spec": {"replicas": 1}}, id="no-template"),
        pytest.param({"kind": "Deployment", "spec": {"template": {"spec": "hostPID"}}}, id="spec-not-a-mapping"),
    ],
)
def test_an_object_without_a_readable_pod_spec_is_not_checked_and_does_not_raise(obj: dict[str, object]) -> None:
    """A kind that is no string, or a pod-bearing kind whose pod spec is missing or no mapping, gives no violation
    and no exception: the pack reports on what it can read."""
    assert check_baseline(obj) == []
    assert check_restricted(obj) == []
    assert check_read_only_root(obj) == []
