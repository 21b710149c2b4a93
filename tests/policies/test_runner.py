"""`python -m policies.runner`: exit codes, text and JSON output, and per-stack enforcement levels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.program import PROJECT_DIR

PRIVILEGED_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "rogue", "namespace": "crm"},
    "spec": {
        "selector": {"matchLabels": {"app": "rogue"}},
        "template": {
            "metadata": {"labels": {"app": "rogue"}},
            "spec": {
                "containers": [{"name": "rogue", "image": "busybox:1.36", "securityContext": {"privileged": True}}]
            },
        },
    },
}

ONLY_WRITABLE_ROOT_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "writer", "namespace": "crm"},
    "spec": {
        "serviceAccountName": "writer",
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "writer",
                "image": "busybox:1.36",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "16Mi"}},
                "livenessProbe": {"exec": {"command": ["true"]}},
                "readinessProbe": {"exec": {"command": ["true"]}},
            }
        ],
    },
}
"""Compliant in every respect but readOnlyRootFilesystem: only the read-only-root policy fires."""

CONFIG_MAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "crm"},
}
"""An object no policy finds anything in."""

PRIVILEGED_POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "rogue-pod", "namespace": "crm"},
    "spec": {"containers": [{"name": "rogue", "image": "busybox:1.36", "securityContext": {"privileged": True}}]},
}
PRIVILEGED_FINDING = "pod-security-restricted [mandatory] B3 spec.containers[rogue].securityContext.privileged"


def policy_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the runner as `make check` does, from the project root with the venv's interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "policies.runner", *arguments],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_manifests(directory: Path, *documents: dict[str, Any], name: str = "objects.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # A leading separator and a trailing empty document, as kubectl and Helm output often have.
    text = "---\n" + "---\n".join(yaml.safe_dump(document) for document in documents) + "---\n"
    (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_privileged_deployment_fails(tmp_path: Path) -> None:
    """A privileged Deployment in a manifest directory is a mandatory violation: exit 1, grouped under the object."""
    result = policy_cli("--manifests", str(write_manifests(tmp_path, PRIVILEGED_DEPLOYMENT)))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Deployment crm/rogue (kubernetes:apps/v1:Deployment objects.yaml#1)"
    assert (
        "  pod-security-restricted [mandatory] B3 spec.template.spec.containers[rogue].securityContext.privileged: "
        "securityContext.privileged is true; allowed: false or unset"
    ) in lines
    assert all(line.startswith("  ") for line in lines[1:-1])
    assert lines[-1] == f"{len(lines) - 2} mandatory, 0 advisory"


def test_multi_document_files_and_yml_suffix_are_read(tmp_path: Path) -> None:
    """Objects from several documents and a .yml file are each checked and reported under their own heading."""
    write_manifests(
        tmp_path, PRIVILEGED_DEPLOYMENT, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    )
    write_manifests(tmp_path / "nested", ONLY_WRITABLE_ROOT_POD, name="pod.yml")
    result = policy_cli("--manifests", str(tmp_path))
    headings = [line for line in result.stdout.splitlines() if not line.startswith("  ")][:-1]
    assert headings == [
        "Pod crm/writer (kubernetes:core/v1:Pod nested/pod.yml#1)",
        "Deployment crm/rogue (kubernetes:apps/v1:Deployment objects.yaml#1)",
    ]


@pytest.mark.parametrize(
    ("config", "level", "status"), [("production", "mandatory", 1), ("staging", "mandatory", 1), ("dev", "advisory", 0)]
)
def test_read_only_root_level_follows_stack_config(tmp_path: Path, config: str, level: str, status: int) -> None:
    """A writable root filesystem is mandatory under production.json and staging.json (exit 1), advisory under
    dev.json (exit 0)."""
    manifests = write_manifests(tmp_path, ONLY_WRITABLE_ROOT_POD)
    result = policy_cli("--manifests", str(manifests), "--policy-config", f"policies/config/{config}.json")
    assert result.returncode == status, result.stdout + result.stderr
    assert "  read-only-root-filesystem [" + level + "] P1 spec.containers[writer]" in result.stdout
    expected = "1 mandatory, 0 advisory" if level == "mandatory" else "0 mandatory, 1 advisory"
    assert result.stdout.splitlines()[-1] == expected


def test_json_output_shape(tmp_path: Path) -> None:
    """--json prints one document: violations with resource, type, origin, file, line, policy, level, control and
    message, and counts."""
    manifests = write_manifests(tmp_path, PRIVILEGED_DEPLOYMENT)
    result = policy_cli("--manifests", str(manifests), "--json", "--policy-config", "policies/config/dev.json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert set(report) == {"violations", "mandatory", "advisory"}
    # Advisory on dev: read-only root (1), requests and memory limit (3), liveness and readiness (2).
    assert report["advisory"] == 6
    assert report["mandatory"] == len(report["violations"]) - 6
    assert {violation["policy"] for violation in report["violations"] if violation["enforcement"] == "advisory"} == {
        "read-only-root-filesystem",
        "container-resources",
        "liveness-and-readiness-probes",
    }
    first = report["violations"][0]
    assert first == {
        "resource": "Deployment crm/rogue",
        "pulumi_type": "kubernetes:apps/v1:Deployment",
        "origin": "objects.yaml#1",
        # Outside the project, so by its absolute path; line 2, after the leading `---`.
        "file": (tmp_path / "objects.yaml").resolve().as_posix(),
        "line": 2,
        "policy": "pod-security-restricted",
        "enforcement": "mandatory",
        "severity": "high",
        "control": "B3",
        "path": "spec.template.spec.containers[rogue].securityContext.privileged",
        "message": "securityContext.privileged is true; allowed: false or unset",
    }


def test_broken_yaml_is_skipped_by_file_and_line_without_content(tmp_path: Path) -> None:
    """Invalid YAML is named on stderr with its line, never quoting the file, and the other files are still checked:
    a compliant neighbour leaves exit 2 (something was unusable), a privileged one exit 1."""
    broken = tmp_path / "broken.yaml"
    broken.write_text('apiVersion: v1\nkind: Secret\nstringData:\n  password: "hunter2\n', encoding="utf-8")
    write_manifests(tmp_path, CONFIG_MAP, name="config.yaml")
    result = policy_cli("--manifests", str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "0 mandatory, 0 advisory\n")
    assert result.stderr.splitlines() == [f"policies.runner: skipped {broken}: is not valid YAML (line 5, column 1)"]
    assert "hunter2" not in result.stderr + result.stdout
    write_manifests(tmp_path, PRIVILEGED_DEPLOYMENT, name="rogue.yaml")
    result = policy_cli("--manifests", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "Deployment crm/rogue (kubernetes:apps/v1:Deployment rogue.yaml#1)"
    assert result.stderr.splitlines() == [f"policies.runner: skipped {broken}: is not valid YAML (line 5, column 1)"]


def test_missing_path_is_unusable_input(tmp_path: Path) -> None:
    """A manifest path that does not exist exits 2 with one line and no report."""
    result = policy_cli("--manifests", str(tmp_path / "absent"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"policies.runner: manifest path {tmp_path / 'absent'} does not exist (give a directory or a file)"
    ]


def test_empty_directory_is_an_error_not_a_pass(tmp_path: Path) -> None:
    """A directory without any Kubernetes object exits 2 with exactly one line and no report."""
    (tmp_path / "notes.txt").write_text("apiVersion: v1\nkind: Pod\n", encoding="utf-8")
    result = policy_cli("--manifests", str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"policies.runner: no Kubernetes object in {tmp_path} "
        "(searched every *.yaml, *.yml and *.json file under it, any letter case)"
    ]


def test_document_without_kind_is_skipped_and_nothing_left_is_an_error(tmp_path: Path) -> None:
    """A document without apiVersion and kind is named as skipped (file and document number); with nothing else to
    check, the run is unusable: exit 2, the skip line and the no-object line."""
    write_manifests(tmp_path, {"metadata": {"name": "x"}})
    result = policy_cli("--manifests", str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"policies.runner: skipped {tmp_path / 'objects.yaml'}: document 1 has no apiVersion and kind, "
        "so it is not a Kubernetes object",
        f"policies.runner: no Kubernetes object in {tmp_path} "
        "(searched every *.yaml, *.yml and *.json file under it, any letter case)",
    ]


def test_stack_policies_run_over_manifests_and_report_under_the_object(tmp_path: Path) -> None:
    """An app namespace without a default deny, found by a stack policy, is reported under the Namespace."""
    app_namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "crm",
            "labels": {"crm-platform/namespace-role": "app", "pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    result = policy_cli("--manifests", str(write_manifests(tmp_path, app_namespace)))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "Namespace crm (kubernetes:core/v1:Namespace objects.yaml#1)",
        "  default-deny-network-policy [mandatory] S1 metadata.name: namespace crm has no default-deny NetworkPolicy "
        "(podSelector {}, policyTypes Ingress and Egress, no rules)",
        "1 mandatory, 0 advisory",
    ]
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": "crm"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    result = policy_cli("--manifests", str(write_manifests(tmp_path, app_namespace, deny)))
    assert (result.returncode, result.stdout.strip()) == (0, "0 mandatory, 0 advisory")


def findings_by_origin(stdout: str) -> dict[str, list[str]]:
    """Text report lines grouped under the origin in their object's heading (`... file#1)` -> its finding lines)."""
    grouped: dict[str, list[str]] = {}
    current = ""
    for line in stdout.splitlines()[:-1]:
        if line.startswith("  "):
            grouped[current].append(line.strip())
        else:
            current = line.rsplit(" ", 1)[-1].rstrip(")")
            grouped[current] = []
    return grouped


def test_every_suffix_in_any_letter_case_is_read(tmp_path: Path) -> None:
    """pod.YAML, deploy.Yml and x.JSON are read like lower-case names, and a privileged Pod in pod.YAML fails the run;
    a .txt file is not a manifest."""
    write_manifests(tmp_path, PRIVILEGED_POD, name="pod.YAML")
    write_manifests(tmp_path, PRIVILEGED_DEPLOYMENT, name="deploy.Yml")
    (tmp_path / "x.JSON").write_text(json.dumps(CONFIG_MAP | {"metadata": {"name": "x"}}), encoding="utf-8")
    (tmp_path / "ignored.txt").write_text(yaml.safe_dump(PRIVILEGED_POD), encoding="utf-8")
    result = policy_cli("--manifests", str(tmp_path), "--json")
    assert (result.returncode, result.stderr) == (1, "")
    origins = {violation["origin"] for violation in json.loads(result.stdout)["violations"]}
    assert origins == {"pod.YAML#1", "deploy.Yml#1"}
    assert "pod.YAML#1" in findings_by_origin(policy_cli("--manifests", str(tmp_path)).stdout)


def test_a_single_file_is_a_target_too(tmp_path: Path) -> None:
    """--manifests may name one file; its findings are filed under the file name."""
    path = write_manifests(tmp_path, PRIVILEGED_POD, name="pod.yaml") / "pod.yaml"
    result = policy_cli("--manifests", str(path))
    assert result.returncode == 1
    assert PRIVILEGED_FINDING in findings_by_origin(result.stdout)["pod.yaml#1"][0]


LIST_ITEMS = [CONFIG_MAP, PRIVILEGED_POD, PRIVILEGED_DEPLOYMENT]


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_each_list_item_is_its_own_object_with_its_own_origin_and_line(tmp_path: Path, suffix: str) -> None:
    """A List (JSON or YAML) checks each item as an object: findings go under `file#1.items[<index>]` of the item
    that has them, never another item's, and each points at the line the item begins on."""
    document = {"apiVersion": "v1", "kind": "List", "items": LIST_ITEMS}
    text = json.dumps(document, indent=2) if suffix == ".json" else yaml.safe_dump(document, sort_keys=False)
    (tmp_path / f"all{suffix}").write_text(text, encoding="utf-8")
    result = policy_cli("--manifests", str(tmp_path), "--json")
    assert result.returncode == 1, result.stderr
    violations = json.loads(result.stdout)["violations"]
    by_origin: dict[str, set[str]] = {}
    for violation in violations:
        by_origin.setdefault(violation["origin"], set()).add(violation["resource"])
    assert by_origin == {
        f"all{suffix}#1.items[1]": {"Pod crm/rogue-pod"},
        f"all{suffix}#1.items[2]": {"Deployment crm/rogue"},
    }
    lines = text.splitlines()
    for violation in violations:
        index = int(violation["origin"].rsplit("[", 1)[1].rstrip("]"))
        begins = lines[violation["line"] - 1].strip()
        # YAML: the item's first key, `- apiVersion: ...`; JSON: the item's opening brace.
        assert begins == "{" if suffix == ".json" else begins.startswith("- apiVersion: ")
        item_text = "\n".join(lines[violation["line"] - 1 :][:8])
        assert LIST_ITEMS[index]["apiVersion"] in item_text and LIST_ITEMS[index]["kind"] in item_text


def test_typed_list_items_take_kind_and_version_from_the_list(tmp_path: Path) -> None:
    """A PodList as the API serves it (items without apiVersion and kind) is read as Pods of the list's version."""
    item = {key: value for key, value in PRIVILEGED_POD.items() if key not in ("apiVersion", "kind")}
    write_manifests(tmp_path, {"apiVersion": "v1", "kind": "PodList", "items": [item]})
    result = policy_cli("--manifests", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == "Pod crm/rogue-pod (kubernetes:core/v1:Pod objects.yaml#1.items[0])"


def test_a_list_item_that_is_no_object_is_skipped_and_the_rest_checked(tmp_path: Path) -> None:
    """A List item that is not a mapping, or has no kind, is named by file, document and item; the other items are
    checked (a privileged one fails the run)."""
    write_manifests(
        tmp_path, {"apiVersion": "v1", "kind": "List", "items": ["a string", {"metadata": {}}, PRIVILEGED_POD]}
    )
    result = policy_cli("--manifests", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"policies.runner: skipped {tmp_path / 'objects.yaml'}: document 1, item 0 is a string, not a Kubernetes "
        "object",
        f"policies.runner: skipped {tmp_path / 'objects.yaml'}: document 1, item 1 has no apiVersion and kind",
    ]
    assert "objects.yaml#1.items[2]" in findings_by_origin(result.stdout)


def test_non_kubernetes_file_beside_manifests_is_named_and_the_rest_checked(tmp_path: Path) -> None:
    """A docker-compose.yml next to a privileged Pod: the compose file is named as skipped, the Pod is still checked
    and fails the run (exit 1); next to a compliant object only, the run exits 2, since something was unusable."""
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  web:\n    image: nginx:1.27\n    privileged: true\n", encoding="utf-8")
    skipped_line = (
        f"policies.runner: skipped {compose}: document 1 has no apiVersion and kind, so it is not a Kubernetes object"
    )
    write_manifests(tmp_path, CONFIG_MAP, name="config.yaml")
    result = policy_cli("--manifests", str(tmp_path))
    assert (result.returncode, result.stdout, result.stderr.splitlines()) == (
        2,
        "0 mandatory, 0 advisory\n",
        [skipped_line],
    )
    write_manifests(tmp_path, PRIVILEGED_POD, name="pod.yaml")
    result = policy_cli("--manifests", str(tmp_path))
    assert (result.returncode, result.stderr.splitlines()) == (1, [skipped_line])
    assert PRIVILEGED_FINDING in findings_by_origin(result.stdout)["pod.yaml#1"][0]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "secret.json",
            b'{"apiVersion": "v1", "kind": "Secret",\n "data": {"password": "hunter2"',
            "is not valid JSON (line 2, column 32)",
        ),
        (
            "latin1.yaml",
            "apiVersion: v1\nkind: ConfigMap\ndata: {password: hunter2\xe9}\n".encode("latin-1"),
            "is not UTF-8 text",
        ),
        ("list.yaml", b"- hunter2\n- apiVersion: v1\n", "document 1 is a list, not a Kubernetes object (a mapping)"),
    ],
)
def test_unusable_files_are_named_without_their_content(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    """Invalid JSON (with its line and column), text that is not UTF-8 and a document that is a list are each one
    skip line naming the file, never a value from it."""
    (tmp_path / name).write_bytes(content)
    write_manifests(tmp_path, CONFIG_MAP, name="config.yaml")
    result = policy_cli("--manifests", str(tmp_path))
    assert (result.returncode, result.stderr.splitlines()) == (
        2,
        [f"policies.runner: skipped {tmp_path / name}: {expected}"],
    )
    assert "hunter2" not in result.stdout + result.stderr


def test_pod_template_manifests_are_checked(tmp_path: Path) -> None:
    """A core/v1 PodTemplate is pod-bearing: its privileged container is found under template.spec."""
    template = {"metadata": {"labels": {"app": "rogue"}}, "spec": PRIVILEGED_POD["spec"]}
    write_manifests(
        tmp_path, {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
    )
    result = policy_cli("--manifests", str(tmp_path))
    assert result.returncode == 1
    assert (
        "pod-security-restricted [mandatory] B3 template.spec.containers[rogue].securityContext.privileged: "
        "securityContext.privileged is true; allowed: false or unset"
    ) in findings_by_origin(result.stdout)["objects.yaml#1"]


@pytest.mark.parametrize("lines_read", [0, 1])
def test_a_closed_output_pipe_ends_quietly_with_the_verdict(tmp_path: Path, lines_read: int) -> None:
    """`| true` and `--json | head -1`: the reader closes the pipe before reading anything, or after one line of far
    more than a pipe holds; the runner ends without a traceback or any stderr output, and still exits 1 for the
    mandatory violations it found."""
    pods = [PRIVILEGED_POD | {"metadata": {"name": f"rogue-{index}", "namespace": "crm"}} for index in range(300)]
    write_manifests(tmp_path, *pods)
    child = subprocess.Popen(
        [sys.executable, "-m", "policies.runner", "--manifests", str(tmp_path), "--json"],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    if lines_read:
        assert child.stdout.readline() == b"{\n"
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert (child.wait(timeout=120), stderr) == (1, "")


@pytest.mark.parametrize(("config", "jsonschema_imported"), [(None, False), ("policies/config/staging.json", True)])
def test_the_check_imports_only_what_it_uses(tmp_path: Path, config: str | None, jsonschema_imported: bool) -> None:
    """A check at the pack's own levels never imports jsonschema (only a config that sets options needs it) and no
    run imports the Pulumi SDKs: start-up is most of a small check's time."""
    write_manifests(tmp_path, PRIVILEGED_POD)
    arguments = ["--manifests", str(tmp_path), *(["--policy-config", config] if config else [])]
    code = (
        "import sys\nfrom policies.runner import main\n"
        f"status = main({arguments!r})\n"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'jsonschema', 'pulumi', 'pulumi_policy'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(["jsonschema"] if jsonschema_imported else [])
