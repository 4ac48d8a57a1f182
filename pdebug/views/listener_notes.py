"""What ``pdebug listeners`` says on stderr beside its table: rows istioctl's cells hide.

Listeners without a filter chain (no row, as in istioctl), listeners that also listen
on other ports (``additional_addresses``: the PORT cell is the first address's), and UDP
listeners (QUIC) beside TCP ones on the same port (istioctl's table does not say which is
which; ``-o wide`` marks the PORT cell ``443/UDP``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pdebug.model import schema as s
from pdebug.model.address import join_host_port
from pdebug.model.listeners import api_listener_filter


class ListenerRow(Protocol):
    """What the notes read of a row of :mod:`pdebug.views.listeners`."""

    @property
    def listener(self) -> s.Listener:
        """The listener."""

    @property
    def addresses(self) -> list[str]:
        """Its ADDRESSES cell's addresses."""

    @property
    def port(self) -> int:
        """Its PORT cell."""


def chainless_note(rows: Sequence[ListenerRow], every: bool) -> str:
    """Said when a selected listener has no filter chain, so no row (as in istioctl)."""
    names = ", ".join(
        f"{r.listener.name or '(unnamed)'} {','.join(r.addresses)}:{r.port}" for r in rows[:3]
    )
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    count = f"{len(rows)} listener has" if len(rows) == 1 else f"{len(rows)} listeners have"
    head = "No filter chains to show: " if every else ""
    them = "it" if len(rows) == 1 else "them"
    api = sum(1 for r in rows if api_listener_filter(r.listener) is not None)
    if api == len(rows):
        why = "API listeners: a proxyless gRPC application's, used in-process, no socket"
    elif api:
        why = (
            "API listeners are a proxyless gRPC application's; a UDP proxy or DNS filter "
            "works in a listener filter"
        )
    else:
        why = "a UDP proxy or DNS filter works in a listener filter"
    return (
        f"{head}{count} no filter chain, so no row here, as in istioctl: {names}{more}"
        f" ({why}); -o wide or --no-verbose lists {them}."
    )


def other_ports_note(rows: Sequence[ListenerRow]) -> str | None:
    """Said of listeners that also listen on other ports (``additional_addresses``).

    Cilium's Ingress listener binds 0.0.0.0:80, [::]:80, 0.0.0.0:443 and [::]:443: the
    table's PORT is its first address's (as istioctl prints it), and no cell says 443.
    """
    said: list[tuple[str, str]] = []
    for row in rows:
        extra = [
            join_host_port(a.socket_address.address, a.socket_address.port_value)
            for a in (x.address for x in row.listener.additional_addresses)
            if a is not None
            and a.socket_address is not None
            and a.socket_address.port_value != row.port
        ]
        if extra and row.listener.name not in (n for n, _ in said):
            said.append((row.listener.name or "(unnamed)", ", ".join(extra)))
    if not said:
        return None
    lines = [f"{name} also listens on {where}" for name, where in said[:3]]
    more = f" (and {len(said) - 3} more listeners)" if len(said) > 3 else ""
    return (
        "; ".join(lines)
        + more
        + " (additional_addresses: PORT is the first address's, as istioctl prints it)."
    )


def is_udp(listener: s.Listener) -> bool:
    """Whether the listener's address is UDP (QUIC, HTTP/3, a UDP proxy): -o wide's 443/UDP."""
    a = listener.address
    return (
        a is not None
        and a.socket_address is not None
        and (a.socket_address.protocol.upper() == "UDP")
    )


def udp_note(rows: Sequence[ListenerRow]) -> str | None:
    """Said of UDP listeners on a port a TCP listener has too: alike in istioctl's columns."""
    tcp_ports = {r.port for r in rows if not is_udp(r.listener)}
    udp = [r for r in rows if is_udp(r.listener) and r.port in tcp_ports]
    if not udp:
        return None
    names = ", ".join(
        f"{r.listener.name or '(unnamed)'} ({','.join(r.addresses)}:{r.port})" for r in udp[:3]
    )
    more = f" and {len(udp) - 3} more" if len(udp) > 3 else ""
    return (
        f"UDP beside TCP on one port: {names}{more} (QUIC, HTTP/3); istioctl's columns do "
        "not tell them apart, -o wide marks its PORT /UDP."
    )
