"""The Celery exporter's queues come from the worker's own command line, as Celery reads it."""

from __future__ import annotations

import pytest

from components.monitoring.celery_exporter import worker_queues


@pytest.mark.parametrize(
    ("args", "queues"),
    [
        (("worker", "--loglevel=INFO", "--concurrency=2", "--task-events"), ("celery",)),
        (("worker", "-Q", "emails,reports"), ("emails", "reports")),
        (("worker", "-Qemails,reports"), ("emails", "reports")),
        (("worker", "--queues", "emails"), ("emails",)),
        (("worker", "--queues=emails,,reports", "-Q", "emails,bulk"), ("emails", "reports", "bulk")),
        (("worker", "-E", "-Q"), ("celery",)),
    ],
    ids=["default-queue", "short-option", "short-option-attached", "long-option", "repeated-and-merged", "empty"],
)
def test_the_exporter_watches_the_queues_the_worker_consumes(args: tuple[str, ...], queues: tuple[str, ...]) -> None:
    """-Q a,b, -Qa,b, --queues a and --queues=a all name queues, once each, in order; none names Celery's
    default queue, which the exporter then reports on its own."""
    assert worker_queues(args) == queues
