"""The typed Pod view: the fields pdebug reads, parsed once from the API object."""

from __future__ import annotations

from pdebug.sources.kube import Pod, pod_state, running_and_ready, sidecar_problem


def pod_object(**over: object) -> dict:
    obj: dict = {
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "labels": {"app": "web", "odd": 3},
            "annotations": {"ambient.istio.io/redirection": "enabled"},
            "ownerReferences": [
                {"uid": "not-the-controller"},
                {"uid": "rs-uid", "controller": True},
            ],
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [{"name": "app"}],
            "initContainers": [
                {"name": "istio-proxy", "restartPolicy": "Always"},  # a native sidecar
                {"name": "istio-init"},
            ],
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    for key, value in over.items():
        section, _, field = key.partition("__")
        obj[section][field] = value
    return obj


def test_fields_are_parsed_once_from_the_object() -> None:
    raw = pod_object()
    pod = Pod.from_raw(raw)
    assert (pod.name, pod.namespace, pod.node, pod.phase) == ("web-1", "shop", "node-1", "Running")
    assert pod.containers == ("app", "istio-proxy")  # the native sidecar counts, istio-init not
    assert pod.has_container("istio-proxy") and not pod.has_container("istio-init")
    assert pod.labels == {"app": "web"}  # a non-string label value is not a label
    assert pod.annotations["ambient.istio.io/redirection"] == "enabled"
    assert pod.owner == "rs-uid"
    assert pod.running_and_ready and pod.raw is raw
    assert Pod.of(pod) is pod and Pod.of(raw).name == "web-1"


def test_states_and_problems() -> None:
    deleting = Pod.from_raw(pod_object(metadata__deletionTimestamp="2026-01-01T00:00:00Z"))
    assert not deleting.running_and_ready and deleting.state == "Running, terminating"
    unready = pod_object(status__conditions=[{"type": "Ready", "status": "False"}])
    assert pod_state(unready) == "Running, not Ready" and not running_and_ready(unready)
    pending = pod_object(
        status__phase="Pending",
        status__conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
    )
    assert sidecar_problem(pending, "istio-proxy") == (
        "{pod} is Pending, not Running (Unschedulable)",
        "kubectl describe pod {pod} -n {ns}",
    )
    what, _ = sidecar_problem(pod_object(), "envoy") or ("", "")
    assert what == "{pod} has no container 'envoy' (containers: app, istio-proxy)"
    dead = pod_object(
        status__initContainerStatuses=[
            {"name": "istio-proxy", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]
    )
    assert Pod.from_raw(dead).problem("istio-proxy") == (
        "container istio-proxy of {pod} is waiting (CrashLoopBackOff), not running",
        "kubectl logs {pod} -c istio-proxy -n {ns} --previous",
    )
    assert Pod.from_raw(pod_object()).problem("istio-proxy") is None


def test_an_odd_object_reads_as_empty_never_raising() -> None:
    pod = Pod.from_raw({"metadata": None, "spec": {"containers": "x"}, "status": []})
    assert (pod.name, pod.namespace, pod.node, pod.phase) == ("", "", None, "Unknown")
    assert pod.containers == () and pod.labels == {} and pod.owner is None
    assert not pod.running_and_ready and pod.state == "Unknown"
