"""Every live command × every Kubernetes fault: one clear line and the right exit code.

The faults of the API server double (tests/harness/kube_double.py) were tested through
``clusters`` and the source; here each command that reads a pod meets each of them:
pod not found, RBAC 403 on pods and on the port-forward, a pod not Running or not
Ready, no sidecar, a crash-looping sidecar, a refused admin port and a stream cut
mid-body (every time, so the retry fails too).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.harness import ISTIOCTL
from tests.harness import kube_double as kd
from tests.harness.hostile import HostileServer, http_answer

DUMP = (ISTIOCTL / "proxy-config-all/config_dump.json").read_bytes()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(kube: kd.KubeDouble, admin: Any) -> None:
    pass


def _forbid_pods(kube: kd.KubeDouble, admin: Any) -> None:
    kube.add_pod("web-1", forwards={15000: admin})
    kube.faults.forbid_get_pods = True


def _forbid_forward(kube: kd.KubeDouble, admin: Any) -> None:
    kube.add_pod("web-1", forwards={15000: admin})
    kube.faults.forbid_portforward = True


def _pending(kube: kd.KubeDouble, admin: Any) -> None:
    kube.add_pod("web-1", phase="Pending", ready=False, forwards={15000: admin})


def _no_sidecar(kube: kd.KubeDouble, admin: Any) -> None:
    kube.add_pod("web-1", containers=("app",), forwards={15000: admin})


def _crashing(kube: kd.KubeDouble, admin: Any) -> None:
    kube.add_pod("web-1", sidecar_waiting="CrashLoopBackOff", forwards={15000: admin})


def _refused(kube: kd.KubeDouble, admin: Any) -> None:
    kube.add_pod("web-1", forwards={15000: ("127.0.0.1", _free_port())})


def _cut(kube: kd.KubeDouble, admin: Any) -> None:
    kube.add_pod("web-1", forwards={15000: admin})
    kube.faults.drop_after = 2000  # every port-forward: the retry is cut too


FAULTS: dict[str, tuple[Callable[[kd.KubeDouble, Any], None], int, str]] = {
    "not-found": (_missing, 3, "not found"),
    "forbidden-pods": (_forbid_pods, 3, "forbidden"),
    "forbidden-portforward": (_forbid_forward, 3, "forbidden"),
    "pending": (_pending, 3, "Pending"),
    "no-sidecar": (_no_sidecar, 3, "istio-proxy"),
    "crash-loop": (_crashing, 3, "CrashLoopBackOff"),
    "refused": (_refused, 3, "refused"),
    "cut": (_cut, 3, ""),
}

COMMANDS = {
    "clusters": ["clusters", "pod/web-1"],
    "all": ["all", "pod/web-1"],
    "check": ["check", "pod/web-1"],
    "endpoints": ["endpoints", "pod/web-1"],
    "stats": ["stats", "pod/web-1"],
    "trace": ["trace", "pod/web-1", "http://httpbin:8000/"],
    "diff": ["diff", str(ISTIOCTL / "proxy-config-all/config_dump.json"), "pod/web-1"],
    "dump": ["dump", "pod/web-1", "-o", "{tmp}/d.tar.gz"],
    "report": ["report", "pod/web-1", "-o", "{tmp}/r.html"],
}


@pytest.fixture
def admin() -> Any:
    server = HostileServer([("send", http_answer("200 OK", DUMP))])
    yield server.address
    server.stop()


@pytest.mark.usefixtures("no_ambient_config")
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_command_meets_every_kube_fault(
    pdebug, kube: kd.KubeDouble, kubeconfig, tmp_path, admin, command, fault
):
    setup, code, needle = FAULTS[fault]
    setup(kube, admin)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[command]]
    result = pdebug(*argv, "--kubeconfig", kubeconfig, "--timeout", "2")
    assert result.code == code, result
    lines = result.err.splitlines()
    assert lines and lines[0].startswith("pdebug: error: "), result.err
    assert all(line.startswith(("pdebug: error: ", "hint: ")) for line in lines), result.err
    assert needle in lines[0], result.err
    assert "Traceback" not in result.err
    assert not list(tmp_path.glob("d.tar.gz*")) and not (tmp_path / "r.html").exists()
