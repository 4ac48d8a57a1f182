"""What a trace produces: the :class:`Step` list and the :class:`Verdict`.

Their states are ``Literal`` types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pdebug.trace.request import Request

StepKind = Literal[
    "listener",
    "connection",
    "filter_chain",
    "network_filter",
    "route_config",
    "http_filter",
    "virtual_host",
    "route",
    "action",
    "cluster",
    "endpoints",
]
#: Whether Envoy sends to an endpoint.
Usable = Literal["healthy", "degraded", "unhealthy"]
#: ``unhealthy``: no usable endpoint and panic mode off (``healthy_panic_threshold`` 0).
#: ``unreachable``: an internal upstream whose internal listener is not in the dump.
ClusterState = Literal[
    "ok",
    "missing",
    "warming",
    "empty",
    "panic",
    "unhealthy",
    "unknown",
    "unsupported",
    "unreachable",
]
VerdictKind = Literal[
    "upstream",
    "direct_response",
    "redirect",
    "denied",
    "fault_abort",
    "no_listener",
    "no_filter_chain",
    "connection_closed",
    "no_route",
    "unknown_cluster",
    "cluster_warming",
    "no_endpoints",
    "no_healthy_endpoints",
    "incomplete",
    "inconclusive",
]
Outcome = Literal["OK", "FAIL", "UNKNOWN"]
#: Verdict kinds that say pdebug cannot tell (UNKNOWN), rather than OK or FAIL.
UNKNOWN_KINDS: tuple[VerdictKind, ...] = ("incomplete", "inconclusive")
#: What to capture when a section is missing.
FULL_DUMP = "capture the full dump: curl -s 'localhost:15000/config_dump?include_eds'"
WITH_EDS = (
    "capture with EDS (curl -s 'localhost:15000/config_dump?include_eds') or add "
    "--clusters-json FILE (GET /clusters?format=json)"
)
#: The same for an Envoy older than 1.15, whose config dump cannot hold EDS.
WITHOUT_EDS = (
    "this Envoy (older than 1.15) cannot put EDS in its config dump: add --clusters-json "
    "FILE (GET /clusters?format=json), or trace the live proxy"
)


@dataclass
class Step:
    """One decision Envoy makes, and why.

    ``candidate`` marks an alternative that lost (a filter chain that did not match):
    ``-o wide`` and json show those, the table hides them.
    """

    kind: StepKind
    name: str
    matched: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    candidate: bool = False


@dataclass
class Endpoint:
    """One endpoint of a cluster and whether Envoy would use it."""

    address: str
    health: str
    usable: Usable
    #: The endpoint's priority (EDS's locality group, /clusters' host): Envoy sends to
    #: priority 0 while it is healthy enough, to the next ones when it is not.
    priority: int = 0
    #: What Envoy speaks to it: ``plaintext``, ``mTLS``, ``TLS`` or a socket's name, with
    #: `` (match NAME)`` when one of the cluster's transport_socket_matches picked it;
    #: ``unknown (...)`` when the dump cannot tell.
    transport: str = ""


@dataclass
class ClusterOutcome:
    """Where a (share of the) request ends up.

    ``state`` is ``ok``, ``missing``, ``warming``, ``empty`` (no endpoints), ``panic``
    (none healthy: Envoy still sends to all), ``unknown`` (the dump lacks the cluster's
    section or endpoints: ``why`` says what to capture), ``unsupported`` (a custom
    cluster type) or ``unreachable`` (an internal upstream whose internal listener does
    not take the connection: ``why`` says why).
    """

    name: str
    state: ClusterState
    weight: int | None = None
    share: float | None = None
    type: str = ""
    endpoints: list[Endpoint] = field(default_factory=list)
    why: str = ""
    #: An internal upstream's: the verdict of the internal listener its endpoints name.
    inner: Verdict | None = None

    @property
    def ok(self) -> bool:
        """Whether the request reaches an upstream that can serve it."""
        return self.state == "ok"

    @property
    def healthy(self) -> int:
        """How many endpoints are healthy."""
        return sum(1 for e in self.endpoints if e.usable == "healthy")


@dataclass
class Verdict:
    """How the trace ends.

    ``kind`` is one of ``upstream``, ``direct_response``, ``redirect`` (all ``ok``),
    ``no_listener``, ``no_filter_chain``, ``connection_closed``, ``no_route``,
    ``unknown_cluster``, ``cluster_warming``, ``no_endpoints``, ``no_healthy_endpoints``,
    ``denied`` (an RBAC filter: 403, or a closed connection for the network filter),
    ``fault_abort`` (fault injection aborts every such request with its status)
    (all FAIL), ``incomplete`` (the dump lacks what the answer needs: the summary says
    what to capture) or ``inconclusive`` (pdebug cannot follow the config further); those
    two are UNKNOWN, neither OK nor FAIL.
    ``status`` is the HTTP status Envoy answers itself, when it does.
    """

    ok: bool
    kind: VerdictKind
    summary: str
    status: int | None = None
    location: str | None = None
    clusters: list[ClusterOutcome] = field(default_factory=list)
    #: When a route's match depends on what only Envoy knows: each way it can go.
    branches: list[Branch] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        """``OK``, ``FAIL`` or ``UNKNOWN`` (the dump or pdebug cannot tell)."""
        if self.ok:
            return "OK"
        return "UNKNOWN" if self.kind in UNKNOWN_KINDS else "FAIL"


@dataclass
class Branch:
    """One way the request goes when a route's match is unknown.

    ``conditions``: what holds on this way (``route R matches (header x-request-id exact
    'abc')``, ``route R does not match``); ``steps``: the steps after the trace's own;
    ``verdict``: how it ends.
    """

    conditions: list[str]
    steps: list[Step]
    verdict: Verdict


@dataclass
class Trace:
    """The steps of one request and the verdict; ``notes`` are caveats."""

    request: Request
    steps: list[Step]
    verdict: Verdict
    notes: list[str] = field(default_factory=list)
