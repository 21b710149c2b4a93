"""Run the policy pack's checks without the Pulumi engine, over any Kubernetes manifests.

    python -m policies.runner --manifests PATH [--policy-config FILE] [--json] [--sarif FILE]

PATH is one file or a directory searched recursively for files named *.yaml, *.yml or *.json in
any letter case (pod.YAML, x.JSON). A YAML file may hold several documents, a JSON file one; a
document is an object or a List (`kind: List`, or a typed list such as PodList) whose every item is
checked as an object of its own, reported under its own origin (`file#document.items[index]`).
policies/manifests.py says exactly what is read.

Every policy runs at the pack's own level unless --policy-config names a file (the format
`pulumi preview --policy-pack-config` takes). Prints the findings grouped by object, then
`N mandatory, M advisory` (or one JSON document with --json); --sarif FILE also writes them as
SARIF 2.1.0 (policies/sarif.py) for code scanning, each result at the file and line its object
begins on. `python -m offline check --stack <stack>` runs the same evaluation over what the
program declares for a stack.

What cannot be checked is named on stderr, one line each (`policies.runner: skipped FILE: why`:
unreadable, not UTF-8, invalid YAML or JSON with its line, or a document that is not a Kubernetes
object, e.g. a docker-compose.yml), never quoting the file (a manifest may hold a secret), and
every other file is still checked.

Exit status:
  0  no mandatory violation, and everything was read
  1  at least one mandatory violation, whatever else
  2  no mandatory violation, but something was skipped as above; or, with one line on stderr and
     no report, nothing could be checked: PATH missing, no Kubernetes object under it, a bad
     --policy-config, or a SARIF file that cannot be written
A closed standard output (`--json | head -1`) ends the output quietly, with the same exit status.

This module, like the whole pack, imports only the bottom layer (kube/) and the pack itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from policies.config import PolicyConfig, PolicyConfigError, default_config, load_policy_config
from policies.findings import Finding, Location, Subject, counts, evaluate
from policies.manifests import ManifestTargetError, Skipped, read_manifests
from policies.pulumi_adapter import pulumi_type_of

EXIT_MANDATORY_VIOLATION = 1
EXIT_UNUSABLE_INPUT = 2
PROGRAM = "policies.runner"

__all__ = [
    "EXIT_MANDATORY_VIOLATION",
    "EXIT_UNUSABLE_INPUT",
    "Subject",
    "UnusableInputError",
    "evaluate",
    "exit_status",
    "report",
]


class UnusableInputError(Exception):
    """Nothing can be checked (no manifests, an unknown stack); the message says which and why."""


def manifest_subjects(target: Path) -> tuple[list[Subject], list[Skipped]]:
    """Every Kubernetes object in `target` (a file, or a directory searched recursively) as a subject at its file and
    line, and everything skipped; UnusableInputError when the target is missing or holds no object at all."""
    try:
        manifests = read_manifests(target)
    except ManifestTargetError as error:
        raise UnusableInputError(str(error)) from None
    subjects = [
        Subject(
            document=obj.document,
            pulumi_type=pulumi_type_of(obj.document["apiVersion"], obj.document["kind"]),
            origin=obj.origin,
            urn=obj.origin,
            location=Location(obj.file, obj.line),
        )
        for obj in manifests.objects
    ]
    return subjects, list(manifests.skipped)


def exit_status(findings: Sequence[Finding], *, unusable: bool) -> int:
    """1 on a mandatory violation; else 2 when some input could not be used; else 0."""
    mandatory, _ = counts(findings)
    if mandatory:
        return EXIT_MANDATORY_VIOLATION
    return EXIT_UNUSABLE_INPUT if unusable else 0


def text_report(findings: Sequence[Finding]) -> str:
    """Findings grouped by object, one line each, then the `N mandatory, M advisory` line."""
    lines: list[str] = []
    current: tuple[str, str, str] | None = None
    for finding in findings:
        group = (finding.resource, finding.pulumi_type, finding.origin)
        if group != current:
            current = group
            lines.append(f"{finding.resource} ({finding.pulumi_type} {finding.origin})")
        violation = finding.violation
        lines.append(
            f"  {finding.spec.name} [{finding.enforcement}] {violation.control} {violation.path}: {violation.message}"
        )
    mandatory, advisory = counts(findings)
    lines.append(f"{mandatory} mandatory, {advisory} advisory")
    return "\n".join(lines)


def json_report(findings: Sequence[Finding]) -> str:
    """{"violations": [...], "mandatory": N, "advisory": M}."""
    mandatory, advisory = counts(findings)
    violations = [finding.as_json() for finding in findings]
    return json.dumps({"violations": violations, "mandatory": mandatory, "advisory": advisory}, indent=2)


def print_quietly(text: str) -> None:
    """Print to standard output; when the reader has closed it (`| head`), stop without a traceback.

    The standard remedy (Python's signal documentation, "Note on SIGPIPE"): standard output is pointed at
    /dev/null, so the interpreter's flush at exit has nowhere to fail.
    """
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def report(
    findings: Sequence[Finding],
    config: PolicyConfig,
    *,
    program: str,
    as_json: bool,
    sarif: Path | None = None,
    unusable: Sequence[Skipped] = (),
    stack_location: Location | None = None,
    automation_id: str | None = None,
) -> int:
    """Write the SARIF file (when asked), print the report, and return the exit status (see the module doc)."""
    status = exit_status(findings, unusable=bool(unusable))
    if sarif is not None:
        # Imported here: hashing and URL quoting are for SARIF only.
        from policies.sarif import sarif_log, write_sarif

        log = sarif_log(
            findings,
            config,
            unusable=unusable,
            exit_code=status,
            stack_location=stack_location,
            automation_id=automation_id,
        )
        try:
            write_sarif(sarif, log)
        except OSError as error:
            print(f"{program}: cannot write the SARIF file {sarif}: {error.strerror}", file=sys.stderr)
            return EXIT_UNUSABLE_INPUT
    print_quietly(json_report(findings) if as_json else text_report(findings))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {PROGRAM}", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--manifests",
        type=Path,
        required=True,
        metavar="PATH",
        help="a manifest file, or a directory: every *.yaml, *.yml and *.json file under it (any letter case)",
    )
    parser.add_argument(
        "--policy-config",
        type=Path,
        help="enforcement levels (--policy-pack-config format); default: the pack's own levels",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--sarif", type=Path, metavar="FILE", help="also write the findings as SARIF 2.1.0 to FILE")
    arguments = parser.parse_args(argv)
    try:
        config = load_policy_config(arguments.policy_config) if arguments.policy_config else default_config()
        subjects, skipped = manifest_subjects(arguments.manifests)
    except (UnusableInputError, PolicyConfigError) as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    for entry in skipped:
        print(f"{PROGRAM}: {entry}", file=sys.stderr)
    if not subjects:
        searched = " (searched every *.yaml, *.yml and *.json file under it, any letter case)"
        where = f"{arguments.manifests}{searched if arguments.manifests.is_dir() else ''}"
        print(f"{PROGRAM}: no Kubernetes object in {where}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    findings = evaluate(subjects, config)
    return report(findings, config, program=PROGRAM, as_json=arguments.json, sarif=arguments.sarif, unusable=skipped)


if __name__ == "__main__":
    sys.exit(main())
