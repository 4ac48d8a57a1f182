"""Facts: one reading of an Envoy ``Address`` (socket address, pipe, internal address).

Envoy writes an address as one of three shapes: ``socket_address`` (IP or host and a
port), ``pipe`` (a Unix socket path) or ``envoy_internal_address`` (a listener inside the
same Envoy, ``server_listener_name`` plus an ``endpoint_id``). Every view, check and the
tracer turn them into text here, and only the spelling differs by caller:

* istioctl's ``eds`` table prints a pipe's path as is; its ``endpoints`` table (from
  ``/clusters``) prefixes ``unix://``: :func:`host_port` ``pipe_scheme``;
* an internal address reads ``envoy://LISTENER/ENDPOINT_ID`` everywhere;
* an IPv6 socket address is bracketed only where a port follows it in one string for a
  person to paste (``trace``): :func:`address_text` ``bracket_ipv6``, and
  :func:`join_host_port` for a host and port ``trace`` holds apart.
"""

from __future__ import annotations

from pdebug.model import schema as s

#: What an address that says nothing (absent, or none of the three shapes) reads as.
UNKNOWN = "unknown"


def internal_text(ia: s.EnvoyInternalAddress) -> str:
    """``envoy://LISTENER/ENDPOINT_ID`` for an internal address."""
    return f"envoy://{ia.server_listener_name}/{ia.endpoint_id}"


def is_udp(address: s.Address | None) -> bool:
    """Whether ``address`` is a UDP socket address (QUIC, HTTP/3, a UDP proxy).

    Its ``protocol`` by the enum's name in any case (``UDP``, ``udp`` in a YAML written
    by hand) or by its number (1: protojson with enum numbers).
    """
    if address is None or address.socket_address is None:
        return False
    protocol = address.socket_address.protocol
    return protocol == 1 if isinstance(protocol, int) else protocol.upper() == "UDP"


def join_host_port(host: str, port: int) -> str:
    """``HOST:PORT``, an IPv6 host in brackets (``[::1]:80``): one string to paste."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_port(address: s.Address | None, pipe_scheme: bool = False) -> tuple[str, int]:
    """``(host, port)``: a pipe or internal address has port 0, nothing says ``unknown``.

    Args:
        address: The address, or None.
        pipe_scheme: Write a pipe as ``unix://PATH`` (``/clusters``) instead of ``PATH``.
    """
    if address is None:
        return UNKNOWN, 0
    if address.socket_address is not None:
        sa = address.socket_address
        return sa.address, sa.port_value
    if address.pipe is not None:
        return ("unix://" if pipe_scheme else "") + address.pipe.path, 0
    if address.envoy_internal_address is not None:
        return internal_text(address.envoy_internal_address), 0
    return UNKNOWN, 0


def address_text(
    address: s.Address | None, pipe_scheme: bool = False, bracket_ipv6: bool = False
) -> str:
    """An endpoint's address as one string: ``IP:PORT``, a pipe, ``envoy://...``.

    Args:
        address: The address, or None (``unknown``).
        pipe_scheme: Write a pipe as ``unix://PATH``.
        bracket_ipv6: Write an IPv6 socket address as ``[IP]:PORT``.
    """
    if address is not None and address.socket_address is not None:
        sa = address.socket_address
        if bracket_ipv6:
            return join_host_port(sa.address, sa.port_value)
        return f"{sa.address}:{sa.port_value}"
    return host_port(address, pipe_scheme)[0]


def bind_host(address: s.Address | None) -> str:
    """A listener's bind address: the socket address, else the pipe path, else ``""``.

    An internal listener (``main_internal``) has no address: istioctl shows it empty.
    """
    if address is None:
        return ""
    if address.socket_address is not None:
        return address.socket_address.address
    if address.pipe is not None:
        return address.pipe.path
    return ""


def port_of(address: s.Address | None) -> int:
    """The socket port of ``address``, or 0."""
    if address is None or address.socket_address is None:
        return 0
    return address.socket_address.port_value
