"""Live istiod: ``pdebug diff POD`` against istiod's view, and ``pdebug status`` from the cluster.

Every test runs the real CLI (the error funnel included) against the Kubernetes API server
double of tests/harness/kube_double.py. istiod replicas are :class:`istiod_double.IstiodDouble`
servers registered as ``istiod-*`` pods in ``istio-system``, reached through the double's
real port-forward, serving recorded istiod answers (fixtures/istioctl: the 2020 pilot dump
and its Envoy twin, the legacy ``/debug/syncz`` arrays). The proxy side is a real Envoy
(``@pytest.mark.envoy``) or a recorded Envoy dump served the same way.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pdebug.errors import ExitCode
from tests import harness as eh
from tests.harness import FIXTURES, ISTIOCTL
from tests.harness import istiod_double as idd
from tests.harness import kube_double as kd

H2020 = ISTIOCTL / "proxy-status-diff" / "historical-2020"
ENVOY_2020 = H2020 / "envoyconfigdump2020.json"
PILOT_2020 = H2020 / "pilotconfigdump2020.json"
POD_2020 = "details-v1-78d78fbddf-xb9kw"  # its node ID: sidecar~...~POD.default~...
ID_2020 = f"{POD_2020}.default"
LEGACY = ISTIOCTL / "proxy-status" / "legacy-http-syncz"
SIDECAR = FIXTURES / "real" / "sidecar" / "config_dump.json"
SIDECAR_POD = "productpage-v1-abc"  # the recorded sidecar's and the harness's node ID
SIDECAR_ID = f"{SIDECAR_POD}.default"
MATCH_2020 = [
    "Clusters Match",
    "Listeners Match",
    "Routes Match (RDS last loaded at Fri, 06 Mar 2020 21:51:34 UTC)",
]


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, no_ambient_config: None) -> None:
    """UTC for the RDS time; never the developer's kubeconfig or a pod's service account."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def replicas() -> Iterator[tuple[idd.IstiodDouble, idd.IstiodDouble]]:
    with idd.IstiodDouble("istiod-7c9d-a") as a, idd.IstiodDouble("istiod-7c9d-b") as b:
        yield a, b


@pytest.fixture
def envoy_2020(kube: kd.KubeDouble) -> Iterator[idd.EnvoyAdminDouble]:
    """The recorded 2020 Envoy dump, as the admin port of pod details-v1-...-xb9kw."""
    with idd.EnvoyAdminDouble(ENVOY_2020.read_bytes()) as envoy:
        kube.add_pod(POD_2020, forwards={15000: envoy.address})
        yield envoy


@pytest.fixture
def sidecar_pod(kube: kd.KubeDouble) -> Iterator[idd.EnvoyAdminDouble]:
    """The recorded real sidecar dump, as the admin port of pod productpage-v1-abc."""
    with idd.EnvoyAdminDouble(SIDECAR.read_bytes()) as envoy:
        kube.add_pod(SIDECAR_POD, forwards={15000: envoy.address})
        yield envoy


def forwarded_ports(kube: kd.KubeDouble, namespace: str = "istio-system") -> list[str]:
    return [
        r.query["ports"][0]
        for r in kube.requests
        if r.resource == "pods/portforward" and r.namespace == namespace
    ]


def one_error(result: Any) -> tuple[str, str]:
    """The error and hint lines; nothing on stdout, no traceback."""
    assert result.out == "", result.out
    lines = result.err.splitlines()
    assert len(lines) == 2, result.err
    assert lines[0].startswith("pdebug: error: ") and lines[1].startswith("hint: ")
    return lines[0].removeprefix("pdebug: error: "), lines[1].removeprefix("hint: ")


# ------------------------------------------------------------------ diff: recorded data


def test_pod_against_istiod_recorded_pair_matches(
    pdebug, kube, kubeconfig, replicas, envoy_2020
) -> None:
    a, _ = replicas
    idd.register(kube, a, a.name)
    a.connect(ID_2020, PILOT_2020.read_bytes())  # pilot's recorded answer (camelCase, v2)
    result = pdebug("diff", f"pod/{POD_2020}", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.OK, result.err
    assert result.out.splitlines() == MATCH_2020
    assert a.requests == [f"/debug/config_dump?proxyID={ID_2020}"]
    assert envoy_2020.requests == ["/config_dump"]  # istioctl's Envoy side: no mask, no EDS
    assert forwarded_ports(kube) == ["15014"]
    lists = [r.query for r in kube.requests if r.verb == "list"]
    assert lists == [{"labelSelector": ["app=istiod"]}]


def test_the_second_replica_knows_the_proxy(pdebug, kube, kubeconfig, replicas, envoy_2020):
    a, b = replicas
    idd.register(kube, b, b.name)  # registered first: the order must come from the names
    idd.register(kube, a, a.name)
    istiod_side = json.loads(PILOT_2020.read_text())
    clusters = next(c for c in istiod_side["configs"] if c["@type"].endswith("ClustersConfigDump"))
    blackhole = clusters["dynamic_active_clusters"][0]["cluster"]
    assert blackhole["name"] == "BlackHoleCluster"
    blackhole["connectTimeout"] = "2s"
    b.connect(ID_2020, istiod_side)
    result = pdebug("diff", f"{POD_2020}.default", "--kubeconfig", kubeconfig, "-o", "json")
    assert result.code == ExitCode.FINDINGS, result.err
    report = json.loads(result.out)
    assert report["left"] == "istiod (istiod-7c9d-b)"
    assert report["right"] == f"Envoy (pod/{POD_2020}.default)"
    changes = report["kinds"][0]["changes"]
    assert changes == [
        {
            "name": "BlackHoleCluster",
            "status": "changed",
            "fields": [{"path": "connect_timeout", "left": "2s", "right": "1s"}],
        }
    ]
    assert a.requests == [f"/debug/config_dump?proxyID={ID_2020}"]  # asked first: 404
    assert b.requests == a.requests


def test_annotated_monitoring_port_and_revision(pdebug, kube, kubeconfig, replicas, envoy_2020):
    a, b = replicas
    idd.register(kube, a, "istiod-canary-1", revision="canary", port=15099)
    idd.register(kube, b, "istiod-stable-1", port=None)  # no annotation: 15014
    a.connect(ID_2020, PILOT_2020.read_bytes())
    b.connect(ID_2020, PILOT_2020.read_bytes())
    result = pdebug("diff", f"pod/{POD_2020}", "--kubeconfig", kubeconfig, "-r", "canary")
    assert result.code == ExitCode.OK and result.out.splitlines() == MATCH_2020
    assert (len(a.requests), len(b.requests)) == (1, 0)
    assert forwarded_ports(kube) == ["15099"]
    lists = [r.query for r in kube.requests if r.verb == "list"]
    assert lists == [{"labelSelector": ["app=istiod,istio.io/rev=canary"]}]
    kube.clear_requests()
    assert pdebug("diff", f"pod/{POD_2020}", "--kubeconfig", kubeconfig).code == ExitCode.OK
    assert forwarded_ports(kube) == ["15099"]  # istiod-canary-1 sorts first and knows it


def test_istiod_url_with_a_file_or_admin_source(pdebug, replicas, envoy_2020):
    a, _ = replicas
    a.connect(ID_2020, PILOT_2020.read_bytes())
    # the proxy ID comes from the dump's bootstrap node ID ...
    result = pdebug("diff", ENVOY_2020, "--istiod", a.url)
    assert result.code == ExitCode.OK, result.err
    assert result.out.splitlines() == MATCH_2020
    # ... or from --proxy-id; an admin URL works the same way
    result = pdebug("diff", envoy_2020.url, "--istiod", a.url, "--proxy-id", ID_2020)
    assert result.code == ExitCode.OK and result.out.splitlines() == MATCH_2020
    assert a.requests == [f"/debug/config_dump?proxyID={ID_2020}"] * 2


def test_include_endpoints_asks_istiod_for_eds(pdebug, kube, kubeconfig, replicas, sidecar_pod):
    a, _ = replicas
    idd.register(kube, a, a.name)
    dump = json.loads(SIDECAR.read_text())
    view = idd.istiod_view(dump)
    view["configs"].insert(
        2, next(c for c in dump["configs"] if c["@type"].endswith("EndpointsConfigDump"))
    )
    a.connect(SIDECAR_ID, view)
    result = pdebug(
        "diff", f"pod/{SIDECAR_POD}", "--kubeconfig", kubeconfig, "--include", "endpoints"
    )
    assert result.code == ExitCode.OK, result.out + result.err
    assert result.out.splitlines()[:4] == [
        "Clusters Match",
        "Listeners Match",
        result.out.splitlines()[2],
        "Endpoints Match",
    ]
    assert a.requests == [f"/debug/config_dump?proxyID={SIDECAR_ID}&include_eds=true"]
    assert sidecar_pod.requests == ["/config_dump?include_eds"]


# ------------------------------------------------------------------ diff: a real Envoy


def istiod_answer(resources: eh.SidecarResources) -> dict[str, Any]:
    """istiod's /debug/config_dump for the sidecar: the xDS resources fed to Envoy."""
    return idd.istiod_view(resources.config_dump())


@pytest.mark.envoy
def test_real_envoy_in_sync_with_istiod(pdebug, kube, kubeconfig, replicas, sidecar):
    a, b = replicas
    kube.add_pod(SIDECAR_POD, forwards={15000: sidecar.envoy.admin_address})
    idd.register(kube, a, a.name)
    idd.register(kube, b, b.name)
    b.connect(eh.SIDECAR_NODE_ID.split("~")[2], istiod_answer(sidecar.resources))
    result = pdebug("diff", f"pod/{SIDECAR_POD}", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.OK, result.out + result.err
    lines = result.out.splitlines()
    assert lines[:2] == ["Clusters Match", "Listeners Match"]
    assert lines[2].startswith("Routes Match (RDS last loaded at ")
    assert len(lines) == 3


@pytest.mark.envoy
def test_real_envoy_out_of_sync_with_istiod(pdebug, kube, kubeconfig, replicas, sidecar):
    a, _ = replicas
    kube.add_pod(SIDECAR_POD, forwards={15000: sidecar.envoy.admin_address})
    idd.register(kube, a, a.name)
    newer = copy.deepcopy(sidecar.resources)  # istiod has moved on; Envoy has not (yet)
    details = next(c for c in newer.clusters if c["name"] == eh.DETAILS)
    old_timeout = details.get("connect_timeout")
    details["connect_timeout"] = "4.5s"
    a.connect(SIDECAR_ID, istiod_answer(newer))
    result = pdebug("diff", f"pod/{SIDECAR_POD}", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.FINDINGS, result.out + result.err
    lines = result.out.splitlines()
    assert lines[:2] == ["Clusters Don't Match", "Listeners Match"]
    assert lines[2].startswith("Routes Match")
    i = lines.index(f"  ~ {eh.DETAILS}")
    assert lines[i + 1] == f'      connect_timeout: "4.5s" -> "{old_timeout}"'
    changed = [ln for ln in lines if ln.startswith(("  ~", "  -", "  +", "  !"))]
    assert changed == [f"  ~ {eh.DETAILS}"]


# ------------------------------------------------------------------ diff: faults


Setup = Callable[[kd.KubeDouble, idd.IstiodDouble, idd.IstiodDouble], None]


def no_istiod(kube: kd.KubeDouble, a: idd.IstiodDouble, b: idd.IstiodDouble) -> None:
    """Nothing in istio-system."""


def default_and_1_27(kube: kd.KubeDouble, a: idd.IstiodDouble, b: idd.IstiodDouble) -> None:
    idd.register(kube, a, a.name)
    idd.register(kube, b, b.name, revision="1-27")


def pending(kube: kd.KubeDouble, a: idd.IstiodDouble, b: idd.IstiodDouble) -> None:
    idd.register(kube, a, "istiod-7c9d-a", phase="Pending")


def proxy_elsewhere(kube: kd.KubeDouble, a: idd.IstiodDouble, b: idd.IstiodDouble) -> None:
    idd.register(kube, a, a.name)
    idd.register(kube, b, b.name)
    a.connect("someone-else.default", PILOT_2020.read_bytes())


def refused(kube: kd.KubeDouble, a: idd.IstiodDouble, b: idd.IstiodDouble) -> None:
    """An app=istiod pod (no istiod annotations) where nothing listens on 15014."""
    kube.add_pod(
        "istiod-7c9d-a",
        "istio-system",
        labels={"app": "istiod"},
        containers=("discovery",),
        forwards={15014: ("127.0.0.1", eh.free_port())},
    )


def answers(status: int, body: bytes, content_type: str) -> Setup:
    """One replica, answering /debug/config_dump with this whatever the proxy."""

    def setup(kube: kd.KubeDouble, a: idd.IstiodDouble, b: idd.IstiodDouble) -> None:
        idd.register(kube, a, a.name)
        a.override["/debug/config_dump"] = (status, body, content_type)

    return setup


DIFF_FAULTS = [
    pytest.param(
        no_istiod,
        (),
        ExitCode.SOURCE_UNAVAILABLE,
        "no istiod pods in namespace istio-system (selector app=istiod)",
        "is the control plane in another namespace? pass --istio-namespace NS "
        "(find it: kubectl get pods -A -l app=istiod)",
        id="no-istiod-pods",
    ),
    pytest.param(
        default_and_1_27,
        ("--revision", "canary"),
        ExitCode.SOURCE_UNAVAILABLE,
        "no istiod pods in namespace istio-system (selector app=istiod,istio.io/rev=canary); "
        "revisions there: 1-27, default",
        "check --revision (kubectl get pods -A -l app=istiod -L istio.io/rev), "
        "or --istio-namespace",
        id="revision-selector-matches-nothing",
    ),
    pytest.param(
        pending,
        (),
        ExitCode.SOURCE_UNAVAILABLE,
        "no Running istiod pod in namespace istio-system (selector app=istiod; "
        "istiod-7c9d-a: Pending)",
        "kubectl get pods -n istio-system -l app=istiod",
        id="istiod-pod-not-running",
    ),
    pytest.param(
        proxy_elsewhere,
        (),
        ExitCode.SOURCE_UNAVAILABLE,
        f"proxy {ID_2020} is not connected to any istiod in namespace istio-system "
        "(asked istiod-7c9d-a, istiod-7c9d-b)",
        "is it in the mesh and on this control plane (--revision)? pdebug status lists the "
        "proxies istiod knows, and which replica each is on",
        id="proxy-unknown-to-every-istiod",
    ),
    pytest.param(
        answers(200, b"", "application/json"),
        (),
        ExitCode.INVALID_INPUT,
        f"pod/istiod-7c9d-a.istio-system /debug/config_dump?proxyID={ID_2020}: istiod "
        "answered with an empty body",
        "istiod may be restarting or overloaded; try again, or read its log: "
        "kubectl logs -n istio-system istiod-7c9d-a",
        id="istiod-answers-empty",
    ),
    pytest.param(
        refused,
        (),
        ExitCode.SOURCE_UNAVAILABLE,
        "pod/istiod-7c9d-a.istio-system: nothing listens on port 15014 in the pod "
        "(the kubelet says: connection refused)",
        "is istiod up, and is 15014 its monitoring port (the pod's prometheus.io/port "
        "annotation)? kubectl logs -n istio-system istiod-7c9d-a",
        id="istiod-port-forward-refused",
    ),
    pytest.param(
        answers(404, b"404 page not found\n", "text/plain"),
        (),
        ExitCode.SOURCE_UNAVAILABLE,
        "pod/istiod-7c9d-a.istio-system: istiod has no /debug/config_dump "
        "(HTTP 404 (404 page not found))",
        "is port 15014 istiod's monitoring port? Its debug endpoints may be off "
        "(ENABLE_DEBUG_ON_HTTP=false)",
        id="istiod-debug-endpoints-off",
    ),
]


@pytest.mark.parametrize(("setup", "args", "code", "message", "hint"), DIFF_FAULTS)
def test_diff_with_live_istiod_fault(
    pdebug, kube, kubeconfig, replicas, envoy_2020, setup, args, code, message, hint
):
    setup(kube, *replicas)
    result = pdebug("diff", f"pod/{POD_2020}", "--kubeconfig", kubeconfig, *args)
    assert result.code == code
    assert one_error(result) == (message, hint)


def test_istiod_knows_the_proxy_but_has_nothing_for_it(
    pdebug, kube, kubeconfig, replicas, envoy_2020
):
    a, _ = replicas
    idd.register(kube, a, a.name)
    nothing = idd.istiod_view(
        {"configs": [{"@type": f"x.{k}ConfigDump"} for k in ("Clusters", "Listeners", "Routes")]}
    )
    a.connect(ID_2020, nothing)  # what istiod answers before it has pushed anything
    result = pdebug("diff", f"pod/{POD_2020}", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    message, hint = one_error(result)
    assert message == (
        f"pod/istiod-7c9d-a.istio-system: istiod knows proxy {ID_2020} but has no clusters, "
        "listeners or routes for it"
    )
    assert hint.startswith("it may have connected just now; try again.")


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html><head><title>Pilot Debug Console</title></head></html>", "an HTML page"),
        (b"Pushed to 3 servers\n", "not JSON (starts with 'Pushed to 3 servers')"),
        (b'{"totalClients": 3}', "not an Envoy config dump (no 'configs' list)"),
    ],
)
def test_istiod_answers_something_else(pdebug, kube, kubeconfig, replicas, envoy_2020, body, what):
    a, _ = replicas
    idd.register(kube, a, a.name)
    a.override["/debug/config_dump"] = (200, body, "text/html")
    result = pdebug("diff", f"pod/{POD_2020}", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.INVALID_INPUT
    message, hint = one_error(result)
    assert message.startswith(
        f"pod/istiod-7c9d-a.istio-system /debug/config_dump?proxyID={ID_2020}: "
    )
    assert what in message
    assert hint == (
        "is port 15014 istiod's monitoring port? (the pod's prometheus.io/port annotation, "
        "else 15014)"
    )


def test_istiod_url_refuses_debug(pdebug, replicas):
    a, _ = replicas
    a.override["/debug/config_dump"] = (401, b"", "text/plain")
    result = pdebug("diff", ENVOY_2020, "--istiod", a.url)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    message, hint = one_error(result)
    assert message == f"{a.url}: istiod refused /debug/config_dump: HTTP 401"
    assert hint.startswith("istiod answers /debug only to localhost or an authenticated caller")


def test_istiod_url_problems(pdebug, replicas):
    a, _ = replicas
    a.connect("someone-else.default", PILOT_2020.read_bytes())
    message, hint = one_error(result := pdebug("diff", ENVOY_2020, "--istiod", a.url))
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert message == f"proxy {ID_2020} is not connected to istiod at {a.url}"
    assert "pdebug status" in hint
    closed = f"http://127.0.0.1:{eh.free_port()}"
    message, hint = one_error(result := pdebug("diff", ENVOY_2020, "--istiod", closed))
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert message == (
        f"{closed}/debug/config_dump?proxyID={ID_2020}: connection refused (nothing listens there)"
    )
    assert hint == (
        "forward istiod first (kubectl -n istio-system port-forward deploy/istiod 15014), "
        "or drop --istiod to let pdebug find it"
    )
    result = pdebug("diff", ENVOY_2020, "--istiod", "ftp://x")
    assert result.code == ExitCode.USAGE
    assert one_error(result)[0] == "--istiod ftp://x: not an HTTP URL"


def test_usage_errors(pdebug, tmp_path):
    result = pdebug("diff", ENVOY_2020)
    assert result.code == ExitCode.USAGE
    message, hint = one_error(result)
    assert message == (
        f"{ENVOY_2020}: comparing a saved dump with istiod needs --istiod URL "
        "(pdebug finds istiod itself only for a pod)"
    )
    assert "--istiod http://127.0.0.1:15014 --proxy-id POD.NS" in hint and "--expected" in hint
    result = pdebug("diff", "http://127.0.0.1:1", "-r", "x")
    assert result.code == ExitCode.USAGE
    assert "comparing an admin URL with istiod needs --istiod URL" in result.err
    result = pdebug("diff", ENVOY_2020, ENVOY_2020, "--istiod", "http://127.0.0.1:1")
    assert result.code == ExitCode.USAGE
    assert one_error(result)[0] == "--istiod: only for comparing with istiod (SOURCE alone)"
    # a dump without an Istio node ID: which proxy?
    anonymous = tmp_path / "anonymous.json"
    doc = json.loads(PILOT_2020.read_text())
    anonymous.write_text(json.dumps(doc))
    result = pdebug("diff", anonymous, "--istiod", "http://127.0.0.1:1")
    assert result.code == ExitCode.USAGE
    assert one_error(result) == (
        f"{anonymous}: which proxy is this? its dump has no Istio node ID",
        "name it for istiod: --proxy-id POD.NAMESPACE",
    )


# ------------------------------------------------------------------ status, live


def syncz_of(path: Path, key: str) -> bytes:
    """One istiod's recorded /debug/syncz body (the fixtures keep them by istiod)."""
    return json.dumps(json.loads(path.read_text())[key]).encode()


LIVE_TABLE = (
    "NAME       CLUSTER      CDS       LDS        EDS        RDS          ECDS         "
    "ISTIOD            VERSION\n"
    "proxy1     cluster1     STALE     SYNCED     SYNCED     NOT SENT     NOT SENT     "
    "istiod-7c9d-a     1.1\n"
    "proxy2     cluster2     STALE     SYNCED     STALE      SYNCED       NOT SENT     "
    "istiod-7c9d-a     1.1\n"
    "proxy2     cluster2     STALE     SYNCED     STALE      SYNCED       NOT SENT     "
    "istiod-7c9d-b     1.1*\n"
)


@pytest.fixture
def two_syncz(kube, replicas) -> tuple[idd.IstiodDouble, idd.IstiodDouble]:
    a, b = replicas
    a.syncz = syncz_of(LEGACY / "http_syncz_single_pilot.reconstructed.json", "istiod1")
    b.syncz = syncz_of(LEGACY / "http_syncz_proxy_version_fallback.reconstructed.json", "istiod2")
    idd.register(kube, b, b.name)
    idd.register(kube, a, a.name)
    return a, b


def test_status_merges_every_replica(pdebug, kube, kubeconfig, two_syncz):
    a, b = two_syncz
    result = pdebug("status", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.OK, result.err
    assert result.out == LIVE_TABLE
    assert result.err == ""
    assert a.requests == b.requests == ["/debug/syncz"]
    as_json = json.loads(pdebug("status", "--kubeconfig", kubeconfig, "-o", "json").out)
    assert as_json == {"istiod-7c9d-a": json.loads(a.syncz), "istiod-7c9d-b": json.loads(b.syncz)}


def test_status_live_namespace_filter_and_url(pdebug, kube, kubeconfig, two_syncz):
    a, _ = two_syncz
    a.syncz = json.dumps(
        [{"proxy": "web-1.prod", "cluster_id": "Kubernetes", "istio_version": "1.27.1"}]
        + json.loads(a.syncz)
    ).encode()
    result = pdebug("status", "--kubeconfig", kubeconfig, "-n", "prod")
    assert result.out.splitlines()[1].startswith("web-1.prod     Kubernetes     NOT SENT")
    assert len(result.out.splitlines()) == 2
    result = pdebug("status", "--istiod", a.url, "-n", "nowhere")
    assert result.code == ExitCode.OK
    assert result.err == "No proxies in namespace 'nowhere' (3 in other namespaces).\n"
    empty = pdebug("status", "--kubeconfig", kubeconfig, "-i", "other")
    assert empty.code == ExitCode.SOURCE_UNAVAILABLE
    assert one_error(empty)[0] == "no istiod pods in namespace other (selector app=istiod)"


GARBAGE = [
    ((200, b"<html>Pilot Debug Console</html>", "text/html"), "an HTML page"),
    ((200, b'{"foo": 1}', "application/json"), "a JSON object"),
    ((200, b"[1, 2]", "application/json"), "a JSON array"),
]


@pytest.mark.parametrize(("answer", "what"), GARBAGE)
def test_status_replica_answers_garbage_or_nothing(
    pdebug, kube, kubeconfig, two_syncz, answer, what
):
    """A replica answering 200 with something else is a missing replica, like a 500."""
    a, b = two_syncz
    b.override["/debug/syncz"] = answer
    result = pdebug("status", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.OK, result.err
    assert result.out == "".join(LIVE_TABLE.splitlines(True)[:3])  # istiod-7c9d-a's rows
    assert result.err.splitlines() == [
        f"istiod-7c9d-b: answered /debug/syncz with {what}, not a sync status; proxies "
        "connected to it are missing from the table"
    ]
    a.override["/debug/syncz"] = answer  # none answers a sync status: the first's error
    result = pdebug("status", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.INVALID_INPUT
    assert one_error(result)[0] == (
        f"pod/istiod-7c9d-a.istio-system: answered /debug/syncz with {what}, not a sync status"
    )
    del a.override["/debug/syncz"]
    b.override["/debug/syncz"] = (200, b"", "application/json")  # dropped, as istioctl does
    result = pdebug("status", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.OK and len(result.out.splitlines()) == 3
    assert result.err == ""


def test_snapshot_records_a_replica_that_answers_garbage(
    pdebug, kube, kubeconfig, replicas, envoy_2020
):
    """Valid JSON in istiod_syncz.json, the bad replica in the manifest and on stderr."""
    import tarfile

    from pdebug.inputs import read_inputs
    from pdebug.sources.spec import FileSpec

    a, b = replicas
    a.syncz = json.dumps(
        [{"proxy": ID_2020, "cluster_id": "Kubernetes", "cluster_sent": "1", "cluster_acked": "1"}]
    ).encode()
    a.connect(ID_2020, PILOT_2020.read_bytes())
    b.override["/debug/syncz"] = (200, b"<html>Pilot Debug Console</html>", "text/html")
    idd.register(kube, a, a.name)
    idd.register(kube, b, b.name)
    out = Path(kubeconfig).parent / "g.tar.gz"
    result = pdebug("snapshot", "-n", "default", "-o", out, "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.FINDINGS, result.err  # the double serves /config_dump only
    note = (
        "istiod: 1 of 2 replicas did not answer (istiod-7c9d-b: answered /debug/syncz with "
        "an HTML page, not a sync status); proxies connected to it have no istiod view"
    )
    assert result.err.splitlines()[-1] == note
    assert result.err.splitlines()[-2].endswith(f": wrote {out}")
    with tarfile.open(out) as tar:
        files = {m.name.split("/", 1)[-1]: tar.extractfile(m).read() for m in tar if m.isfile()}
    manifest = json.loads(files["manifest.json"])
    assert manifest["istiod"]["replicas"] == ["istiod-7c9d-a", "istiod-7c9d-b"]
    assert list(manifest["istiod"]["failed_replicas"]) == ["istiod-7c9d-b"]
    assert json.loads(files["istiod_syncz.json"]) == {"istiod-7c9d-a": json.loads(a.syncz)}
    (proxy,) = manifest["proxies"]
    assert proxy["sync"]["CDS"] == "SYNCED"
    status = pdebug("status", "--file", out)
    assert status.code == ExitCode.OK, status.err
    assert ID_2020 in status.out
    assert status.err.splitlines() == [note]
    assert read_inputs(FileSpec(str(out))).capture["istiod"] == note


def test_snapshot_skips_a_hanging_replica_and_asks_the_connected_one_first(
    pdebug, kube, kubeconfig, envoy_2020
):
    """A replica that timed out on /debug/syncz is not asked again; syncz names the one."""
    with (
        idd.IstiodDouble("istiod-7c9d-a") as hung,
        idd.IstiodDouble("istiod-7c9d-b") as other,
        idd.IstiodDouble("istiod-7c9d-c") as home,
    ):
        hung.hang = True
        unlisted = "reviews-v1-xyz"  # connected to istiod-7c9d-c, missing from its syncz
        kube.add_pod(unlisted, forwards={15000: envoy_2020.address})
        home.syncz = json.dumps(
            [{"proxy": ID_2020, "cluster_id": "Kubernetes", "cluster_sent": "1"}]
        ).encode()
        home.connect(ID_2020, PILOT_2020.read_bytes())
        home.connect(f"{unlisted}.default", PILOT_2020.read_bytes())
        for replica in (hung, other, home):
            idd.register(kube, replica, replica.name)
        out = Path(kubeconfig).parent / "h.tar.gz"
        args = ("-n", "default", "-o", out, "--kubeconfig", kubeconfig, "--timeout", "1")
        result = pdebug("snapshot", *args)
        assert hung.requests == ["/debug/syncz"]  # asked once, never for a config dump
        # the listed proxy: istiod-7c9d-c first; the unlisted one: every replica left
        assert other.requests == ["/debug/syncz", f"/debug/config_dump?proxyID={unlisted}.default"]
    assert result.code == ExitCode.FINDINGS, result.err
    assert result.err.splitlines()[-1].startswith(
        "istiod: 1 of 3 replicas did not answer (istiod-7c9d-a: "
    )
    manifest = json.loads(_member(out, "manifest.json"))
    for proxy in manifest["proxies"]:
        assert "istiod_config_dump.json" in proxy["files"], proxy


def _member(path: Path, name: str) -> bytes:
    import tarfile

    with tarfile.open(path) as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def test_snapshot_of_a_pod_whose_name_is_too_long_for_a_file(
    pdebug, kube, kubeconfig, replicas, envoy_2020
):
    """A 253-character pod name: a shortened member, found by its full POD.NS."""
    import hashlib

    a, _ = replicas
    pod = ("reviews-" + "x" * 300)[:253]
    full = f"{pod}.default"
    kube.add_pod(pod, forwards={15000: envoy_2020.address})
    a.syncz = json.dumps([{"proxy": full, "cluster_id": "Kubernetes"}]).encode()
    a.connect(full, PILOT_2020.read_bytes())
    idd.register(kube, a, a.name)
    out = Path(kubeconfig).parent / "long.tar.gz"
    result = pdebug("snapshot", "-n", "default", "-o", out, "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.FINDINGS, result.err  # the double serves /config_dump only
    assert "internal error" not in result.err
    manifest = json.loads(_member(out, "manifest.json"))
    entry = next(p for p in manifest["proxies"] if p["pod"] == pod)
    name = entry["name"]
    assert name == full[:183] + "-" + hashlib.sha256(full.encode()).hexdigest()[:16]
    assert len(name.encode()) == 200
    assert entry["status"] == "captured" and "sync" in entry
    assert "istiod_config_dump.json" in entry["files"]
    assert _member(out, f"{name}/config_dump.json") == ENVOY_2020.read_bytes()
    # B:POD.NS and --bundle B POD.NS find it by the full name
    by_full = pdebug("clusters", f"{out}:{full}")
    assert by_full.code == ExitCode.OK, by_full.err
    assert by_full.out == pdebug("clusters", f"{out}:{name}").out
    assert pdebug("clusters", "--bundle", out, f"pod/{pod}").out == by_full.out
    directory = Path(kubeconfig).parent / "long-dir"
    args = ("-n", "default", "--dir", directory, "--kubeconfig", kubeconfig, "--no-istiod")
    assert pdebug("snapshot", *args).code == ExitCode.FINDINGS
    assert (directory / name / "config_dump.json").is_file()
    assert pdebug("clusters", f"{directory}:{full}").out == by_full.out


REFUSED_B = (
    "istiod-7c9d-b: nothing listens on port 15014 in the pod (the kubelet says: connection "
    "refused); proxies connected to it are missing from the table"
)


def test_status_shows_the_replicas_that_answer(pdebug, kube, kubeconfig, two_syncz):
    """One dead replica: the others' proxies, and a note naming it (istioctl fails)."""
    a, b = two_syncz
    kube.forward(b.name, "istio-system", 15014, ("127.0.0.1", eh.free_port()))  # refuses
    result = pdebug("status", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.OK, result.err
    assert result.out == "".join(LIVE_TABLE.splitlines(True)[:3])  # istiod-7c9d-a's rows
    assert result.err.splitlines() == [REFUSED_B]
    as_json = pdebug("status", "--kubeconfig", kubeconfig, "-o", "json")
    assert as_json.code == ExitCode.OK
    assert json.loads(as_json.out) == {"istiod-7c9d-a": json.loads(a.syncz)}
    assert as_json.err.splitlines() == [REFUSED_B]
    # a replica that answers an error status is a missing replica too
    kube.forward(b.name, "istio-system", 15014, b.address)
    b.override["/debug/syncz"] = (503, b"overloaded\n", "text/plain")
    result = pdebug("status", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.OK
    assert result.out == "".join(LIVE_TABLE.splitlines(True)[:3])
    assert result.err.splitlines() == [
        "istiod-7c9d-b: istiod answered HTTP 503 to /debug/syncz (overloaded); proxies "
        "connected to it are missing from the table",
    ]


def test_status_fails_when_no_replica_answers(pdebug, kube, kubeconfig, two_syncz):
    a, b = two_syncz
    for replica in (a, b):
        kube.forward(replica.name, "istio-system", 15014, ("127.0.0.1", eh.free_port()))
    result = pdebug("status", "--kubeconfig", kubeconfig)
    assert result.code == ExitCode.SOURCE_UNAVAILABLE
    assert one_error(result) == (
        "pod/istiod-7c9d-a.istio-system: nothing listens on port 15014 in the pod "
        "(the kubelet says: connection refused)",
        "is istiod up, and is 15014 its monitoring port (the pod's prometheus.io/port "
        "annotation)? kubectl logs -n istio-system istiod-7c9d-a",
    )


def test_snapshot_keeps_the_replicas_that_answer(pdebug, kube, kubeconfig, replicas, envoy_2020):
    """The manifest records the dead replica; the live one's syncz and views are kept."""
    import tarfile

    a, b = replicas
    a.syncz = json.dumps(
        [{"proxy": ID_2020, "cluster_id": "Kubernetes", "cluster_sent": "1", "cluster_acked": "1"}]
    ).encode()
    a.connect(ID_2020, PILOT_2020.read_bytes())
    idd.register(kube, a, a.name)
    idd.register(kube, b, b.name)
    kube.forward(b.name, "istio-system", 15014, ("127.0.0.1", eh.free_port()))  # refuses
    out = Path(kubeconfig).parent / "s.tar.gz"
    result = pdebug("snapshot", "-n", "default", "-o", out, "--kubeconfig", kubeconfig)
    # exit 1: the recorded Envoy serves /config_dump only (the other documents are missing)
    assert result.code == ExitCode.FINDINGS, result.err
    assert "istiod not captured" not in result.err
    with tarfile.open(out) as tar:
        files = {m.name.split("/", 1)[-1]: tar.extractfile(m).read() for m in tar if m.isfile()}
    manifest = json.loads(files["manifest.json"])
    istiod = manifest["istiod"]
    assert "error" not in istiod
    assert istiod["failed_replicas"] == {
        "istiod-7c9d-b": "pod/istiod-7c9d-b.istio-system: nothing listens on port 15014 in "
        "the pod (the kubelet says: connection refused)"
    }
    assert json.loads(files["istiod_syncz.json"]) == {"istiod-7c9d-a": json.loads(a.syncz)}
    (proxy,) = manifest["proxies"]
    assert proxy["sync"]["CDS"] == "SYNCED"
    assert "istiod_config_dump.json" in proxy["files"]
    assert b.requests == []  # never reached


def test_status_file_and_live_options_do_not_mix(pdebug):
    source = LEGACY / "http_syncz_single_pilot.reconstructed.json"
    result = pdebug("status", "-f", source, "--revision", "canary", "-i", "mesh")
    assert result.code == ExitCode.USAGE
    assert one_error(result)[0] == (
        "--file reads a saved answer; --revision, --istio-namespace are for asking istiod live"
    )
