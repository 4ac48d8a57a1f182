"""The Kubernetes API server double, exercised by the real ``kubernetes`` client.

The double has to be right for the kube source tests to mean anything: here the real client
deserializes its objects into its (strictly validated) models, and port-forwards through it
to a real loopback HTTP server. The wire protocol (port-number prefix frames, error channel,
close) is also checked frame by frame with websocket-client, the library the kubernetes
client itself uses.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward

from tests import harness as eh
from tests.harness import kube_double as kd


@pytest.fixture
def kube() -> Iterator[kd.KubeDouble]:
    with kd.KubeDouble() as double:
        yield double


@pytest.fixture
def upstream() -> Iterator[eh.LoopbackUpstream]:
    with eh.LoopbackUpstream("app") as up:
        yield up


def api_client(kube: kd.KubeDouble, tmp_path: Path, **kw: object) -> client.ApiClient:
    path = kube.write_kubeconfig(tmp_path / "config", **kw)  # type: ignore[arg-type]
    return config.new_client_from_config(str(path), persist_config=False)


def ws_connect(
    kube: kd.KubeDouble, pod: str, ports: str, ns: str = "default"
) -> websocket.WebSocket:
    ws = websocket.WebSocket()
    ws.connect(
        f"ws://127.0.0.1:{kube.port}/api/v1/namespaces/{ns}/pods/{pod}/portforward?ports={ports}",
        header=[
            f"Authorization: Bearer {kube.token}",
            "Sec-WebSocket-Protocol: v5.channel.k8s.io,v4.channel.k8s.io",
        ],
        timeout=5,
    )
    return ws


def ws_close(ws: websocket.WebSocket) -> None:
    """Close, and free the socket even when the server closed first.

    websocket-client answers a server's close frame inside ``recv_data`` and then treats the
    connection as closed, so its ``close()`` returns early and leaves the socket open.
    """
    ws.close(timeout=1)
    ws.shutdown()


def recv_channel(ws: websocket.WebSocket) -> tuple[int, bytes]:
    opcode, data = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_BINARY
    return data[0], data[1:]


# --------------------------------------------------------------------------- REST


def test_real_client_reads_pods_and_workloads(kube: kd.KubeDouble, tmp_path: Path) -> None:
    kube.add_pod("web-1", labels={"app": "web"})
    kube.add_pod("web-2", "prod", labels={"app": "web", "tier": "front"}, phase="Pending")
    dep = kube.add_deployment("reviews-v1", labels={"app": "reviews", "version": "v1"})
    kube.add_pod(owner=dep)
    sts = kube.add_statefulset("db")
    kube.add_pod(owner=sts, native_sidecar=True)
    kube.add_pod(owner=kube.add_daemonset("agent"), node_name=None, phase="Pending")
    kube.add_pod(owner=kube.add_replicaset("bare"), sidecar_waiting="CrashLoopBackOff")
    api = api_client(kube, tmp_path)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)

    pod = core.read_namespaced_pod("web-1", "default")
    assert isinstance(pod, client.V1Pod)
    assert (pod.kind, pod.api_version, pod.status.phase) == ("Pod", "v1", "Running")
    assert [c.name for c in pod.spec.containers] == ["app", "istio-proxy"]
    assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)

    names = [p.metadata.name for p in core.list_pod_for_all_namespaces().items]
    assert names == sorted(names) and len(names) == 6
    assert [p.metadata.name for p in core.list_namespaced_pod("prod").items] == ["web-2"]
    by = lambda sel: [  # noqa: E731
        p.metadata.name for p in core.list_pod_for_all_namespaces(label_selector=sel).items
    ]
    assert by("app=web") == ["web-1", "web-2"]
    assert by("app=web,tier!=front") == ["web-1"]
    assert by("tier in (front,back)") == ["web-2"]
    assert by("app notin (web),!statefulset.kubernetes.io/pod-name") == [
        p for p in by("") if not p.startswith(("web", "db"))
    ]

    deployment = apps.read_namespaced_deployment("reviews-v1", "default")
    assert deployment.spec.selector.match_labels == {"app": "reviews", "version": "v1"}
    (rs,) = apps.list_namespaced_replica_set("default", label_selector="app=reviews").items
    assert rs.metadata.owner_references[0].uid == dep.uid
    (owned,) = core.list_namespaced_pod("default", label_selector="app=reviews").items
    assert owned.metadata.owner_references[0].uid == rs.metadata.uid
    assert owned.metadata.name.startswith(rs.metadata.name + "-")
    db = core.read_namespaced_pod("db-0", "default")
    assert db.spec.init_containers[0].restart_policy == "Always"
    assert apps.read_namespaced_stateful_set("db", "default").spec.service_name == "db"
    assert apps.read_namespaced_daemon_set("agent", "default").status.number_ready == 1
    assert apps.list_daemon_set_for_all_namespaces().items[0].metadata.name == "agent"


def test_errors_are_real_status_objects(kube: kd.KubeDouble, tmp_path: Path) -> None:
    kube.add_pod("web-1")
    core = client.CoreV1Api(api_client(kube, tmp_path))
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("nope", "default")
    assert err.value.status == 404
    assert json.loads(err.value.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"},
        "code": 404,
    }
    with pytest.raises(ApiException) as err:
        client.AppsV1Api(core.api_client).read_namespaced_deployment("nope", "default")
    assert json.loads(err.value.body)["message"] == 'deployments.apps "nope" not found'

    kube.faults.forbid_get_pods = True
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("web-1", "default")
    status = json.loads(err.value.body)
    assert (err.value.status, status["reason"], status["code"]) == (403, "Forbidden", 403)
    assert (
        'cannot get resource "pods" in API group "" in the namespace "default"'
        in (status["message"])
    )
    with pytest.raises(ApiException) as err:
        core.list_pod_for_all_namespaces()
    assert "cannot list resource" in err.value.body and "cluster scope" in err.value.body

    kube.faults.forbid_get_pods = False
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_pod("web-1", "default")
    assert err.value.status == 405
    assert kube.requests[-1].verb == "delete"

    bad = client.CoreV1Api(api_client(kube, tmp_path, token="wrong"))
    with pytest.raises(ApiException) as err:
        bad.read_namespaced_pod("web-1", "default")
    assert err.value.status == 401 and json.loads(err.value.body)["reason"] == "Unauthorized"
    kube.faults.unauthorized = True
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("web-1", "default")
    assert err.value.status == 401


def test_request_log(kube: kd.KubeDouble, tmp_path: Path, upstream: eh.LoopbackUpstream) -> None:
    kube.add_pod("web-1", forwards={8080: ("127.0.0.1", upstream.port)})
    core = client.CoreV1Api(api_client(kube, tmp_path))
    core.read_namespaced_pod("web-1", "default")
    core.list_namespaced_pod("default", label_selector="app=x")
    portforward(
        core.connect_get_namespaced_pod_portforward, "web-1", "default", ports="8080"
    ).close()
    got = [(r.method, r.verb, r.resource, r.namespace, r.name, r.status) for r in kube.requests]
    assert got == [
        ("GET", "get", "pods", "default", "web-1", 200),
        ("GET", "list", "pods", "default", None, 200),
        ("GET", "create", "pods/portforward", "default", "web-1", 101),
    ]
    assert kube.requests[1].query == {"labelSelector": ["app=x"]}
    assert kube.requests[2].query == {"ports": ["8080"]}
    kube.clear_requests()
    assert kube.requests == []


# --------------------------------------------------------------------------- port-forward


def test_client_port_forward_relays_both_ways(
    kube: kd.KubeDouble, tmp_path: Path, upstream: eh.LoopbackUpstream
) -> None:
    kube.add_pod("web-1", forwards={8080: ("127.0.0.1", upstream.port)})
    core = client.CoreV1Api(api_client(kube, tmp_path))
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web-1", "default", ports="8080")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
        conn.sock = pf.socket(8080)
        conn.sock.settimeout(5)
        for path in ("/one", "/two"):  # one forwarded TCP connection, kept alive
            conn.request("GET", path)
            resp = conn.getresponse()
            assert resp.status == 200
            assert json.loads(resp.read())["path"] == path
        assert pf.error(8080) is None
    finally:
        pf.close()
    assert upstream.requests == ["/one", "/two"]


def test_port_prefix_frames_and_data_channels(
    kube: kd.KubeDouble, upstream: eh.LoopbackUpstream
) -> None:
    other = eh.free_port()  # nothing listens there
    kube.add_pod("web-1", forwards={8080: ("127.0.0.1", upstream.port), 9090: ("127.0.0.1", other)})
    ws = ws_connect(kube, "web-1", "8080,9090")
    try:
        # v5.channel.k8s.io is for exec/attach: port-forward negotiates v4.
        assert ws.getheaders()["sec-websocket-protocol"] == "v4.channel.k8s.io"
        # The first message on every data and error channel is the port, little-endian.
        assert [recv_channel(ws) for _ in range(4)] == [
            (0, (8080).to_bytes(2, "little")),
            (1, (8080).to_bytes(2, "little")),
            (2, (9090).to_bytes(2, "little")),
            (3, (9090).to_bytes(2, "little")),
        ]
        channel, text = recv_channel(ws)  # the kubelet cannot dial port 9090
        assert channel == 3 and b"connect: connection refused" in text
        assert b"error forwarding port 9090" in text
        ws.send_binary(b"\x00GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        received = b""
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            assert data[0] == 0
            received += data[1:]
        assert received.startswith(b"HTTP/1.0 200") or received.startswith(b"HTTP/1.1 200")
        assert b'"path": "/x"' in received
    finally:
        ws_close(ws)


def test_refused_target_reports_on_error_channel(kube: kd.KubeDouble, tmp_path: Path) -> None:
    kube.add_pod("web-1")  # no forward for 15000: nothing listens in the pod
    core = client.CoreV1Api(api_client(kube, tmp_path))
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web-1", "default", ports="15000")
    sock = pf.socket(15000)
    sock.settimeout(5)
    assert sock.recv(10) == b""  # the client closes the local socket on an error
    assert "connection refused" in pf.error(15000)
    pf.close()


def test_upgrade_refusals(kube: kd.KubeDouble, tmp_path: Path) -> None:
    kube.add_pod("web-1")
    kube.add_pod("unscheduled", phase="Pending", node_name=None)
    core = client.CoreV1Api(api_client(kube, tmp_path))

    def status_of(pod: str) -> tuple[str, dict[str, object]]:
        with pytest.raises(ApiException) as err:
            portforward(core.connect_get_namespaced_pod_portforward, pod, "default", ports="1")
        assert err.value.status == 0  # the client wraps every handshake failure
        reason = str(err.value.reason)
        return reason, json.loads(reason.rsplit(" -+-+- ", 1)[-1])

    reason, status = status_of("nope")
    assert "Handshake status 404" in reason and status["reason"] == "NotFound"
    reason, status = status_of("unscheduled")
    assert "Handshake status 400" in reason and "does not have a host" in str(status["message"])
    kube.faults.forbid_portforward = True
    reason, status = status_of("web-1")
    assert "Handshake status 403" in reason
    assert 'cannot create resource "pods/portforward"' in str(status["message"])
    assert kube.requests[-1].verb == "create" and kube.requests[-1].status == 403

    # Only v4.channel.k8s.io is spoken; a plain GET is told to upgrade.
    kube.faults.forbid_portforward = False
    ws = websocket.WebSocket()
    with pytest.raises(websocket.WebSocketBadStatusException) as bad:
        ws.connect(
            f"ws://127.0.0.1:{kube.port}/api/v1/namespaces/default/pods/web-1/portforward?ports=1",
            header=[
                f"Authorization: Bearer {kube.token}",
                "Sec-WebSocket-Protocol: v5.channel.k8s.io",
            ],
            timeout=5,
        )
    assert bad.value.status_code == 400
    status_code, _ = eh.http_get(
        f"{kube.url}/api/v1/namespaces/default/pods/web-1/portforward?ports=1",
        headers={"Authorization": f"Bearer {kube.token}"},
    )
    assert status_code == 400


def test_drop_fault_cuts_the_stream(kube: kd.KubeDouble, upstream: eh.LoopbackUpstream) -> None:
    kube.add_pod("web-1", forwards={8080: ("127.0.0.1", upstream.port)})
    kube.faults.drop_after, kube.faults.drop_count = 20, 1

    def fetch() -> tuple[bytes, bool]:
        ws = ws_connect(kube, "web-1", "8080")
        recv_channel(ws), recv_channel(ws)
        ws.send_binary(b"\x00GET /drop HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data, closed = b"", False
        while True:
            try:
                opcode, frame = ws.recv_data(control_frame=True)
            except websocket.WebSocketConnectionClosedException:
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                closed = True
                break
            data += frame[1:]
        ws_close(ws)
        return data, closed

    cut, closed = fetch()
    assert len(cut) == 20 and closed  # the double closed the WebSocket mid-response
    whole, _ = fetch()  # drop_count=1: the next port-forward is whole
    assert len(whole) > 20 and b'"path": "/drop"' in whole


def test_hanging_target_and_stalled_upgrade(kube: kd.KubeDouble) -> None:
    kube.add_pod("web-1", forwards={8080: kube.hanging_target()})
    ws = ws_connect(kube, "web-1", "8080")
    recv_channel(ws), recv_channel(ws)
    ws.send_binary(b"\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    ws.settimeout(0.3)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv_data()
    ws_close(ws)

    kube.faults.stall_portforward = True
    sock = socket.create_connection(("127.0.0.1", kube.port), timeout=0.3)
    sock.sendall(
        b"GET /api/v1/namespaces/default/pods/web-1/portforward?ports=8080 HTTP/1.1\r\n"
        b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n"
        b"Authorization: Bearer " + kube.token.encode() + b"\r\n\r\n"
    )
    with pytest.raises(TimeoutError):
        sock.recv(100)
    sock.close()


def test_tls_double_with_real_client(tmp_path: Path, upstream: eh.LoopbackUpstream) -> None:
    with kd.KubeDouble(tls=True) as kube:
        kube.add_pod("web-1", forwards={8080: ("127.0.0.1", upstream.port)})
        api = api_client(kube, tmp_path)
        assert api.configuration.host.startswith("https://127.0.0.1:")
        core = client.CoreV1Api(api)
        assert core.read_namespaced_pod("web-1", "default").metadata.name == "web-1"
        pf = portforward(
            core.connect_get_namespaced_pod_portforward, "web-1", "default", ports="8080"
        )
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=5)
        conn.sock = pf.socket(8080)
        conn.sock.settimeout(5)
        conn.request("GET", "/tls")
        assert json.loads(conn.getresponse().read())["path"] == "/tls"
        pf.close()


def test_stop_ends_every_thread_and_connection(
    tmp_path: Path, upstream: eh.LoopbackUpstream
) -> None:
    before = set(threading.enumerate())
    kube = kd.KubeDouble().start()
    kube.add_pod("web-1", forwards={8080: ("127.0.0.1", upstream.port), 9: kube.hanging_target()})
    core = client.CoreV1Api(api_client(kube, tmp_path))
    core.read_namespaced_pod("web-1", "default")  # leaves an idle keep-alive connection
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web-1", "default", ports="8080")
    ws = ws_connect(kube, "web-1", "9")
    port = kube.port
    started = time.monotonic()
    kube.stop()
    assert time.monotonic() - started < 3
    sock = pf.socket(8080)
    sock.settimeout(5)
    assert sock.recv(10) == b""  # the open port-forward was cut
    pf.close()
    ws_close(ws)
    eh.wait_for(
        lambda: (
            not [t for t in set(threading.enumerate()) - before if "port forward" not in t.name]
        ),
        5,
        message="the double's threads to end",
    )
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


# --------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_frame_codec_round_trip(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    server = kd.FrameReader(expect_masked=True)
    masked = kd.encode_frame(kd.OP_BINARY, payload, mask_key=b"\x01\x02\x03\x04")
    # Fed in awkward pieces, as TCP may deliver them.
    got = []
    for i in range(0, len(masked), 7000):
        got += server.feed(masked[i : i + 7000])
    assert got == [(kd.OP_BINARY, payload)]
    assert kd.FrameReader(expect_masked=False).feed(kd.encode_frame(kd.OP_TEXT, payload)) == [
        (kd.OP_TEXT, payload)
    ]
    with pytest.raises(kd.ProtocolError):
        kd.FrameReader(expect_masked=True).feed(kd.encode_frame(kd.OP_BINARY, b"x"))


def test_fragmented_messages_are_joined() -> None:
    key = b"abcd"
    first = bytearray(kd.encode_frame(kd.OP_BINARY, b"\x00hel", mask_key=key))
    first[0] &= 0x7F  # FIN off
    ping = kd.encode_frame(kd.OP_PING, b"p", mask_key=key)
    last = kd.encode_frame(kd.OP_CONT, b"lo", mask_key=key)
    assert kd.FrameReader().feed(bytes(first) + ping + last) == [
        (kd.OP_PING, b"p"),
        (kd.OP_BINARY, b"\x00hello"),
    ]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web,tier=front", True),
        ("app!=web", False),
        ("app in (api, web)", True),
        ("app notin (web)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing,app", True),
        ("missing=", False),
    ],
)
def test_selector_matches(selector: str, expected: bool) -> None:
    assert kd.selector_matches(selector, {"app": "web", "tier": "front"}) is expected


def test_bad_selector_is_a_bad_request(kube: kd.KubeDouble) -> None:
    status, body = eh.http_get(
        f"{kube.url}/api/v1/pods?labelSelector=a%20in%20b",
        headers={"Authorization": f"Bearer {kube.token}"},
    )
    assert status == 400 and json.loads(body)["reason"] == "BadRequest"
