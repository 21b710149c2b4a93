"""Canary and blue-green releases: a candidate web beside the released one, behind the same host, its share of
the requests in a TraefikService that `pulumi up` alone writes. Each test compares whole renders, so "exactly
these objects change" is what is proven, not merely that some expected object exists."""

from __future__ import annotations

from typing import Any

import pytest

from components.app.workloads import migration_job_name
from components.edge.api_routes import Backend, weighted_backends
from tests.conftest import CANDIDATE_IMAGE, RunStack, StackRun

RELEASED_IMAGE = "ghcr.io/acme/crm-backend:2.4.1"
CANDIDATE_OBJECTS = {
    ("Deployment", "crm-web-candidate"),
    ("Service", "crm-web-candidate"),
    ("ServiceAccount", "crm-web-candidate"),
    ("HorizontalPodAutoscaler", "crm-web-candidate"),
    ("PodDisruptionBudget", "crm-web-candidate"),
    ("NetworkPolicy", "allow-ingress-controller-to-crm-web-candidate"),
    ("NetworkPolicy", "allow-monitoring-to-crm-web-candidate-metrics"),
    ("PodMonitor", "crm-web-candidate"),
    ("Job", migration_job_name(CANDIDATE_IMAGE)),
}
"""What a candidate adds to staging: its web, reachable like web, after its own migration Job."""
WEIGHTED = ("TraefikService", "crm-web-weighted")


def objects(run: StackRun) -> dict[tuple[str, str], dict[str, Any]]:
    return {(obj.kind, obj.name): obj.document for obj in run.objects}


def difference(
    before: StackRun, after: StackRun
) -> tuple[set[tuple[str, str]], set[tuple[str, str]], set[tuple[str, str]]]:
    """(added, removed, changed) objects between two renders."""
    old, new = objects(before), objects(after)
    changed = {key for key in old.keys() & new.keys() if old[key] != new[key]}
    return new.keys() - old.keys(), old.keys() - new.keys(), changed


def weights(run: StackRun) -> dict[str, int]:
    services = run.named(*WEIGHTED)["spec"]["weighted"]["services"]
    return {service["name"]: service["weight"] for service in services}


def candidate(run_stack: RunStack, percent: int, stack: str = "staging", **config: str) -> StackRun:
    return run_stack(
        stack, config={"candidateImage": CANDIDATE_IMAGE, "candidateTrafficPercent": str(percent), **config}
    )


def test_a_canary_at_five_percent_adds_the_candidate_and_moves_only_the_weights(run_stack: RunStack) -> None:
    """candidateImage at 5 % adds exactly the candidate's objects; of what existed only the weighted service
    changes, to 95/5; workers and beat keep the released image."""
    base, canary = run_stack("staging"), candidate(run_stack, 5)
    added, removed, changed = difference(base, canary)
    assert (added, removed, changed) == (CANDIDATE_OBJECTS, set(), {WEIGHTED})
    assert weights(base) == {"crm-web": 100}
    assert weights(canary) == {"crm-web": 95, "crm-web-candidate": 5}
    images = {
        name: canary.named("Deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"]
        for name in ("crm-web", "crm-worker", "crm-beat", "crm-web-candidate")
    }
    assert images == {
        "crm-web": RELEASED_IMAGE,
        "crm-worker": RELEASED_IMAGE,
        "crm-beat": RELEASED_IMAGE,
        "crm-web-candidate": CANDIDATE_IMAGE,
    }


def test_the_candidate_is_web_under_its_own_name_labels_and_selector(run_stack: RunStack) -> None:
    """The candidate's Deployment is web's (probes, resources, security) with its own selector, which neither
    Deployment's selector overlaps; pods are labelled stable or candidate; the Service selects the candidate."""
    run = candidate(run_stack, 5)
    web, cand = run.named("Deployment", "crm-web"), run.named("Deployment", "crm-web-candidate")
    web_container = web["spec"]["template"]["spec"]["containers"][0]
    cand_container = cand["spec"]["template"]["spec"]["containers"][0]
    for field in ("args", "ports", "livenessProbe", "readinessProbe", "startupProbe", "resources", "securityContext"):
        assert web_container[field] == cand_container[field], field
    web_labels, cand_labels = (
        web["spec"]["template"]["metadata"]["labels"],
        cand["spec"]["template"]["metadata"]["labels"],
    )
    assert (web_labels["crm-platform/release"], cand_labels["crm-platform/release"]) == ("stable", "candidate")
    for selector, other in (
        (web["spec"]["selector"]["matchLabels"], cand_labels),
        (cand["spec"]["selector"]["matchLabels"], web_labels),
    ):
        assert not selector.items() <= other.items()
    assert run.named("Service", "crm-web-candidate")["spec"]["selector"] == cand["spec"]["selector"]["matchLabels"]
    assert run.named("PodDisruptionBudget", "crm-web-candidate")["spec"]["selector"] == cand["spec"]["selector"]
    hpa = run.named("HorizontalPodAutoscaler", "crm-web-candidate")["spec"]
    assert hpa == {
        **run.named("HorizontalPodAutoscaler", "crm-web")["spec"],
        "scaleTargetRef": {**hpa["scaleTargetRef"]},
    }
    assert hpa["scaleTargetRef"]["name"] == "crm-web-candidate"


def test_the_weights_move_only_after_the_deployments_and_the_candidate_after_its_migration(
    run_stack: RunStack,
) -> None:
    """The TraefikService waits for both web Deployments (a share goes to pods Pulumi saw ready); the candidate's
    Deployment waits for its own migration Job, which in production waits for its own pre-migration backup."""
    run = candidate(run_stack, 5, "production")
    weighted = run.resource(*WEIGHTED)
    assert run.resource("Deployment", "crm-web").urn in weighted.dependencies
    assert run.resource("Deployment", "crm-web-candidate").urn in weighted.dependencies
    job = run.resource("Job", migration_job_name(CANDIDATE_IMAGE))
    assert job.urn in run.resource("Deployment", "crm-web-candidate").dependencies
    assert job.urn not in run.resource("Deployment", "crm-web").dependencies
    backup = run.resource(
        "Job", migration_job_name(CANDIDATE_IMAGE).replace("crm-migrate-", "crm-pre-migration-backup-")
    )
    assert backup.urn in job.dependencies


@pytest.mark.parametrize(("before", "after"), [(5, 20), (20, 50), (50, 100)])
def test_each_canary_step_changes_only_the_weights(run_stack: RunStack, before: int, after: int) -> None:
    """5 -> 20 -> 50 -> 100: each `pulumi up` of the runbook changes the weighted service and nothing else."""
    first, second = candidate(run_stack, before), candidate(run_stack, after)
    assert difference(first, second) == (set(), set(), {WEIGHTED})
    expected = {"crm-web": 100 - after, "crm-web-candidate": after}
    assert weights(second) == {name: weight for name, weight in expected.items() if weight}


def test_blue_green_switches_all_traffic_in_one_up_with_both_running(run_stack: RunStack) -> None:
    """At 0 % the candidate runs and gets nothing; at 100 % it gets everything and the released web keeps
    running; the switch (either way) is the weighted service alone."""
    green_idle, green_live = candidate(run_stack, 0), candidate(run_stack, 100)
    assert weights(green_idle) == {"crm-web": 100}
    assert weights(green_live) == {"crm-web-candidate": 100}
    assert difference(green_idle, green_live) == (set(), set(), {WEIGHTED})
    for run in (green_idle, green_live):
        assert {("Deployment", "crm-web"), ("Deployment", "crm-web-candidate")} <= objects(run).keys()


def test_switching_back_restores_the_release_exactly(run_stack: RunStack) -> None:
    """candidateImage "" (and 0 %) after a canary renders exactly what the stack had before it."""
    candidate(run_stack, 50)
    back = run_stack("staging", config={"candidateImage": "", "candidateTrafficPercent": "0"})
    assert objects(back) == objects(run_stack("staging"))


def test_promotion_makes_the_candidate_the_release_without_migrating_again(run_stack: RunStack) -> None:
    """appImage := the candidate, candidateImage := "": the candidate's objects go, web, worker and beat roll to
    its image, all requests go to web; its migration Job and pre-migration backup stay as they were (same object,
    same Pulumi resource), so promotion neither migrates nor backs up again."""
    switched = candidate(run_stack, 100, "production")
    promoted = run_stack("production", config={"appImage": CANDIDATE_IMAGE})
    added, removed, changed = difference(switched, promoted)
    old_job, new_job = migration_job_name(RELEASED_IMAGE), migration_job_name(CANDIDATE_IMAGE)
    backup = new_job.replace("crm-migrate-", "crm-pre-migration-backup-")
    candidate_objects = {key for key in CANDIDATE_OBJECTS if key[0] != "Job"}
    assert added == set()
    assert removed == candidate_objects | {
        ("Job", old_job),
        ("Job", old_job.replace("crm-migrate-", "crm-pre-migration-backup-")),
    }
    assert changed == {("Deployment", "crm-web"), ("Deployment", "crm-worker"), ("Deployment", "crm-beat"), WEIGHTED}
    assert weights(promoted) == {"crm-web": 100}
    for kind, name in (("Job", new_job), ("Job", backup)):
        assert switched.resource(kind, name).urn == promoted.resource(kind, name).urn
        assert objects(switched)[(kind, name)] == objects(promoted)[(kind, name)]


def test_weighted_backends_leave_out_a_release_at_zero() -> None:
    """The weights add up to 100, and a release at 0 % is not in the list (it runs, Traefik sends it nothing)."""
    stable, cand = ("crm-web", 8000), ("crm-web-candidate", 8000)
    assert weighted_backends(stable, None, 0) == [Backend("crm-web", 8000, 100)]
    assert weighted_backends(stable, cand, 0) == [Backend("crm-web", 8000, 100)]
    assert weighted_backends(stable, cand, 20) == [Backend("crm-web", 8000, 80), Backend("crm-web-candidate", 8000, 20)]
    assert weighted_backends(stable, cand, 100) == [Backend("crm-web-candidate", 8000, 100)]
