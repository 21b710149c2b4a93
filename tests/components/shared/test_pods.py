"""Pod security contexts: the restricted profile at pod level, in the SDK's and in Helm values' spelling."""

from __future__ import annotations

import pytest

from components.shared import pods


@pytest.mark.parametrize("uid", [10001, 10999, 65532])
def test_the_pod_runs_as_its_own_user_and_group_never_root_group(uid: int) -> None:
    """The primary group is the user's own, not 0 (root's group, which owns much of an image's files and would
    let the process write them); files on volumes belong to that group too."""
    context = pods.pod_security_context(uid)
    assert context["run_as_user"] == context["run_as_group"] == context["fs_group"] == uid
    assert context["run_as_non_root"] is True
    chart = pods.chart_pod_security_context(uid)
    assert chart["runAsUser"] == chart["runAsGroup"] == uid
    assert chart["runAsNonRoot"] is True
