"""Checkov over each stack's rendered manifests: an independent cross-check of the policy pack.

    python -m offline.checkov                    # every stack: dev, staging, production, pr-7
    python -m offline.checkov --stack staging    # one stack (repeatable)
    python -m offline.checkov --stack staging --sarif build/sarif/checkov-staging.sarif
    python -m offline.checkov --stack staging --config candidateImage=ghcr.io/acme/crm:2.5.0 [--secrets-file F]

Each stack is rendered offline as `make render` does (offline/render.py: one object per file
under manifests/<namespace>/) into build/checkov/<stack>/, and Checkov, from its own virtualenv
(.venv-checkov, made by scripts/bootstrap.sh: it pins a `packaging` that breaks pulumi), runs
over it with `--framework kubernetes --skip-download`, BC_SKIP_MAPPING=TRUE and no update check,
so it never calls out; the caller's BC_*/CKV_*/CHECKOV_*/PRISMA_* variables are dropped, so a
developer's Checkov settings (or API key) change nothing.

Every failed check must be accepted by policies/checkov-skips.yaml: check id -> one-line reason,
optionally limited to objects (`Kind/name`, shell-style wildcards, any namespace). A failure is
matched by the object of the manifest file it came from, so Checkov's own resources derived from
a pod template (`Pod.<namespace>.<name>.<labels>`) count as their Deployment, Job, and so on.
A skip that accepts nothing any more is stale and fails the run too: over every stack, each
entry and each of its resource patterns must accept at least one failure; with --stack, each
entry must (its patterns may name objects other stacks have).

What Checkov does not see: it checks only what the render writes. The charts installed with
helm.v4.Chart (Traefik, cert-manager, the CloudNativePG operator and its Barman Cloud plugin)
are one opaque resource each in the render, since Helm makes their objects when the provider
runs, so none of their workloads is checked here (tests/components/ test the security contexts
in their values; a real `pulumi preview` hands their objects to the policy pack). Custom resources
(CloudNativePG Cluster, Pooler, ObjectStore, ScheduledBackup; ClusterIssuers; Traefik
Middlewares) are in the render, but Checkov's Kubernetes checks look only at built-in kinds,
so the PostgreSQL pods the operator makes from the Cluster are not checked either.

With --sarif (one stack), Checkov's own SARIF 2.1.0 report is kept for code scanning, less the
failures the skip file accepts (they are reviewed there, with their reasons), each location
pointing at the rendered manifest by its path from the project directory.

Exit status: 0 every failure accepted and no stale skip; 1 a failure not accepted or a stale
skip, each listed (check id, name, object, file); 2 unusable input (no Checkov, output that is
not Checkov's JSON report, an invalid skip file, an unknown stack), one line on stderr.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHECKOV = PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"
"""Installed by scripts/bootstrap.sh (`make venv`) from requirements-checkov.txt."""
SKIPS_FILE = PROJECT_DIR / "policies" / "checkov-skips.yaml"
BUILD_DIR = PROJECT_DIR / "build" / "checkov"
STACKS = ("dev", "staging", "production", "pr-7")
"""Every stack file, and one review stack (made from staging's file, as the PR workflow does)."""

RESULTS_FILE = "results_json.json"
"""What `--output json --output-file-path DIR` writes into DIR."""
SARIF_FILE = "results_sarif.sarif"
"""What `--output sarif --output-file-path DIR` writes into DIR."""
CHECKOV_TIMEOUT_SECONDS = 600
CHECK_ID = re.compile(r"CKV2?_K8S_[0-9]+")
REASON_MAX_LENGTH = 300
_CALLER_VARIABLES = ("BC_", "CKV_", "CHECKOV_", "PRISMA_")
"""Checkov's settings (and API keys) in the caller's environment: dropped, the run is hermetic."""

EXIT_NOT_ACCEPTED = 1
EXIT_UNUSABLE_INPUT = 2


class CrossCheckError(Exception):
    """Checkov, its output, the skip file or the stack cannot be used; the message says which and how to fix it."""


# --- what Checkov reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One failed check on one object of the render."""

    check_id: str
    check_name: str
    resource: str
    """Checkov's name for what failed, e.g. `Deployment.crm-staging.crm-web`."""
    file: str
    """The manifest, relative to the manifests directory: `crm-staging/deployment-crm-web.yaml`."""
    kind: str
    namespace: str
    name: str
    """Kind, namespace and name of the object in that file (what skip patterns match)."""

    @property
    def subject(self) -> str:
        """`Kind/name`, the form skip patterns take."""
        return f"{self.kind}/{self.name}"

    def describe(self, manifests: Path | None = None) -> str:
        where = os.path.relpath(manifests / self.file) if manifests is not None else self.file
        scope = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.check_id} {self.check_name}: {self.kind} {scope} ({where})"


@dataclass(frozen=True)
class Report:
    """Checkov's summary of one run and its failed checks."""

    checkov_version: str
    passed: int
    failures: tuple[Failure, ...]
    parsing_errors: int
    resource_count: int


def _manifest_object(manifests: Path, file: str) -> tuple[str, str, str]:
    """(kind, namespace, name) of the one object in a rendered manifest file."""
    path = manifests / file
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CrossCheckError(f"Checkov reported a failure in {path}, which cannot be read: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
        raise CrossCheckError(f"Checkov reported a failure in {path}, which holds no Kubernetes object")
    metadata = document["metadata"]
    return str(document.get("kind", "")), str(metadata.get("namespace") or ""), str(metadata.get("name", ""))


def _field(entry: Mapping[str, Any], key: str, source: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise CrossCheckError(f"{source}: a failed check has no {key!r}; is this Checkov's JSON report?")
    return value


def parse_report(text: str, manifests: Path, source: str = "Checkov's output") -> Report:
    """Checkov's `--output json` report of one framework over `manifests`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CrossCheckError(
            f"{source} is not JSON ({error.msg}, line {error.lineno}); expected Checkov's --output json report"
        ) from None
    if not isinstance(data, dict):
        raise CrossCheckError(
            f"{source} is a JSON {type(data).__name__}, not one report object; run Checkov with one --framework"
        )
    # With no resource at all Checkov writes its summary alone.
    summary = data.get("summary", data)
    if not isinstance(summary, dict) or not all(
        isinstance(summary.get(key), int) for key in ("passed", "failed", "parsing_errors", "resource_count")
    ):
        raise CrossCheckError(f"{source} has no summary with passed/failed/parsing_errors/resource_count counts")
    results = data.get("results", {})
    entries = results.get("failed_checks", []) if isinstance(results, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise CrossCheckError(f"{source}: results.failed_checks is not a list of checks")
    failures = []
    for entry in entries:
        file = _field(entry, "file_path", source).lstrip("/")
        kind, namespace, name = _manifest_object(manifests, file)
        failures.append(
            Failure(
                check_id=_field(entry, "check_id", source),
                check_name=_field(entry, "check_name", source),
                resource=_field(entry, "resource", source),
                file=file,
                kind=kind,
                namespace=namespace,
                name=name,
            )
        )
    if len(failures) != summary["failed"]:
        raise CrossCheckError(f"{source} lists {len(failures)} failed checks but counts {summary['failed']}")
    return Report(
        checkov_version=str(summary.get("checkov_version", "unknown")),
        passed=summary["passed"],
        failures=tuple(sorted(failures, key=lambda failure: (failure.file, failure.check_id))),
        parsing_errors=summary["parsing_errors"],
        resource_count=summary["resource_count"],
    )


# --- running Checkov --------------------------------------------------------------------------


def checkov_command(checkov: Path, manifests: Path, output_dir: Path, *, sarif: bool = False) -> list[str]:
    return [
        str(checkov),
        "--directory",
        str(manifests),
        "--framework",
        "kubernetes",
        "--skip-download",
        "--quiet",
        "--compact",
        "--output",
        "json",
        *(["--output", "sarif"] if sarif else []),
        "--output-file-path",
        str(output_dir),
    ]


def checkov_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without Checkov's settings, plus the two that keep it offline."""
    kept = {key: value for key, value in environment.items() if not key.startswith(_CALLER_VARIABLES)}
    # No guideline mapping download, no PyPI update check (--skip-download covers the policies).
    return {**kept, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}


def missing_checkov_message(checkov: Path) -> str:
    return f"Checkov not found at {checkov}: `make venv` (scripts/bootstrap.sh) installs it into .venv-checkov"


def run_checkov(checkov: Path, manifests: Path, output_dir: Path, *, sarif: bool = False) -> tuple[Report, float]:
    """Checkov's report over `manifests` and its wall time in seconds; its JSON (and SARIF) go to `output_dir`."""
    if not os.access(checkov, os.X_OK):
        raise CrossCheckError(missing_checkov_message(checkov))
    if not manifests.is_dir():
        raise CrossCheckError(f"manifest directory {manifests} does not exist")
    output_dir.mkdir(parents=True, exist_ok=True)
    results = output_dir / RESULTS_FILE
    results.unlink(missing_ok=True)
    (output_dir / SARIF_FILE).unlink(missing_ok=True)
    started = time.perf_counter()
    completed = subprocess.run(
        checkov_command(checkov, manifests, output_dir, sarif=sarif),
        # Its own directory: no .checkov.yaml of the caller's is read.
        cwd=output_dir,
        env=checkov_environment(os.environ),
        capture_output=True,
        text=True,
        timeout=CHECKOV_TIMEOUT_SECONDS,
        check=False,
    )
    seconds = time.perf_counter() - started
    # Checkov exits 1 when a check fails, which is what the skip file is compared with.
    if completed.returncode not in (0, 1) or not results.is_file():
        last_line = (completed.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise CrossCheckError(f"Checkov exited {completed.returncode} without a report in {results}: {last_line}")
    report = parse_report(results.read_text(encoding="utf-8"), manifests, source=str(results))
    if report.resource_count == 0:
        raise CrossCheckError(f"Checkov found no Kubernetes object in {manifests} (a file it could not parse counts 0)")
    if report.parsing_errors:
        raise CrossCheckError(f"Checkov could not parse {report.parsing_errors} files in {manifests}")
    return report, seconds


# --- the skip file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skip:
    """One accepted check: why, and on which objects (all of them when `resources` is empty)."""

    check_id: str
    reason: str
    resources: tuple[str, ...] = ()

    def patterns_accepting(self, failure: Failure) -> list[str | None]:
        """The resource patterns that accept `failure`; [None] for an entry without patterns."""
        if failure.check_id != self.check_id:
            return []
        if not self.resources:
            return [None]
        return [pattern for pattern in self.resources if fnmatch.fnmatchcase(failure.subject, pattern)]


def _skip(check_id: Any, entry: Any, source: str) -> Skip:
    if not isinstance(check_id, str) or not CHECK_ID.fullmatch(check_id):
        raise CrossCheckError(
            f"{source}: {check_id!r} is not a Checkov Kubernetes check id (CKV_K8S_<n>, CKV2_K8S_<n>)"
        )
    where = f"{source}: {check_id}"
    resources: Any = ()
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"reason", "resources"})
        if unknown:
            raise CrossCheckError(f"{where} has unknown keys {unknown}; allowed: reason, resources")
        reason, resources = entry.get("reason"), entry.get("resources", ())
    else:
        reason = entry
    if not isinstance(reason, str) or not reason.strip():
        raise CrossCheckError(f"{where} needs a reason: one line saying why this check is wrong for the platform")
    if "\n" in reason.strip() or len(reason) > REASON_MAX_LENGTH:
        raise CrossCheckError(f"{where}: the reason must be one line of at most {REASON_MAX_LENGTH} characters")
    if not isinstance(resources, list | tuple) or not all(
        isinstance(pattern, str) and re.fullmatch(r"[A-Za-z*?]+/[^/\s]+", pattern) for pattern in resources
    ):
        raise CrossCheckError(f"{where}: resources must be a list of Kind/name patterns, e.g. Deployment/crm-web")
    if isinstance(entry, dict) and "resources" in entry and not resources:
        raise CrossCheckError(f"{where}: an empty resources list accepts nothing; drop the key to accept every object")
    return Skip(check_id=check_id, reason=reason.strip(), resources=tuple(resources))


def load_skips(path: Path = SKIPS_FILE) -> tuple[Skip, ...]:
    """The skip file: a mapping of check id to a reason, or to {reason, resources}."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CrossCheckError(f"cannot read the skip file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise CrossCheckError(f"the skip file {path} is not valid YAML: {error}") from None
    if document is None:
        return ()
    if not isinstance(document, dict):
        raise CrossCheckError(f"the skip file {path} must map check ids to reasons")
    return tuple(_skip(check_id, entry, str(path)) for check_id, entry in document.items())


# --- comparing ----------------------------------------------------------------------------------

Acceptance = tuple[str, str | None]
"""(check id, resource pattern) of a skip that accepted a failure; None for an entry without patterns."""


@dataclass(frozen=True)
class Comparison:
    not_accepted: tuple[Failure, ...]
    accepted: tuple[Failure, ...]
    acceptances: frozenset[Acceptance]


def compare(failures: Iterable[Failure], skips: Sequence[Skip]) -> Comparison:
    """Which failures the skips accept, and which (entry, pattern) pairs accepted something."""
    not_accepted: list[Failure] = []
    accepted: list[Failure] = []
    acceptances: set[Acceptance] = set()
    for failure in failures:
        patterns = [(skip.check_id, pattern) for skip in skips for pattern in skip.patterns_accepting(failure)]
        (accepted if patterns else not_accepted).append(failure)
        acceptances.update(patterns)
    return Comparison(tuple(not_accepted), tuple(accepted), frozenset(acceptances))


def stale_skips(skips: Sequence[Skip], acceptances: Iterable[Acceptance], *, judge_patterns: bool) -> list[str]:
    """Skip entries (and, with judge_patterns, resource patterns) that accepted no failure."""
    used = set(acceptances)
    used_ids = {check_id for check_id, _ in used}
    stale = []
    for skip in skips:
        if skip.check_id not in used_ids:
            stale.append(f"{skip.check_id} accepted no failure")
        elif judge_patterns:
            stale.extend(
                f"{skip.check_id} resource {pattern} accepted no failure"
                for pattern in skip.resources
                if (skip.check_id, pattern) not in used
            )
    return stale


# --- rendering and the command line -------------------------------------------------------------


def render_stack(
    stack: str,
    out_dir: Path,
    config: Sequence[str] = (),
    secrets_path: Path | None = None,
    stack_file: Path | None = None,
) -> Path:
    """Render `stack` offline into `out_dir` (an earlier render there is replaced), with `--config KEY=VALUE`
    overrides, a secrets file and another stack file where given; its manifests directory."""
    # Imported here: the program pulls in pulumi and the components, which the comparison never needs.
    from offline.program import run_program
    from offline.render import RenderDirectoryError, write_render
    from offline.stack_config import (
        StackConfigError,
        config_overrides,
        load_stack_config,
        secrets_file,
        with_overrides,
    )
    from stacks.errors import SettingsError

    try:
        stack_config = with_overrides(
            load_stack_config(PROJECT_DIR, stack, secrets_file(secrets_path), stack_file=stack_file),
            config_overrides(list(config)),
        )
        write_render(run_program(stack_config), out_dir)
    except (StackConfigError, SettingsError, RenderDirectoryError) as error:
        raise CrossCheckError(str(error)) from None
    return out_dir / "manifests"


@dataclass(frozen=True)
class StackResult:
    stack: str
    manifests: Path
    report: Report
    comparison: Comparison
    seconds: float

    def summary(self) -> str:
        report, comparison = self.report, self.comparison
        return (
            f"{self.stack}: {report.passed} passed, {len(comparison.not_accepted)} failed, "
            f"{len(comparison.accepted)} skipped (Checkov {report.checkov_version}, "
            f"{report.resource_count} resources, {self.seconds:.1f} s)"
        )


def check_stack(
    stack: str,
    skips: Sequence[Skip],
    checkov: Path,
    build_dir: Path,
    config: Sequence[str] = (),
    secrets_path: Path | None = None,
    *,
    sarif: bool = False,
    stack_file: Path | None = None,
) -> StackResult:
    out_dir = build_dir / stack
    manifests = render_stack(stack, out_dir, config, secrets_path, stack_file)
    report, seconds = run_checkov(checkov, manifests, out_dir / "checkov", sarif=sarif)
    return StackResult(stack, manifests, report, compare(report.failures, skips), seconds)


# --- SARIF for code scanning --------------------------------------------------------------------


def _manifest_file(manifests: Path, uri: str) -> str:
    """The manifest a SARIF location names, relative to `manifests` (Checkov writes it from another base)."""
    parts = [part for part in uri.split("/") if part not in ("", ".")]
    for start in range(len(parts)):
        candidate = "/".join(parts[start:])
        if (manifests / candidate).is_file():
            return candidate
    raise CrossCheckError(f"Checkov's SARIF names {uri!r}, which is no manifest under {manifests}")


def code_scanning_sarif(sarif_text: str, manifests: Path, skips: Sequence[Skip], source: str) -> dict[str, Any]:
    """Checkov's SARIF without the failures `skips` accept, each location a path from the project directory."""
    try:
        document = json.loads(sarif_text)
        runs = document["runs"]
        if not isinstance(runs, list) or not all(isinstance(run.get("results", []), list) for run in runs):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CrossCheckError(f"{source} is not a SARIF report (no list of runs with results)") from None
    for run in runs:
        kept = []
        for result in run.get("results", []):
            locations = result.get("locations") or []
            artifact = locations[0].get("physicalLocation", {}).get("artifactLocation", {}) if locations else {}
            uri = artifact.get("uri")
            if not isinstance(uri, str) or not isinstance(result.get("ruleId"), str):
                raise CrossCheckError(f"{source}: a result has no ruleId or no location")
            file = _manifest_file(manifests, uri)
            kind, namespace, name = _manifest_object(manifests, file)
            message = result.get("message", {}).get("text", "")
            failure = Failure(result["ruleId"], str(message), "", file, kind, namespace, name)
            if any(skip.patterns_accepting(failure) for skip in skips):
                continue
            artifact["uri"] = os.path.relpath(manifests / file, PROJECT_DIR)
            artifact.pop("uriBaseId", None)
            kept.append(result)
        run["results"] = kept
    return dict(document)


def write_sarif(result: StackResult, skips: Sequence[Skip], target: Path) -> int:
    """Write the stack's code-scanning SARIF to `target`; how many results it holds."""
    source = result.manifests.parent / "checkov" / SARIF_FILE
    try:
        text = source.read_text(encoding="utf-8")
    except OSError:
        raise CrossCheckError(f"Checkov wrote no SARIF report at {source}") from None
    document = code_scanning_sarif(text, result.manifests, skips, str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return sum(len(run["results"]) for run in document["runs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.checkov", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", help=f"check this stack (repeatable; default: {', '.join(STACKS)})")
    parser.add_argument("--skips", type=Path, default=SKIPS_FILE, help="the skip file (default: %(default)s)")
    parser.add_argument("--checkov", type=Path, default=CHECKOV, help="the checkov executable (default: %(default)s)")
    parser.add_argument(
        "--out", type=Path, default=BUILD_DIR, help="renders and reports go here (default: %(default)s)"
    )
    parser.add_argument(
        "--sarif", type=Path, help="write the failures not accepted as SARIF here, for code scanning (one --stack)"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value of every stack checked, as `pulumi up --config` does (repeatable)",
    )
    parser.add_argument(
        "--secrets-file",
        type=Path,
        help="YAML map of secret config keys (or appSecrets.NAME paths) to values to use instead of placeholders",
    )
    parser.add_argument(
        "--stack-file",
        type=Path,
        help="read the (one) stack's config from this file instead of Pulumi.<stack>.yaml (an example)",
    )
    arguments = parser.parse_args(argv)
    stacks: list[str] = arguments.stack or list(STACKS)

    try:
        if arguments.sarif is not None and len(stacks) != 1:
            raise CrossCheckError("--sarif writes one stack's report: give exactly one --stack")
        skips = load_skips(arguments.skips)
        if not os.access(arguments.checkov, os.X_OK):
            raise CrossCheckError(missing_checkov_message(arguments.checkov))
        results = []
        for stack in stacks:
            result = check_stack(
                stack,
                skips,
                arguments.checkov,
                arguments.out,
                arguments.config,
                arguments.secrets_file,
                sarif=arguments.sarif is not None,
                stack_file=arguments.stack_file,
            )
            print(result.summary(), flush=True)
            for failure in result.comparison.not_accepted:
                print(f"  not accepted: {failure.describe(result.manifests)}")
            if arguments.sarif is not None:
                count = write_sarif(result, skips, arguments.sarif)
                print(f"  SARIF for code scanning: {os.path.relpath(arguments.sarif)} ({count} results)")
            results.append(result)
    except CrossCheckError as error:
        print(f"offline.checkov: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT

    acceptances = set().union(*(result.comparison.acceptances for result in results))
    # A pattern may name an object only some stacks have: patterns are judged over every stack as it is.
    stale = stale_skips(skips, acceptances, judge_patterns=set(STACKS) <= set(stacks) and not arguments.config)
    skip_file = os.path.relpath(arguments.skips)
    for line in stale:
        print(f"stale skip: {line} in {', '.join(stacks)}: remove it from {skip_file}")
    not_accepted = sum(len(result.comparison.not_accepted) for result in results)
    if not_accepted or stale:
        print(
            f"Checkov cross-check failed: {not_accepted} failed checks not accepted by {skip_file}, "
            f"{len(stale)} stale skips; fix the component, or skip the check there with a one-line reason"
        )
        return EXIT_NOT_ACCEPTED
    print(f"Checkov cross-check passed: every failed check is accepted by {skip_file}")
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # As `python -m offline`: skip teardown, where the Pulumi SDK's threads print noise.
    os._exit(status)
