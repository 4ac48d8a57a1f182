"""Hostile API objects from the Kubernetes double: a seeded generator (sweep8).

``pdebug waypoints`` reads Gateways, Services, Pods and Namespaces as the API server
returns them; a field of the wrong type, a missing one, or a name with terminal controls
must end in a documented exit code with no traceback and nothing raw on the terminal.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from tests import harness as eh
from tests.harness import kube_double as kd
from tests.test_fuzz import TRAPS, _nodes, _replace

READS = eh.WAYPOINT_READS
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def kube_reads():
    return READS


def _objects(kube: kd.KubeDouble) -> list[Any]:
    kube.add_namespace(
        "bookinfo", {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}
    )
    return [
        kube.add_gateway("waypoint", "bookinfo", labels={"istio.io/waypoint-for": "all"}),
        kube.add_gateway("wp2", "bookinfo", labels={"istio.io/rev": "canary"}, programmed=False),
        kube.add_service("reviews", "bookinfo", labels={"istio.io/use-waypoint": "wp2"}),
        kube.add_pod("cart-1", "bookinfo", labels={"istio.io/use-waypoint": "waypoint"}),
    ]


def _mutate(rng: random.Random, objects: list[Any]) -> str:
    said = []
    for _ in range(rng.randint(1, 4)):
        obj = rng.choice(objects)
        paths = [  # the double itself needs the objects' names (and valid UTF-8)
            p
            for p, _ in _nodes(obj)
            if len(p) > 1
            and p[0] in ("metadata", "spec", "status")
            and p[:2] not in (("metadata", "name"), ("metadata", "namespace"))
        ]
        path = rng.choice(paths)
        new = rng.choice(
            [None, "x", 7, -1, True, [], {}, [1, "a"], {"k": 1}, "", 10**30, *TRAPS[:-1]]
        )
        _replace(obj, path, new)
        said.append(f"{obj['kind']}{list(path)}={new!r}")
    return "; ".join(said)


@pytest.mark.usefixtures("no_ambient_config")
@pytest.mark.parametrize("seed", range(8))
def test_hostile_api_objects_for_waypoints(pdebug, kube: kd.KubeDouble, kubeconfig, seed):
    rng = random.Random(seed)
    what = _mutate(rng, _objects(kube))
    for args in (["-n", "bookinfo"], ["-A", "-o", "wide"], ["-A", "-o", "yaml"]):
        result = pdebug("waypoints", *args, "--kubeconfig", kubeconfig, "--timeout", "5")
        assert result.code in (0, 3, 4), (what, result)
        assert "Traceback" not in result.err and "internal error" not in result.err, (what, result)
        streams = [result.err] if "yaml" in args else [result.out, result.err]
        for text in streams:
            hit = CONTROL.search(text)
            assert hit is None, (what, text[max(hit.start() - 40, 0) : hit.end() + 20])
