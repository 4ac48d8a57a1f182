"""The request being traced.

The command line's URL and options as a typed :class:`Request`, and
:class:`HttpRequest`, the same request as Envoy's router sees it.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from pdebug.errors import UsageError

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Scheme = Literal["http", "https", "tcp"]
Direction = Literal["outbound", "inbound"]

DEFAULT_PORTS = {"http": 80, "https": 443}
SCHEMES: tuple[Scheme, ...] = ("http", "https", "tcp")
DIRECTIONS: tuple[Direction, ...] = ("outbound", "inbound")
#: What an HTTPS client offers in ALPN (curl's default), when a tls_inspector reads it.
HTTPS_ALPN = ("h2", "http/1.1")
#: What an Istio sidecar offers in ALPN when it originates mesh mTLS to a peer's inbound:
#: for HTTP/1.1 (its ``istio.alpn`` filter's override) and for TCP (the cluster's own).
MESH_HTTP_ALPN = ("istio-http/1.1", "istio")
MESH_TCP_ALPN = ("istio-peer-exchange", "istio")
#: The request headers Envoy 1.40 keeps inline (its startup log's "request header map",
#: pseudo-headers left out): a repeated one is a single value joined with "," as the
#: codec reads it, so a header matcher sees "a,b"; any other repeated header stays
#: several values, and a matcher holds when one of them matches (both checked against
#: Envoy 1.40 by tests/test_trace_left.py).
INLINE_REQUEST_HEADERS = frozenset(
    (
        "accept accept-encoding access-control-request-headers access-control-request-method "
        "access-control-request-private-network authentication authorization cache-control "
        "cdn-loop connection content-encoding content-length content-type expect "
        "grpc-accept-encoding grpc-timeout if-match if-modified-since if-none-match if-range "
        "if-unmodified-since keep-alive origin pragma proxy-connection proxy-status referer "
        "te transfer-encoding upgrade user-agent via x-client-trace-id x-envoy-attempt-count "
        "x-envoy-decorator-operation x-envoy-downstream-service-cluster "
        "x-envoy-downstream-service-node x-envoy-expected-rq-timeout-ms "
        "x-envoy-external-address x-envoy-force-trace x-envoy-hedge-on-per-try-timeout "
        "x-envoy-internal x-envoy-ip-tags x-envoy-is-timeout-retry x-envoy-max-retries "
        "x-envoy-original-host x-envoy-original-path x-envoy-original-url "
        "x-envoy-retriable-header-names x-envoy-retriable-status-codes x-envoy-retry-grpc-on "
        "x-envoy-retry-on x-envoy-upstream-alt-stat-name "
        "x-envoy-upstream-rq-per-try-timeout-ms x-envoy-upstream-rq-timeout-alt-response "
        "x-envoy-upstream-rq-timeout-ms x-envoy-upstream-stream-duration-ms "
        "x-forwarded-client-cert x-forwarded-for x-forwarded-host x-forwarded-port "
        "x-forwarded-proto x-request-id"
    ).split()
)
#: The ``x-envoy-*`` request headers Envoy 1.40 strips from a request whose client is not
#: internal (every client, without ``internal_address_config``): checked against Envoy 1.40
#: by tests/test_trace_left.py.
EXTERNAL_STRIPPED = frozenset(
    (
        "x-envoy-expected-rq-timeout-ms x-envoy-force-trace x-envoy-hedge-on-per-try-timeout "
        "x-envoy-internal x-envoy-ip-tags x-envoy-max-retries x-envoy-original-url "
        "x-envoy-retriable-header-names x-envoy-retriable-status-codes x-envoy-retry-grpc-on "
        "x-envoy-retry-on x-envoy-upstream-alt-stat-name "
        "x-envoy-upstream-rq-per-try-timeout-ms x-envoy-upstream-rq-timeout-alt-response "
        "x-envoy-upstream-rq-timeout-ms x-envoy-upstream-stream-duration-ms"
    ).split()
)
#: The ``x-envoy-*`` request headers Envoy 1.40 also strips from an edge request (an
#: external client with ``use_remote_address``): checked by tests/test_trace_left2.py.
EDGE_STRIPPED = frozenset(
    (
        "x-envoy-decorator-operation x-envoy-downstream-service-cluster "
        "x-envoy-downstream-service-node x-envoy-original-path"
    ).split()
)
_TOKEN = re.compile(r"^:?[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HOST = re.compile(r"^[A-Za-z0-9_.*-]+$")


@dataclass(frozen=True)
class Request:
    """One request to trace, as a client would send it.

    Attributes:
        url: The URL as given.
        scheme: ``http``, ``https`` or ``tcp`` (a plain TCP connection).
        host: The URL's host, lower-cased, without brackets.
        port: The destination port (the URL's, else 80/443).
        path: ``:path`` as sent: the path and its query.
        method: ``:method``.
        authority: The Host header: ``-H Host:...`` or the URL's host[:port] as written.
        headers: Other request headers, names lower-cased, in the order given.
        direction: ``outbound``, ``inbound`` or None (decided from the listeners).
        source_ip: The client's address when known.
        source_principal: The client's identity (its certificate's URI SAN, e.g.
            ``spiffe://cluster.local/ns/NS/sa/SA``) when known: what RBAC rules on
            principals compare.
    """

    url: str
    scheme: Scheme
    host: str
    port: int
    path: str
    method: str = "GET"
    authority: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    direction: Direction | None = None
    source_ip: IP | None = None
    source_principal: str | None = None

    @property
    def dest_ip(self) -> IP | None:
        """The destination IP when the URL's host is an IP literal."""
        return ip_of(self.host)

    @property
    def destination(self) -> str:
        """``host:port`` (IPv6 in brackets)."""
        from pdebug.model.address import join_host_port

        return join_host_port(self.host, self.port)


def parse_request(
    url: str,
    method: str = "GET",
    headers: list[str] | tuple[str, ...] = (),
    direction: str | None = None,
    source_ip: str | None = None,
    source_principal: str | None = None,
) -> Request:
    """Build a :class:`Request` from the command line.

    Args:
        url: ``http://host[:port]/path?query``, ``https://...`` or ``tcp://host:port``;
            a URL without a scheme is taken as ``http://``.
        method: The HTTP method.
        headers: ``NAME:VALUE`` strings; ``Host:...`` replaces the URL's authority.
        direction: ``outbound``, ``inbound`` or None.
        source_ip: The client's IP address.
        source_principal: The client's mTLS identity (SPIFFE ID).

    Raises:
        UsageError: the URL, a header, the direction, the source IP or principal cannot
            be used.
    """
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(
            f"cannot parse URL {url!r}: {exc}", hint="e.g. http://reviews:9080/api?x=1"
        ) from None
    scheme_text = parts.scheme.lower()
    if scheme_text not in SCHEMES:
        raise UsageError(
            f"URL {url!r}: unsupported scheme {parts.scheme!r}",
            hint="use http://, https:// or tcp://HOST:PORT",
        )
    scheme: Scheme = scheme_text
    host = (parts.hostname or "").lower()
    if not host or (ip_of(host) is None and not _HOST.match(host)):
        raise UsageError(f"URL {url!r} has no usable host", hint="e.g. http://reviews:9080/")
    if port is None:
        if scheme == "tcp":
            raise UsageError(f"URL {url!r}: tcp:// needs a port", hint="e.g. tcp://mysql:3306")
        port = DEFAULT_PORTS[scheme]
    if port == 0:
        raise UsageError(f"URL {url!r}: port 0 cannot be reached")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(ch.isspace() or not ch.isprintable() for ch in path):
        raise UsageError(
            f"URL {url!r}: the path has spaces or control characters",
            hint="percent-encode them (a space is %20)",
        )
    host_text = f"[{host}]" if ":" in host else host
    authority = f"{host_text}:{port}" if parts.port is not None else host_text
    pairs: list[tuple[str, str]] = []
    for item in headers:
        name, value = _split_header(item)
        if name in ("host", ":authority"):
            authority = value
        else:
            pairs.append((name, value))
    way: Direction | None = None
    if direction is not None:
        lowered = direction.lower()
        if lowered not in DIRECTIONS:
            raise UsageError(f"--direction {lowered!r}", hint="use outbound or inbound")
        way = lowered
    src: IP | None = None
    if source_ip is not None:
        src = ip_of(source_ip.strip())
        if src is None:
            raise UsageError(f"--source-ip {source_ip!r} is not an IP address")
    principal: str | None = None
    if source_principal is not None:
        principal = source_principal.strip()
        if not principal or any(ch.isspace() or not ch.isprintable() for ch in principal):
            raise UsageError(
                f"--source-principal {source_principal!r} is not an identity",
                hint="e.g. spiffe://cluster.local/ns/default/sa/sleep",
            )
    verb = method.strip().upper()
    if not _TOKEN.match(verb) or verb.startswith(":"):
        raise UsageError(f"--method {method!r} is not an HTTP method")
    return Request(
        url, scheme, host, port, path, verb, authority, tuple(pairs), way, src, principal
    )


def _split_header(item: str) -> tuple[str, str]:
    """``NAME:VALUE`` (``:pseudo:VALUE`` too) -> (lower-cased name, stripped value)."""
    start = 1 if item.startswith(":") else 0
    cut = item.find(":", start)
    name = item[:cut].strip().lower() if cut > 0 else ""
    if not name or not _TOKEN.match(name):
        raise UsageError(
            f"--header {item!r}: expected NAME:VALUE", hint="e.g. --header end-user:jason"
        )
    return name, item[cut + 1 :].strip()


def ip_of(text: str) -> IP | None:
    """``text`` as an IP address (brackets allowed), None when it is a name."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def split_host_port(authority: str) -> tuple[str, int | None]:
    """``host:port`` / ``[v6]:port`` -> (host, port); (authority, None) without a port."""
    if authority.startswith("["):
        end = authority.find("]")
        if end > 0 and authority[end + 1 : end + 2] == ":" and authority[end + 2 :].isdigit():
            return authority[: end + 1], int(authority[end + 2 :])
        return authority, None
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return authority, None


@dataclass
class HttpRequest:
    """The request as the router sees it (after the connection manager's rewrites)."""

    authority: str
    path: str  # :path with query
    method: str
    scheme: str
    headers: dict[str, list[str]]  # lower-cased name -> values; pseudo-headers included

    @property
    def path_only(self) -> str:
        """The path without query (what path matchers compare)."""
        return self.path.split("?", 1)[0].split("#", 1)[0]

    @property
    def query(self) -> str:
        """The raw query string."""
        return self.path.split("?", 1)[1] if "?" in self.path else ""

    def query_params(self) -> dict[str, str]:
        """Query parameters, first value of each name, not URL-decoded (as Envoy matches)."""
        out: dict[str, str] = {}
        for part in self.query.split("&"):
            if not part:
                continue
            name, _, value = part.partition("=")
            out.setdefault(name, value)
        return out

    def values(self, name: str) -> list[str] | None:
        """The values of header ``name`` (``host`` is ``:authority``), None when absent."""
        name = name.lower()
        if name == "host":
            name = ":authority"
        return self.headers.get(name)
