"""The operator runs as its own service account, with the chart's least-privilege RBAC."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from support import eventually

from bobaku.operator.kube import Credentials, Forbidden, Invalid, Kube, KubeError

# Fixtures from this folder's conftest.py: admin, installed, operator_kubeconfig.
pytestmark = pytest.mark.usefixtures("installed")

OPERATOR = "system:serviceaccount:bobaku-system:bobaku-operator"


async def allowed(admin: Kube, verb: str, what: str, **attributes: str) -> bool:
    """Whether the operator may ``verb`` on ``what`` (``group:resource[/subresource]``)."""
    group, _, resource = what.rpartition(":")
    plural, _, subresource = resource.partition("/")
    review = await admin.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        body={
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": OPERATOR,
                "groups": ["system:serviceaccounts", "system:serviceaccounts:bobaku-system"],
                "resourceAttributes": {
                    "verb": verb,
                    "group": group,
                    "resource": plural,
                    "subresource": subresource,
                    **attributes,
                },
            },
        },
    )
    return bool(review["status"].get("allowed"))


async def test_the_operator_authenticates_as_its_own_service_account(
    operator_kubeconfig: Path,
) -> None:
    async with Kube(lambda: Credentials.load(operator_kubeconfig)) as kube:
        review = await kube.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    assert review["status"]["userInfo"]["username"] == OPERATOR
    assert "system:masters" not in review["status"]["userInfo"].get("groups", [])


@pytest.mark.parametrize(
    ("verb", "what", "attributes"),
    [
        ("watch", "bobaku.io:franchises", {}),
        ("patch", "bobaku.io:outlets", {}),
        ("create", "apps:deployments", {"namespace": "bobaku-fr-any"}),
        ("delete", "networking.k8s.io:networkpolicies", {"namespace": "bobaku-fr-any"}),
        ("get", ":secrets", {"namespace": "bobaku-fr-any", "name": "bobaku-database"}),
        ("patch", ":secrets", {"namespace": "bobaku-fr-any", "name": "bobaku-service-token"}),
        ("patch", ":secrets", {"namespace": "bobaku-fr-any", "name": "bobaku-provider-secrets"}),
        ("create", ":events", {"namespace": "bobaku-system"}),
        ("create", ":namespaces", {}),
    ],
)
async def test_the_operator_may_do_what_it_needs(
    admin: Kube, verb: str, what: str, attributes: dict[str, str]
) -> None:
    assert await allowed(admin, verb, what, **attributes)


@pytest.mark.parametrize(
    ("verb", "what", "attributes"),
    [
        # No Secret but its own, and no listing of Secrets at all.
        ("get", ":secrets", {"namespace": "bobaku-fr-any", "name": "someone-elses"}),
        ("list", ":secrets", {"namespace": "bobaku-fr-any"}),
        ("get", ":secrets", {"namespace": "kube-system", "name": "anything"}),
        # Nothing about pods, nodes or RBAC; no cluster-wide escalation.
        ("list", ":pods", {}),
        ("create", ":pods", {"namespace": "bobaku-fr-any"}),
        ("create", ":pods/exec", {"namespace": "bobaku-fr-any"}),
        ("list", ":nodes", {}),
        ("create", "rbac.authorization.k8s.io:clusterrolebindings", {}),
        ("escalate", "rbac.authorization.k8s.io:clusterroles", {}),
        ("delete", "apiextensions.k8s.io:customresourcedefinitions", {}),
        ("list", "apiextensions.k8s.io:customresourcedefinitions", {}),
        # Events only in the platform namespace; namespaces are never listed.
        ("create", ":events", {"namespace": "default"}),
        ("list", ":namespaces", {}),
        ("delete", "bobaku.io:franchises", {}),
    ],
)
async def test_the_operator_may_do_nothing_more(
    admin: Kube, verb: str, what: str, attributes: dict[str, str]
) -> None:
    assert not await allowed(admin, verb, what, **attributes)


async def test_the_namespace_guard_keeps_the_operator_to_franchise_namespaces(
    admin: Kube, operator_kubeconfig: Path
) -> None:
    """RBAC must grant namespaces whole; the admission policy narrows it to bobaku-fr-*."""
    async with Kube(lambda: Credentials.load(operator_kubeconfig)) as kube:

        async def refused_by_policy(attempt: Awaitable[Any]) -> bool:
            try:
                await attempt
            except (Forbidden, Invalid) as exc:
                return "bobaku-operator-namespaces" in exc.message or (
                    "franchise namespaces" in exc.message
                )
            return False

        bystander = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bystander"}}
        await admin.apply(bystander)

        async def delete_bystander() -> bool:
            path = "/api/v1/namespaces/bystander"
            return await refused_by_policy(kube.request("DELETE", path, params={"dryRun": "All"}))

        # The policy is enforced once the API server has loaded it.
        await eventually(delete_bystander, timeout=20, interval=0.2)
        stranger = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "not-ours"}}
        assert await refused_by_policy(kube.apply(stranger, dry_run=True))
        relabel = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "kube-public", "labels": {"bobaku.io/franchise": "x"}},
        }
        assert await refused_by_policy(kube.apply(relabel, dry_run=True))
        squat = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bobaku-fr-guard"}}
        await admin.apply(squat)  # exists, not labelled by the operator
        try:
            assert await refused_by_policy(kube.apply(squat, dry_run=True))
        finally:
            await admin.delete("v1", "Namespace", "bobaku-fr-guard")
        # Its own kind of namespace it may create.
        mine = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "bobaku-fr-guard-ok",
                "labels": {"app.kubernetes.io/managed-by": "bobaku-operator"},
            },
        }
        try:
            await kube.apply(mine, dry_run=True)
        except KubeError as exc:  # pragma: no cover - the assertion's message
            pytest.fail(f"the operator may create its own namespaces: {exc}")
