"""Follow one request through a proxy's config, the way Envoy matches it.

:func:`parse_request` turns ``URL`` plus options into a :class:`Request`; :func:`trace`
walks it through a :class:`~pdebug.model.ProxyData` and returns a :class:`Trace`: every
step (listener, filter chain, network filter, route config, virtual host, routes tried,
action, cluster, endpoints) with whether it matched and why, then a :class:`Verdict`.
Nothing here prints; ``views/trace.py`` renders a trace.

The package, in the order a request meets it: :mod:`.request` (the URL and options as a
typed request), :mod:`.listeners` (which listener takes the connection), :mod:`.chains`
(``filter_chain_match``), :mod:`.matchers` (``filter_chain_matcher`` trees),
:mod:`.routes` (virtual host, route, redirect), :mod:`.filters` (fault injection,
Istio's CUSTOM ext_authz) and :mod:`.rbac` (RBAC), :mod:`.rewrites` (the path and Host
the upstream and each mirror see), :mod:`.clusters` (clusters, endpoints, the final
verdict), :mod:`.tracer` (the walk that records each step) and
:mod:`.result` (steps, verdict; states as ``Literal`` types). Names are imported from
their module on first use, so ``from pdebug.trace import parse_request`` does not load
the tracer.

The rules are Envoy's (checked against a real Envoy 1.40 by ``tests/test_trace_envoy.py``):

* **Listener.** A client reaches the listener bound to the URL's port (80/443 by
  default): the one on the destination IP, else ``0.0.0.0``/``::``. When no listener binds
  the port but one has ``use_original_dst`` (Istio's ``virtualOutbound``), the connection is
  taken as captured by it (outbound); Envoy hands it to the listener owning the original
  destination ``IP:port``, else ``0.0.0.0:port``, else keeps it. A listener with the
  ``original_dst`` listener filter but no ``use_original_dst`` (OSM, Consul) captures too
  and keeps every connection: its chains match the original destination (checked against
  Envoy 1.40 by ``tests/test_other_meshes.py``). ``--direction inbound`` starts at
  ``virtualInbound``, whose filter chains pick by destination port (or an INBOUND
  listener with the ``original_dst`` listener filter); an INBOUND ``use_original_dst``
  listener (Kuma's inbound passthrough, 15006) hands the connection to the listener of
  its original destination, else keeps it, as the outbound capture does.
* **Waypoint.** With no listener on the port, an internal listener choosing chains with a
  ``filter_chain_matcher`` (ambient's ``main_internal``) is reached through HBONE: the
  CONNECT is routed on ``connect_terminate`` (its ``connect_matcher`` route and cluster),
  the cluster's ``envoy://`` endpoint names the internal listener, and the tunnel's
  destination VIP and port pick its chain; a destination the matcher does not route
  fails the CONNECT with 503 (checked against Envoy 1.40 by
  ``tests/test_trace_waypoint.py``). Internal listeners never capture connections.
* **Filter chain.** Criteria in Envoy's order: destination port, destination IP, server
  name, transport protocol, application protocols, direct source IP, source type, source
  IP, source port. At each one the most specific value that matches wins and the others
  drop out; there is no going back to a less specific chain when a later criterion fails.
  No chain left: ``default_filter_chain``, else Envoy closes the connection.
* **Virtual host.** The Host header (lower-cased; the port stays unless the HTTP
  connection manager strips it or the route config ignores it): exact domain, else the
  longest ``*suffix`` wildcard, else the longest ``prefix*`` wildcard, else ``*``. A
  wildcard never matches an empty string.
* **Route.** First match wins. The path matchers see the path without its query;
  ``case_sensitive`` (default true) applies to ``prefix``, ``path`` and
  ``path_separated_prefix``, not to ``safe_regex`` (a full match). Headers: a matcher on
  an absent header fails (``invert_match`` does not change that) unless it is a presence
  match; a repeated header Envoy keeps inline (``user-agent``, ``x-forwarded-for``, ...:
  ``request.INLINE_REQUEST_HEADERS``) is one value joined with ``,``, any other keeps its
  values and one matching value is enough. A route whose header matcher reads a value
  only Envoy knows (a generated ``x-request-id``) is followed both ways, up to three such
  routes: each branch (``Verdict.branches``) ends in its own verdict, and the trace's is
  UNKNOWN unless they all agree. Query parameters: the first
  value of a name, not URL-decoded.
* **HTTP filters.** After the route is picked, in the connection manager's order: an RBAC
  filter that denies answers 403 (the network RBAC filter closes the connection), a fault
  aborting every request answers its status, whatever the route says; a rule on what the
  trace is not told (the client's identity: ``--source-principal``) leaves it UNKNOWN.
  The rules are in :mod:`.filters` and :mod:`.rbac`.
* **Rewrites and mirrors.** The router rewrites the path (``prefix_rewrite``,
  ``regex_rewrite``, a URI template) and the Host after the filters ran, so the route
  and filters see the request as sent, and says so in ``x-envoy-original-path`` and
  ``x-envoy-original-host`` unless ``suppress_envoy_headers``; each mirror gets a copy of
  the rewritten request, its Host suffixed ``-shadow`` (:mod:`.rewrites`).
* **Action and cluster.** A missing cluster or one with no endpoints answers 503; below
  50% healthy endpoints Envoy is in panic mode and sends to all of them.
* **Unknown.** What the dump does not hold (a section, EDS) is never taken as a failure:
  the verdict is UNKNOWN (kinds ``incomplete``, ``inconclusive``) and says what to capture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pdebug.trace.chains import (
        CHAIN_CRITERIA as CHAIN_CRITERIA,
    )
    from pdebug.trace.chains import (
        ChainChoice as ChainChoice,
    )
    from pdebug.trace.chains import (
        Connection as Connection,
    )
    from pdebug.trace.chains import (
        select_filter_chain as select_filter_chain,
    )
    from pdebug.trace.clusters import (
        PANIC_THRESHOLD as PANIC_THRESHOLD,
    )
    from pdebug.trace.listeners import (
        OUTBOUND_CAPTURE_NAMES as OUTBOUND_CAPTURE_NAMES,
    )
    from pdebug.trace.request import (
        DEFAULT_PORTS as DEFAULT_PORTS,
    )
    from pdebug.trace.request import (
        DIRECTIONS as DIRECTIONS,
    )
    from pdebug.trace.request import (
        HTTPS_ALPN as HTTPS_ALPN,
    )
    from pdebug.trace.request import (
        IP as IP,
    )
    from pdebug.trace.request import (
        MESH_HTTP_ALPN as MESH_HTTP_ALPN,
    )
    from pdebug.trace.request import (
        MESH_TCP_ALPN as MESH_TCP_ALPN,
    )
    from pdebug.trace.request import (
        SCHEMES as SCHEMES,
    )
    from pdebug.trace.request import (
        Direction as Direction,
    )
    from pdebug.trace.request import (
        HttpRequest as HttpRequest,
    )
    from pdebug.trace.request import (
        Request as Request,
    )
    from pdebug.trace.request import (
        Scheme as Scheme,
    )
    from pdebug.trace.request import (
        parse_request as parse_request,
    )
    from pdebug.trace.request import (
        split_host_port as split_host_port,
    )
    from pdebug.trace.result import (
        FULL_DUMP as FULL_DUMP,
    )
    from pdebug.trace.result import (
        UNKNOWN_KINDS as UNKNOWN_KINDS,
    )
    from pdebug.trace.result import (
        WITH_EDS as WITH_EDS,
    )
    from pdebug.trace.result import (
        Branch as Branch,
    )
    from pdebug.trace.result import (
        ClusterOutcome as ClusterOutcome,
    )
    from pdebug.trace.result import (
        ClusterState as ClusterState,
    )
    from pdebug.trace.result import (
        Endpoint as Endpoint,
    )
    from pdebug.trace.result import (
        Outcome as Outcome,
    )
    from pdebug.trace.result import (
        Step as Step,
    )
    from pdebug.trace.result import (
        StepKind as StepKind,
    )
    from pdebug.trace.result import (
        Trace as Trace,
    )
    from pdebug.trace.result import (
        Usable as Usable,
    )
    from pdebug.trace.result import (
        Verdict as Verdict,
    )
    from pdebug.trace.result import (
        VerdictKind as VerdictKind,
    )
    from pdebug.trace.routes import (
        REDIRECT_CODES as REDIRECT_CODES,
    )
    from pdebug.trace.routes import (
        match_header as match_header,
    )
    from pdebug.trace.routes import (
        match_query as match_query,
    )
    from pdebug.trace.routes import (
        match_route as match_route,
    )
    from pdebug.trace.routes import (
        remove_dot_segments as remove_dot_segments,
    )
    from pdebug.trace.routes import (
        select_virtual_host as select_virtual_host,
    )
    from pdebug.trace.tracer import (
        trace as trace,
    )

#: Public name -> the module of the package that defines it.
_HOME = {
    "DEFAULT_PORTS": "request",
    "DIRECTIONS": "request",
    "HTTPS_ALPN": "request",
    "MESH_HTTP_ALPN": "request",
    "MESH_TCP_ALPN": "request",
    "IP": "request",
    "SCHEMES": "request",
    "Direction": "request",
    "HttpRequest": "request",
    "Request": "request",
    "Scheme": "request",
    "parse_request": "request",
    "split_host_port": "request",
    "FULL_DUMP": "result",
    "UNKNOWN_KINDS": "result",
    "WITH_EDS": "result",
    "ClusterOutcome": "result",
    "ClusterState": "result",
    "Endpoint": "result",
    "Outcome": "result",
    "Step": "result",
    "StepKind": "result",
    "Trace": "result",
    "Usable": "result",
    "Verdict": "result",
    "VerdictKind": "result",
    "Branch": "result",
    "CHAIN_CRITERIA": "chains",
    "ChainChoice": "chains",
    "Connection": "chains",
    "select_filter_chain": "chains",
    "REDIRECT_CODES": "routes",
    "match_header": "routes",
    "match_query": "routes",
    "match_route": "routes",
    "remove_dot_segments": "routes",
    "select_virtual_host": "routes",
    "OUTBOUND_CAPTURE_NAMES": "listeners",
    "PANIC_THRESHOLD": "clusters",
    "trace": "tracer",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (keeps ``pdebug.trace`` light)."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
