"""``pdebug waypoints``: istioctl's ``waypoint list`` through the Kubernetes API double."""

from __future__ import annotations

import json

import pytest

from tests import harness as eh
from tests.harness import kube_double as kd

READS = eh.WAYPOINT_READS


@pytest.fixture
def kube_reads():
    return READS


@pytest.fixture
def mesh(kube: kd.KubeDouble, no_ambient_config: None) -> kd.KubeDouble:
    """bookinfo (ambient, namespace bound to 'waypoint'), shop (a service-only waypoint)."""
    kube.add_namespace(
        "bookinfo", {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}
    )
    kube.add_namespace("shop", {"istio.io/dataplane-mode": "ambient"})
    kube.add_gateway("waypoint", "bookinfo", labels={"istio.io/waypoint-for": "all"})
    kube.add_gateway("reviews-wp", "bookinfo", labels={"istio.io/rev": "canary"}, programmed=False)
    kube.add_gateway("ingress", "bookinfo", gateway_class="istio")  # not a waypoint
    kube.add_gateway("shop-wp", "shop", programmed=None, addresses=["10.96.0.9"])
    kube.add_service("waypoint", "bookinfo")  # the waypoint's own service: never bound
    kube.add_service("productpage", "bookinfo")
    kube.add_service("reviews", "bookinfo", labels={"istio.io/use-waypoint": "reviews-wp"})
    kube.add_service("ratings", "bookinfo", labels={"istio.io/use-waypoint": "none"})
    kube.add_service("cart", "shop", labels={"istio.io/use-waypoint": "shop-wp"})
    kube.add_pod("productpage-v1-x", "bookinfo", containers=("app",))
    kube.add_pod(
        "waypoint-abc", "bookinfo", labels={"gateway.networking.k8s.io/gateway-name": "waypoint"}
    )
    kube.add_pod("cart-1", "shop", labels={"istio.io/use-waypoint": "shop-wp"})  # service-only wp
    return kube


def test_istioctl_table(pdebug, kubeconfig, mesh):
    r = pdebug("waypoints", "-n", "bookinfo", "--kubeconfig", kubeconfig)
    assert r.code == 0, r.err
    assert r.out == (
        "NAME           REVISION     TRAFFIC TYPE     PROGRAMMED\n"
        "reviews-wp     canary       none             False\n"
        "waypoint       default      all              True\n"
    )


def test_all_namespaces_and_istioctl_spelling(pdebug, kubeconfig, mesh):
    r = pdebug("waypoint", "list", "-A", "--kubeconfig", kubeconfig)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "REVISION", "TRAFFIC", "TYPE", "PROGRAMMED"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["bookinfo", "reviews-wp"],
        ["bookinfo", "waypoint"],
        ["shop", "shop-wp"],
    ]
    bad = pdebug("waypoint", "apply", "--kubeconfig", kubeconfig)
    assert bad.code == 2 and "never" in bad.err


def test_wide_and_json_say_what_binds_to_each(pdebug, kubeconfig, mesh):
    r = pdebug("waypoints", "-A", "-o", "json", "--kubeconfig", kubeconfig)
    got = {w["name"]: w for w in json.loads(r.out)}
    # the namespace label binds productpage (and the pod: waypoint-for all); reviews' own
    # label wins over the namespace's; ratings opts out; the waypoint's own service and pods
    # never bind
    assert got["waypoint"]["services"] == ["bookinfo/productpage"]
    assert got["waypoint"]["workloads"] == ["bookinfo/productpage-v1-x"]
    # reviews-wp is not programmed and has no status.addresses: istiod binds nothing to it
    # (pdebug listed bookinfo/reviews as bound); what asks for it waits
    assert got["reviews-wp"]["services"] == [] and got["reviews-wp"]["addresses"] == []
    assert got["reviews-wp"]["waiting"] == ["bookinfo/reviews"]
    assert "waypoint bookinfo/reviews-wp has no address yet" in r.err
    assert got["reviews-wp"]["workloads"] == []  # reviews-wp serves services only (unlabelled)
    assert got["shop-wp"]["services"] == ["shop/cart"] and got["shop-wp"]["workloads"] == []
    wide = pdebug("waypoints", "-n", "bookinfo", "-o", "wide", "--kubeconfig", kubeconfig)
    assert "REASON" in wide.out and "Invalid" in wide.out and "bookinfo/productpage" in wide.out


def test_no_waypoints(pdebug, kube, kubeconfig, no_ambient_config):
    kube.add_namespace("default")
    r = pdebug("waypoints", "--kubeconfig", kubeconfig)
    assert r.code == 0 and r.out == "" and "No waypoints found." in r.err
    kube.add_gateway("ingress", "default", gateway_class="istio")
    r = pdebug("waypoints", "--kubeconfig", kubeconfig)
    assert r.out.split() == ["NAME", "REVISION", "TRAFFIC", "TYPE", "PROGRAMMED"]


def test_usage(pdebug, kubeconfig, mesh):
    r = pdebug("waypoints", "-A", "-n", "x", "--kubeconfig", kubeconfig)
    assert r.code == 2
