"""KubeSource end to end: the real kubernetes client, the API server double, a real Envoy.

Each test gets a fresh :class:`kube_double.KubeDouble`; one real Istio-shaped sidecar Envoy
serves the whole module, and the double relays port-forwards to its admin port. After every
test the double's request log must show reads and port-forwards only: pdebug never changes
a cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pdebug.errors import PdebugError, SourceUnavailable, UsageError
from pdebug.sources import LiveOptions, classify, open_text
from pdebug.sources.admin import AdminHTTPError
from pdebug.sources.kube import KubeSource, parse_target
from pdebug.sources.kube import config as kube_module
from pdebug.sources.pod import KubeProxy
from tests import harness as eh
from tests.harness import kube_double as kd

ADMIN = 15000
READS = {
    ("get", "pods"),
    ("list", "pods"),
    ("get", "deployments"),
    ("get", "statefulsets"),
    ("get", "daemonsets"),
    ("get", "replicasets"),
    ("list", "replicasets"),
    ("create", "pods/portforward"),  # the only create: opening the port-forward
}


pytestmark = pytest.mark.usefixtures("no_ambient_config")


@pytest.fixture
def admin(sidecar: eh.SidecarRun) -> tuple[str, int]:
    return sidecar.envoy.admin_address


@pytest.fixture
def kube_reads() -> set[tuple[str, str]]:
    return READS


@pytest.fixture
def kubeconfig(kube: kd.KubeDouble, tmp_path: Path) -> str:
    return str(kube.write_kubeconfig(tmp_path / "kubeconfig", extra_contexts=["staging"]))


def opts(kubeconfig: str | None = None, **kw: object) -> LiveOptions:
    return LiveOptions(**{"timeout": 5.0, "kubeconfig": kubeconfig, **kw})  # type: ignore[arg-type]


def fetch(target: str, options: LiveOptions, path: str = "/server_info") -> tuple[str, bytes]:
    source = KubeSource(target, options)
    try:
        body = source.get(path)
        return source.label, body
    finally:
        source.close()


def failure(target: str, options: LiveOptions, path: str = "/server_info") -> PdebugError:
    with pytest.raises((SourceUnavailable, UsageError)) as err:
        fetch(target, options, path)
    return err.value


def forwards_opened(kube: kd.KubeDouble) -> int:
    return sum(1 for r in kube.requests if r.resource == "pods/portforward")


# --------------------------------------------------------------------------- happy paths


@pytest.mark.envoy
def test_config_dump_through_the_port_forward(
    kube: kd.KubeDouble, kubeconfig: str, sidecar: eh.SidecarRun, admin: tuple[str, int]
) -> None:
    kube.add_pod("productpage-v1-abc", forwards={ADMIN: admin})
    source = open_text("pod/productpage-v1-abc", opts(kubeconfig))
    assert isinstance(source, KubeProxy) and isinstance(source.kube, KubeSource) and source.live
    try:
        dump = json.loads(source.get("/config_dump?include_eds"))
        assert source.label == "pod/productpage-v1-abc.default"
        info = json.loads(source.get("/server_info"))
        clusters = json.loads(source.get("/clusters?format=json"))
    finally:
        source.close()
    assert dump == sidecar.envoy.config_dump(include_eds=True)
    assert info["node"]["id"] == eh.SIDECAR_NODE_ID
    assert clusters["cluster_statuses"]
    assert forwards_opened(kube) == 1  # one port-forward, kept alive for three GETs
    assert kube.requests[-1].query == {"ports": ["15000"]}


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("target", "namespace", "context_ns", "expected"),
    [
        ("pod/web-1", "prod", "default", "prod"),  # -n
        ("web-1.prod", None, "default", "prod"),  # NAME.NS
        ("po/web-1.prod", "prod", "default", "prod"),  # .NS agreeing with -n
        ("web-1.prod", "prod", "other", "prod"),
        ("pods/web-1", None, "prod", "prod"),  # the context's namespace
        ("web-1", None, None, "default"),  # else "default"
    ],
)
def test_pod_targets(
    kube: kd.KubeDouble,
    tmp_path: Path,
    admin: tuple[str, int],
    target: str,
    namespace: str | None,
    context_ns: str | None,
    expected: str,
) -> None:
    kube.add_pod("web-1", expected, forwards={ADMIN: admin})
    config = str(kube.write_kubeconfig(tmp_path / "config", namespace=context_ns))
    label, body = fetch(target, opts(config, namespace=namespace))
    assert label == f"pod/web-1.{expected}"
    assert json.loads(body)["state"] == "LIVE"


@pytest.mark.envoy
def test_deployment_picks_the_first_running_ready_pod(
    kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int]
) -> None:
    dep = kube.add_deployment("reviews-v1", labels={"app": "reviews", "version": "v1"})
    kube.add_pod("reviews-v1-aaa", owner=dep, phase="Pending")
    kube.add_pod("reviews-v1-bbb", owner=dep, ready=False)
    kube.add_pod("reviews-v1-ccc", owner=dep, deleting=True)
    kube.add_pod("reviews-v1-ddd", owner=dep, forwards={ADMIN: admin})
    kube.add_pod("reviews-v1-eee", owner=dep)
    # Same labels, not the deployment's: a bare pod sorting first must not be picked.
    kube.add_pod("reviews-v1-00-bare", labels=dict(dep.pod_labels))
    for target in ("deploy/reviews-v1", "deployment/reviews-v1.default"):
        label, body = fetch(target, opts(kubeconfig))
        assert label == "deployment/reviews-v1.default (pod reviews-v1-ddd)"
        assert json.loads(body)["state"] == "LIVE"
    lists = [r.query for r in kube.requests if r.verb == "list"]
    assert {"labelSelector": ["app=reviews,version=v1"]} in lists


@pytest.mark.envoy
def test_a_view_of_a_workload_says_which_pod_it_read(
    pdebug, kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int]
) -> None:
    dep = kube.add_deployment("details", labels={"app": "details"})
    kube.add_pod("details-v1-abc", owner=dep, forwards={ADMIN: admin})
    result = pdebug("clusters", "deploy/details", "--kubeconfig", kubeconfig)
    assert result.code == 0, result.err
    assert result.err.splitlines()[0] == "reading pod details-v1-abc.default (deploy/details)"
    assert "reading" not in result.out
    as_pod = pdebug("clusters", "pod/details-v1-abc", "--kubeconfig", kubeconfig)
    assert as_pod.out == result.out and "reading" not in as_pod.err


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("kind", "spelling"),
    [
        ("statefulset", "sts"),
        ("statefulset", "statefulset"),
        ("daemonset", "ds"),
        ("daemonset", "daemonsets"),
        ("replicaset", "rs"),
    ],
)
def test_other_workloads(
    kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int], kind: str, spelling: str
) -> None:
    add = {
        "statefulset": kube.add_statefulset,
        "daemonset": kube.add_daemonset,
        "replicaset": kube.add_replicaset,
    }[kind]
    workload = add("mesh-app", "apps")
    kube.add_pod(owner=workload, ready=False)
    pod = kube.add_pod(owner=workload, forwards={ADMIN: admin})
    name = pod["metadata"]["name"]
    label, _ = fetch(f"{spelling}/mesh-app.apps", opts(kubeconfig))
    assert label == f"{kind}/mesh-app.apps (pod {name})"


@pytest.mark.envoy
def test_native_sidecar_admin_port_and_container_options(
    kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int]
) -> None:
    kube.add_pod("native", native_sidecar=True, forwards={ADMIN: admin})
    assert fetch("native", opts(kubeconfig))[0] == "pod/native.default"
    kube.add_pod("gateway", containers=("istio-proxy-gw",), forwards={15001: admin})
    label, _ = fetch("gateway", opts(kubeconfig, container="istio-proxy-gw", admin_port=15001))
    assert label == "pod/gateway.default"


@pytest.mark.envoy
def test_kubeconfig_from_env_home_and_tls(
    kube: kd.KubeDouble,
    tmp_path: Path,
    admin: tuple[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube.add_pod("web-1", forwards={ADMIN: admin})
    home_config = kube.write_kubeconfig(tmp_path / "home" / ".kube" / "config")
    assert fetch("web-1", opts())[0] == "pod/web-1.default"  # ~/.kube/config
    env_config = kube.write_kubeconfig(tmp_path / "env-config", namespace="prod")
    kube.add_pod("web-1", "prod", forwards={ADMIN: admin})
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(env_config), str(home_config)]))
    assert fetch("web-1", opts())[0] == "pod/web-1.prod"  # KUBECONFIG: the first file wins

    with kd.KubeDouble(tls=True) as secure:  # a real API server is always HTTPS
        secure.add_pod("web-1", forwards={ADMIN: admin})
        config = str(secure.write_kubeconfig(tmp_path / "tls-config"))
        label, body = fetch("web-1", opts(config), "/config_dump")
        assert label == "pod/web-1.default" and json.loads(body)["configs"]


@pytest.mark.envoy
def test_in_cluster_configuration(
    tmp_path: Path, admin: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    with kd.KubeDouble(tls=True) as kube:
        kube.add_pod("web-1", "mesh", forwards={ADMIN: admin})
        env = kube.write_service_account(tmp_path / "sa", namespace="mesh")
        monkeypatch.setattr(kube_module, "SERVICE_ACCOUNT_DIR", str(tmp_path / "sa"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert fetch("web-1", opts())[0] == "pod/web-1.mesh"
        err = failure("web-1", opts(context="prod"))
        assert "unknown context 'prod'" in err.message
        assert isinstance(err, UsageError)  # a typo in --context is a usage error (exit 2)


# --------------------------------------------------------------------------- failures


def test_pod_and_workload_not_found(kube: kd.KubeDouble, kubeconfig: str) -> None:
    err = failure("pod/ghost", opts(kubeconfig))
    assert err.message == "pod/ghost.default: pod 'ghost' not found in namespace default"
    assert err.hint == "list them with: kubectl get pods -n default"
    err = failure("deploy/ghost.prod", opts(kubeconfig))
    assert err.message.startswith("deploy/ghost.prod: deployment 'ghost' not found")
    assert "kubectl get deployments -n prod" in str(err.hint)


def test_workload_without_a_usable_pod(kube: kd.KubeDouble, kubeconfig: str) -> None:
    dep = kube.add_deployment("reviews-v1")
    err = failure("deploy/reviews-v1", opts(kubeconfig))
    assert "deploy/reviews-v1.default: no pods match the deployment's selector app=reviews-v1" in (
        err.message
    )
    kube.add_pod("reviews-v1-a", owner=dep, phase="Pending")
    kube.add_pod("reviews-v1-b", owner=dep, ready=False)
    kube.add_pod("reviews-v1-c", owner=dep, deleting=True)
    err = failure("deploy/reviews-v1", opts(kubeconfig))
    assert err.message == (
        "deploy/reviews-v1.default: no Running and Ready pod (reviews-v1-a: Pending; "
        "reviews-v1-b: Running, not Ready; reviews-v1-c: Running, terminating)"
    )
    assert err.hint == "kubectl get pods -n default -l app=reviews-v1"


def test_pod_not_running(kube: kd.KubeDouble, kubeconfig: str) -> None:
    kube.add_pod("web-1", phase="Pending")
    kube.add_pod("web-2", phase="Pending", node_name=None)
    kube.add_pod("job-1", phase="Succeeded")
    assert failure("web-1", opts(kubeconfig)).message == (
        "web-1.default: the pod is Pending, not Running (container app: ContainerCreating)"
    )
    assert "Pending, not Running (Unschedulable)" in failure("web-2", opts(kubeconfig)).message
    err = failure("pod/job-1", opts(kubeconfig))
    assert "Succeeded, not Running" in err.message
    assert err.hint == "kubectl describe pod job-1 -n default"


def test_pod_without_the_sidecar(kube: kd.KubeDouble, kubeconfig: str) -> None:
    kube.add_pod("plain", containers=("app", "log-shipper"))
    err = failure("pod/plain", opts(kubeconfig))
    assert err.message == (
        "pod/plain.default: the pod has no container 'istio-proxy' (containers: app, log-shipper)"
    )
    assert "--container" in str(err.hint)
    kube.add_pod("crashing", sidecar_waiting="CrashLoopBackOff")
    err = failure("crashing", opts(kubeconfig))
    assert "container istio-proxy of the pod is waiting (CrashLoopBackOff)" in err.message
    assert "--previous" in str(err.hint)


def test_forbidden(kube: kd.KubeDouble, kubeconfig: str) -> None:
    kube.add_pod("web-1")
    kube.faults.forbid_get_pods = True
    err = failure("pod/web-1", opts(kubeconfig))
    assert err.message.startswith("pod/web-1.default: forbidden to get pods in namespace default")
    assert err.hint == "pdebug needs RBAC permission to get pods in namespace default"
    kube.add_deployment("api")
    err = failure("deploy/api", opts(kubeconfig))
    assert "forbidden to list pods in namespace default" in err.message

    kube.faults.forbid_get_pods, kube.faults.forbid_portforward = False, True
    err = failure("pod/web-1", opts(kubeconfig))
    assert err.message.startswith(
        "pod/web-1.default: forbidden to port-forward to pod web-1: "
        "needs create pods/portforward in namespace default"
    )
    assert "create pods/portforward in namespace default" in str(err.hint)


def test_unauthorized(kube: kd.KubeDouble, tmp_path: Path) -> None:
    kube.add_pod("web-1")
    config = str(kube.write_kubeconfig(tmp_path / "config", token="expired"))
    err = failure("web-1", opts(config))
    assert err.message == (
        f"web-1.default: the API server at {kube.url} rejected the credentials "
        "(context test): 401 Unauthorized"
    )


@pytest.mark.envoy
def test_admin_port_refused_and_hanging(
    kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int]
) -> None:
    kube.add_pod("web-1")  # nothing behind port 15000
    err = failure("pod/web-1", opts(kubeconfig))
    assert err.message == (
        "pod/web-1.default: nothing listens on port 15000 in the pod "
        "(the kubelet says: connection refused)"
    )
    assert "--admin-port" in str(err.hint)
    assert forwards_opened(kube) == 1  # a kubelet error is not retried

    kube.add_pod("stuck", forwards={ADMIN: kube.hanging_target()})
    err = failure("pod/stuck", opts(kubeconfig, timeout=0.4))
    assert err.message == (
        "pod/stuck.default: the Envoy admin on port 15000 did not answer /server_info within 0.4s"
    )
    assert "--timeout" in str(err.hint)


@pytest.mark.envoy
def test_admin_error_status(kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int]) -> None:
    kube.add_pod("web-1", forwards={ADMIN: admin})
    with pytest.raises(AdminHTTPError) as err:
        fetch("web-1", opts(kubeconfig), "/no-such-handler")
    assert err.value.status == 404
    assert err.value.message.startswith(
        "pod/web-1.default: Envoy admin answered HTTP 404 to /no-such-handler"
    )


@pytest.mark.envoy
def test_dropped_stream_is_retried_once(
    kube: kd.KubeDouble, kubeconfig: str, sidecar: eh.SidecarRun, admin: tuple[str, int]
) -> None:
    kube.add_pod("web-1", forwards={ADMIN: admin})
    kube.faults.drop_after, kube.faults.drop_count = 4096, 1
    _, body = fetch("web-1", opts(kubeconfig), "/config_dump")
    assert json.loads(body) == sidecar.envoy.config_dump()
    assert forwards_opened(kube) == 2

    kube.clear_requests()
    kube.faults.drop_count = None  # every port-forward is cut
    err = failure("web-1", opts(kubeconfig), "/config_dump")
    assert err.message.startswith(
        "pod/web-1.default: the port-forward broke twice while reading /config_dump"
    )
    assert forwards_opened(kube) == 2


def test_port_forward_that_never_opens(kube: kd.KubeDouble, kubeconfig: str) -> None:
    kube.add_pod("web-1")
    kube.faults.stall_portforward = True
    err = failure("web-1", opts(kubeconfig, timeout=0.4))
    assert err.message == "pod/web-1.default: the port-forward did not open within 0.4s"


def test_api_server_unreachable_or_silent(kube: kd.KubeDouble, tmp_path: Path) -> None:
    config = tmp_path / "config"
    kube.write_kubeconfig(config)
    text = config.read_text().replace(str(kube.port), str(eh.free_port()))
    config.write_text(text)
    err = failure("web-1", opts(str(config)))
    assert err.message.startswith("web-1.default: cannot reach the Kubernetes API server at http")
    assert err.message.endswith("(connection refused)")
    assert "--context" in str(err.hint)

    silent = kube.hanging_target()
    config.write_text(
        text.replace(text.split("server: ")[1].split("\n")[0], f"http://127.0.0.1:{silent[1]}")
    )
    err = failure("web-1", opts(str(config), timeout=0.4))
    assert err.message.endswith("did not answer within 0.4s")


def test_kubeconfig_problems(
    kube: kd.KubeDouble, kubeconfig: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = str(tmp_path / "nope")
    err = failure("pod/web-1", opts(missing))
    assert err.message == f"pod/web-1: kubeconfig {missing}: no such file"

    err = failure("pod/web-1", opts())  # no file, no env, not in a pod
    assert err.message.startswith("pod/web-1: no kubeconfig (")
    assert "--kubeconfig" in str(err.hint)

    monkeypatch.setenv("KUBECONFIG", missing)
    assert failure("web-1", opts()).message == f"web-1: KUBECONFIG={missing}: no such file"
    monkeypatch.delenv("KUBECONFIG")

    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nclusters: [\n")
    assert "cannot be read" in failure("web-1", opts(str(broken))).message
    broken.write_text("- just\n- a list\n")
    assert "is not a kubeconfig" in failure("web-1", opts(str(broken))).message

    err = failure("web-1", opts(kubeconfig, context="prod"))
    assert isinstance(err, UsageError)
    assert err.message == (
        f"web-1: unknown kubeconfig context 'prod' in {kubeconfig} (known: staging, test)"
    )
    no_current = str(kube.write_kubeconfig(tmp_path / "nc", current_context=""))
    err = failure("web-1", opts(no_current))
    assert err.message == f"web-1: kubeconfig {no_current} has no current context"
    assert err.hint == "pick one with --context (known: test)"

    dangling = tmp_path / "dangling"
    dangling.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: gone, user: gone}}]\n"
    )
    err = failure("web-1", opts(str(dangling)))
    assert err.message.startswith(f"web-1: kubeconfig {dangling}, context 'c': ")


@pytest.mark.parametrize(
    "text",
    ["pod/", "pod/Web_1", "web-1.", ".prod", "web-1.Prod", "ing/web", "deploy/a/b", "x" * 254],
)
def test_malformed_targets_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as err:
        KubeSource(text, LiveOptions())
    assert err.value.message.startswith(f"{text}: ")
    assert "pod/NAME" in str(err.value.hint)


@pytest.mark.parametrize(
    ("text", "kind", "name", "namespace"),
    [
        ("reviews-v1-abc", "pod", "reviews-v1-abc", None),
        ("a.b", "pod", "a", "b"),
        ("a.b.c", "pod", "a.b", "c"),  # the LAST dot, as istioctl
        ("Deploy/reviews.prod", "deployment", "reviews", "prod"),
        ("daemonsets/node-agent", "daemonset", "node-agent", None),
    ],
)
def test_parse_target(text: str, kind: str, name: str, namespace: str | None) -> None:
    target = parse_target(text)
    assert (target.kind, target.name, target.namespace) == (kind, name, namespace)
    assert classify(text) == "kube"


@pytest.mark.parametrize(
    ("text", "name", "namespace"),
    [
        ("pod/api.v2-0", "api.v2-0", None),  # not the -n namespace: all of it is the name
        ("api.v2-0", "api.v2-0", None),
        ("deploy/api.v2", "api.v2", None),
        ("api.shop", "api", "shop"),  # .NS equal to -n: split as istioctl does
        ("api.v2.shop", "api.v2", "shop"),
    ],
)
def test_parse_target_with_namespace_keeps_dotted_names(
    text: str, name: str, namespace: str | None
) -> None:
    target = parse_target(text, "shop")
    assert (target.name, target.namespace) == (name, namespace)
    assert KubeSource(text, LiveOptions(namespace="shop")).target == target


def test_file_mode_never_imports_kubernetes(tmp_path: Path) -> None:
    dump = tmp_path / "dump.json"
    dump.write_text('{"configs": []}')
    code = (
        "import sys\n"
        "from pdebug.sources import open_text, LiveOptions\n"
        f"open_text({str(dump)!r}).get('')\n"
        "from pdebug.sources.kube import KubeSource\n"
        "KubeSource('deploy/x', LiveOptions())\n"
        "print('kubernetes' in sys.modules, 'urllib3' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.envoy
def test_close_ends_the_port_forward(
    kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int]
) -> None:
    kube.add_pod("web-1", forwards={ADMIN: admin})
    source = KubeSource("web-1", opts(kubeconfig))
    source.get("/ready")
    assert any("port forward" in t.name for t in threading.enumerate())
    source.close()
    source.close()  # idempotent
    eh.wait_for(
        lambda: not any("port forward" in t.name for t in threading.enumerate()),
        5,
        message="the client's port-forward thread to end",
    )


@pytest.mark.envoy
def test_leaving_the_with_ends_the_port_forward(
    kube: kd.KubeDouble, kubeconfig: str, admin: tuple[str, int]
) -> None:
    """KubeSource and PodForward are context managers (as kr8s' port-forward is)."""
    kube.add_pod("web-1", forwards={ADMIN: admin})
    with KubeSource("web-1", opts(kubeconfig)) as source:
        source.get("/ready")
        assert any("port forward" in t.name for t in threading.enumerate())
        with source.cluster.forward("web-1", "default", ADMIN, "pod/web-1.default") as forward:
            assert forward.get("/ready").strip() == b"LIVE"
    eh.wait_for(
        lambda: not any("port forward" in t.name for t in threading.enumerate()),
        5,
        message="the client's port-forward threads to end",
    )
