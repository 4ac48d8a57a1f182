"""An istiod double: istiod's monitoring port (15014) on 127.0.0.1, serving recorded answers.

It answers the two debug endpoints pdebug asks, the way ``pilot/pkg/xds/debug.go`` does:

* ``GET /debug/config_dump?proxyID=ID``: ``200`` and the recorded config dump when the proxy
  is "connected" to this replica (:meth:`IstiodDouble.connect`); ``404`` with istiod's body
  ``Proxy not connected to this Pilot instance. It may be connected to another instance.``
  for any other proxy; ``400`` ``You must provide a proxyID in the query string`` without one;
* ``GET /debug/syncz``: ``200`` and the recorded SyncStatus array (``[]`` by default);
* anything else: Go's ``404 page not found``.

Faults: :attr:`IstiodDouble.override` answers a path (without the query) with any status,
body and content type: an empty ``200``, an HTML page, a ``401``; :attr:`RecordedHTTP.hang`
makes every request hang (recorded, never answered) until the double stops.

:func:`register` adds a pod for a double to a :class:`kube_double.KubeDouble` the way istiod
pods look (``app=istiod``, ``istio.io/rev``, the ``prometheus.io/port`` annotation, container
``discovery``) whose port-forward relays to the double. :class:`EnvoyAdminDouble` serves a
recorded Envoy ``/config_dump`` for the proxy side of a test that needs no Envoy binary.

Every request is recorded in :attr:`RecordedHTTP.requests` as ``path?query``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from . import envoy as eh

__all__ = [
    "NOT_CONNECTED_BODY",
    "ConfigDumpDouble",
    "EnvoyAdminDouble",
    "IstiodDouble",
    "RecordedHTTP",
    "istiod_view",
    "register",
]

Json = dict[str, Any]
Answer = tuple[int, bytes, str]  # status, body, content type

NOT_CONNECTED_BODY = (
    b"Proxy not connected to this Pilot instance. It may be connected to another instance.\n"
)
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"


class RecordedHTTP(eh.LoopbackHTTPServer):
    """A small HTTP/1.1 server on 127.0.0.1 whose answers a subclass decides."""

    def __init__(self) -> None:
        super().__init__(thread_name=type(self).__name__)
        self.requests: list[str] = []
        #: ``{path: (status, body, content type)}``: answers that win over everything.
        self.override: dict[str, Answer] = {}
        #: Record every request, then never answer it (until :meth:`stop`).
        self.hang = False
        self._released = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._released.set()
        super().stop()

    def respond(self, request: BaseHTTPRequestHandler) -> Answer:
        url = urllib.parse.urlsplit(request.path)
        with self._lock:
            self.requests.append(request.path)
            answer = self.override.get(url.path)
        if self.hang:
            self._released.wait(60)
        if answer is None:
            answer = self.answer(url.path, urllib.parse.parse_qs(url.query))
        return answer

    # -------------------------------------------------------------- answers

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        return 404, b"404 page not found\n", _TEXT


class IstiodDouble(RecordedHTTP):
    """One istiod replica's ``/debug/config_dump`` and ``/debug/syncz``.

    Args:
        name: The replica's pod name (what :func:`register` names the pod).
        syncz: The recorded ``/debug/syncz`` body.
    """

    def __init__(self, name: str = "istiod-5d4c8b9f7-a1b2c", syncz: bytes = b"[]") -> None:
        super().__init__()
        self.name = name
        self.syncz = syncz
        self.dumps: dict[str, bytes] = {}

    def connect(self, proxy_id: str, dump: bytes | Json) -> None:
        """Make ``proxy_id`` connected to this replica, with ``dump`` as istiod's view."""
        self.dumps[proxy_id] = dump if isinstance(dump, bytes) else json.dumps(dump).encode()

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        if path == "/debug/syncz":
            return 200, self.syncz, _JSON
        if path == "/debug/config_dump":
            proxy_id = (query.get("proxyID") or [""])[0]
            if not proxy_id:
                return 400, b"You must provide a proxyID in the query string\n", _TEXT
            # istiod matches the ID as a substring of the connection ID (ID-counter)
            for known, body in self.dumps.items():
                if proxy_id in f"{known}-1":
                    return 200, body, _JSON
            return 404, NOT_CONNECTED_BODY, _TEXT
        return super().answer(path, query)


class ConfigDumpDouble(RecordedHTTP):
    """An admin port that serves one recorded ``/config_dump`` (any query); any other path
    is :meth:`other`'s answer."""

    def __init__(self, dump: bytes) -> None:
        super().__init__()
        self.dump = dump

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        if path == "/config_dump":
            return 200, self.dump, _JSON
        return self.other(path)

    def other(self, path: str) -> Answer:
        """The answer to a path other than ``/config_dump``."""
        raise NotImplementedError


class EnvoyAdminDouble(ConfigDumpDouble):
    """An Envoy admin port that serves one recorded ``/config_dump`` (any query)."""

    def other(self, path: str) -> Answer:
        return 404, b"invalid path. admin commands are:\n", _TEXT


def register(
    kube: Any,
    istiod: RecordedHTTP,
    name: str,
    *,
    namespace: str = "istio-system",
    revision: str | None = None,
    port: int | None = 15014,
    phase: str = "Running",
) -> Json:
    """Add an istiod pod to ``kube`` whose monitoring port relays to ``istiod``.

    Args:
        port: The ``prometheus.io/port`` annotation (``None``: no annotation, so 15014).
        revision: The ``istio.io/rev`` label (``None``: ``default``, as istiod sets it).
    """
    labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": revision or "default"}
    target = port or 15014
    pod: Json = kube.add_pod(
        name,
        namespace,
        labels=labels,
        containers=("discovery",),
        phase=phase,
        forwards={target: istiod.address},
    )
    annotations = {"sidecar.istio.io/inject": "false", "prometheus.io/scrape": "true"}
    if port is not None:
        annotations["prometheus.io/port"] = str(port)
    pod["metadata"]["annotations"] = annotations
    return pod


def istiod_view(dump: Json) -> Json:
    """What istiod's ``/debug/config_dump`` answers for a proxy with this Envoy dump.

    istiod's shape (``DiscoveryServer.configDump``): an empty bootstrap, then the dynamic
    clusters, listeners (active state only), routes and secrets it would send, each entry
    holding just the resource and a version; no static resources, no timestamps.
    """

    def section(suffix: str) -> Json:
        return next(c for c in dump["configs"] if c["@type"].endswith("." + suffix))

    version = "2026-11-25T22:00:00Z/42"
    clusters = section("ClustersConfigDump").get("dynamic_active_clusters", [])
    listeners = section("ListenersConfigDump").get("dynamic_listeners", [])
    routes = section("RoutesConfigDump").get("dynamic_route_configs", [])
    admin = "type.googleapis.com/envoy.admin.v3."
    return {
        "configs": [
            {"@type": admin + "BootstrapConfigDump"},
            {
                "@type": admin + "ClustersConfigDump",
                "version_info": version,
                "dynamic_active_clusters": [{"cluster": c["cluster"]} for c in clusters],
            },
            {
                "@type": admin + "ListenersConfigDump",
                "version_info": version,
                "dynamic_listeners": [
                    {
                        "name": lst["name"],
                        "active_state": {
                            "version_info": version,
                            "listener": lst["active_state"]["listener"],
                        },
                    }
                    for lst in listeners
                    if "active_state" in lst
                ],
            },
            {"@type": admin + "ScopedRoutesConfigDump"},
            {
                "@type": admin + "RoutesConfigDump",
                "dynamic_route_configs": [
                    {"version_info": version, "route_config": r["route_config"]} for r in routes
                ],
            },
            {"@type": admin + "SecretsConfigDump"},
        ]
    }
