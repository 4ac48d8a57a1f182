"""Evaluate a listener's ``filter_chain_matcher`` (an xDS matcher tree) for one connection.

Istio's waypoints (ambient) pick the filter chain of their ``main_internal`` listener this
way instead of ``filter_chain_match``: a tree of inputs (destination IP, destination port,
application protocol...) whose leaves name a filter chain. The tree is plain data in the
dump; this module walks it the way Envoy's matcher framework does:

* ``matcher_tree``: read one input, then ``exact_match_map`` (the value equals a key),
  ``prefix_match_map`` (the longest key that prefixes the value) or ``custom_match`` with
  ``xds.type.matcher.v3.IPMatcher`` (the longest CIDR range containing the IP);
* ``matcher_list``: the first ``field_matchers`` entry whose predicate holds
  (``single_predicate`` with ``value_match`` exact/prefix/suffix/contains/safe_regex, and
  ``and_matcher``/``or_matcher``/``not_matcher``);
* a match leads to ``on_match``: an ``action`` (the filter chain's name, a
  ``google.protobuf.StringValue``) or a nested ``matcher``; no match leads to the
  matcher's ``on_no_match``; nothing at all means "no filter chain".

A field of the tree pdebug does not know is reported (the trace says so), never guessed:
the walk stops with :attr:`Result.unsupported` saying what it met.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from pdebug.model import schema as s
from pdebug.model.dump import plain_json

if TYPE_CHECKING:
    from pdebug.trace.re2 import Re2, Re2Match

Json = dict[str, Any]


def as_obj(value: Any) -> Json:
    """``value`` if the (untyped, possibly damaged) JSON holds an object there, else ``{}``."""
    return value if isinstance(value, dict) else {}


def as_seq(value: Any) -> list[Any]:
    """``value`` if the (untyped, possibly damaged) JSON holds an array there, else ``[]``."""
    return value if isinstance(value, list) else []


@dataclass
class Inputs:
    """What Envoy knows about the connection (``None``: unknown)."""

    destination_ip: str | None = None
    destination_port: int | None = None
    source_ip: str | None = None
    source_port: int | None = None
    direct_source_ip: str | None = None
    server_name: str = ""
    transport_protocol: str = "raw_buffer"
    application_protocols: tuple[str, ...] = ()
    #: Filter state objects known to hold a value (``FilterStateInput`` by key); any
    #: other key is unknown.
    filter_state: dict[str, str] = field(default_factory=dict)
    #: An HTTP request's headers (lower-case names), for a route's matchers (a cluster
    #: specifier plugin's); None on a connection.
    http_headers: dict[str, list[str]] | None = None

    def read(self, input_: Json) -> str | None | _Unknown:
        """The value of one matcher input, as Envoy's input of that type gives it.

        An input pdebug does not read is :class:`_Unknown`, not None (the value is unknown).
        """
        kind = str(as_obj(input_.get("typed_config")).get("@type", "")).rsplit(".", 1)[-1]
        if kind == "DestinationIPInput":
            return self.destination_ip
        if kind == "DestinationPortInput":
            return None if self.destination_port is None else str(self.destination_port)
        if kind == "SourceIPInput":
            return self.source_ip
        if kind == "SourcePortInput":
            return None if self.source_port is None else str(self.source_port)
        if kind == "DirectSourceIPInput":
            return self.direct_source_ip or self.source_ip
        if kind == "ServerNameInput":
            return self.server_name
        if kind == "TransportProtocolInput":
            return self.transport_protocol
        if kind == "ApplicationProtocolInput":
            # Envoy joins the protocols, each single-quoted: 'h2c','http/1.1'
            return ",".join(f"'{p}'" for p in self.application_protocols)
        if kind == "FilterStateInput":
            key = as_obj(input_.get("typed_config")).get("key")
            if isinstance(key, str) and key in self.filter_state:
                return self.filter_state[key]
            return _Unknown(f"matcher input FilterStateInput (filter state {key!r})")
        if kind == "HttpRequestHeaderMatchInput" and self.http_headers is not None:
            header = str(as_obj(input_.get("typed_config")).get("header_name", "")).lower()
            values = self.http_headers.get(":authority" if header == "host" else header)
            # Envoy joins a repeated header's values with ","; an absent header matches
            # no key (the matcher's on_no_match)
            return ",".join(values) if values else ABSENT
        return _Unknown(f"matcher input {kind or str(input_.get('name') or '?')}")


@dataclass
class _Unknown:
    """What pdebug cannot evaluate, and stops the walk at."""

    why: str


class _Absent(str):
    """An input with no value (an absent header): it matches nothing."""

    __slots__ = ()


ABSENT = _Absent("")


@dataclass
class Result:
    """Where the tree led: the action's name (a filter chain), and the steps taken.

    ``unsupported`` (when not empty) says what stopped the walk: an input or a match type
    pdebug does not evaluate, or an input whose value is unknown (e.g. the destination IP of
    a host name); ``action`` is then None and means nothing.
    """

    action: str | None
    steps: list[str] = field(default_factory=list)
    unsupported: str = ""


def snake_tree(tree: Any, keys_are_data: bool = False) -> Any:
    """``tree`` with its field names in snake_case, whichever spelling each used.

    istiod writes lowerCamelCase. The keys of an ``exact_match_map``/``prefix_match_map``
    ``map`` are data (ports, protocols, chain names) and are kept as they are.
    """
    from pdebug.model.camel import to_snake

    if isinstance(tree, list):
        return [snake_tree(v) for v in tree]
    if not isinstance(tree, dict):
        return tree
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = key if keys_are_data or key.startswith("@") else to_snake(key)
        out[name] = snake_tree(value, keys_are_data=name == "map")
    return out


def is_set(raw: msgspec.Raw) -> bool:
    """Whether a raw field of the dump is present (not absent, not ``null``)."""
    return len(raw) > 0 and bytes(raw) != b"null"


def listener_tree(listener: s.Listener) -> Any:
    """The listener's ``filter_chain_matcher`` as plain data, in snake_case.

    Damage JSON itself allows but plain data cannot hold (a lone surrogate escape) is
    :class:`~pdebug.errors.InvalidInput` naming the listener.
    """
    what = f"listener {listener.name!r}: filter_chain_matcher"
    return snake_tree(plain_json(listener.filter_chain_matcher, what))


def evaluate(matcher: Json, inputs: Inputs) -> Result:
    """Walk ``matcher`` for ``inputs``; see :attr:`Result.unsupported`."""
    result = Result(None)
    found = _matcher(matcher, inputs, result.steps, 0)
    if isinstance(found, _Unknown):
        result.unsupported = found.why
    else:
        result.action = found
    return result


_MAX_DEPTH = 32
#: A branch of the tree: the ``on_match`` it leads to (None: no match), or what stopped it.
_Branch = Json | None | _Unknown


def _matcher(m: Json, inputs: Inputs, steps: list[str], depth: int) -> str | None | _Unknown:
    if depth > _MAX_DEPTH:
        return _Unknown("a matcher tree nested deeper than 32 levels")
    if not isinstance(m, dict):
        return _Unknown("a matcher that is not an object")
    found: _Branch
    if "matcher_tree" in m:
        found = _tree(m["matcher_tree"], inputs, steps)
    elif "matcher_list" in m:
        found = _list(m["matcher_list"], inputs, steps)
    else:
        return _Unknown("a matcher with neither matcher_tree nor matcher_list")
    if isinstance(found, _Unknown):
        return found
    if found is None:
        no_match = m.get("on_no_match")
        if not isinstance(no_match, dict):
            steps.append("no match and no on_no_match")
            return None
        steps.append("no match: on_no_match")
        found = no_match
    return _on_match(found, inputs, steps, depth)


def _on_match(
    on_match: Json, inputs: Inputs, steps: list[str], depth: int
) -> str | None | _Unknown:
    if not isinstance(on_match, dict):
        return _Unknown("an on_match that is not an object")
    if "matcher" in on_match:
        return _matcher(on_match["matcher"], inputs, steps, depth + 1)
    action = on_match.get("action")
    if not isinstance(action, dict):
        return _Unknown("an on_match with neither action nor matcher")
    config = as_obj(action.get("typed_config"))
    value = config.get("value")
    if str(config.get("@type", "")).endswith(".ClusterAction"):
        value = config.get("cluster")  # a route's matcher cluster specifier plugin
    return str(value if isinstance(value, str) else action.get("name") or "")


def _input_value(input_: Any, inputs: Inputs, steps: list[str]) -> str | _Unknown:
    if not isinstance(input_, dict):
        return _Unknown("a matcher without an input")
    value = inputs.read(input_)
    if isinstance(value, _Unknown):
        return value
    name = str(as_obj(input_.get("typed_config")).get("@type", "")).rsplit(".", 1)[-1]
    if isinstance(value, _Absent):
        header = as_obj(input_.get("typed_config")).get("header_name")
        steps.append(f"header {header} absent" if header else f"{name} absent")
        return value
    if value is None:
        return _Unknown(f"{name} is not known for this request (give an IP address)")
    steps.append(f"{name} = {value}")
    return value


def _tree(tree: Json, inputs: Inputs, steps: list[str]) -> _Branch:
    if not isinstance(tree, dict):
        return _Unknown("a matcher_tree that is not an object")
    value = _input_value(tree.get("input"), inputs, steps)
    if isinstance(value, _Unknown):
        return value
    if isinstance(value, _Absent):
        return None
    if "exact_match_map" in tree:
        table = as_obj(as_obj(tree["exact_match_map"]).get("map"))
        hit = table.get(value)
        steps.append(f"exact match {value!r}: {'yes' if hit is not None else 'no'}")
        return hit if isinstance(hit, dict) else None
    if "prefix_match_map" in tree:
        table = as_obj(as_obj(tree["prefix_match_map"]).get("map"))
        keys = sorted((k for k in table if value.startswith(k)), key=len, reverse=True)
        steps.append(f"prefix match {value!r}: {keys[0]!r}" if keys else f"no prefix of {value!r}")
        hit = table[keys[0]] if keys else None
        return hit if isinstance(hit, dict) else None
    custom = tree.get("custom_match")
    if isinstance(custom, dict):
        config = as_obj(custom.get("typed_config"))
        kind = str(config.get("@type", "")).rsplit(".", 1)[-1]
        if kind == "IPMatcher":
            return _ip_matcher(config, value, steps)
        return _Unknown(f"custom match {kind or '?'}")
    return _Unknown("a matcher_tree with no known match")


def _ip_matcher(config: Json, value: str, steps: list[str]) -> Json | None:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        steps.append(f"{value!r} is not an IP address: no range matches")
        return None
    best: tuple[int, Json, str] | None = None
    for rm in as_seq(config.get("range_matchers")):
        for r in as_seq(as_obj(rm).get("ranges")):
            if not isinstance(r, dict):
                continue
            try:
                net = ipaddress.ip_network(
                    f"{r.get('address_prefix', '')}/{int(r.get('prefix_len', 0))}", strict=False
                )
            except (ValueError, TypeError, OverflowError):
                continue
            better = best is None or net.prefixlen > best[0]
            if ip.version == net.version and ip in net and better:
                best = (net.prefixlen, as_obj(rm.get("on_match")), str(net))
    steps.append(f"{ip} in {best[2]}" if best else f"{ip} is in no range")
    return best[1] if best else None


def _list(lst: Json, inputs: Inputs, steps: list[str]) -> _Branch:
    for fm in as_seq(as_obj(lst).get("matchers")):
        holds = _predicate(as_obj(as_obj(fm).get("predicate")), inputs, steps)
        if isinstance(holds, _Unknown):
            return holds
        if holds:
            on_match = as_obj(fm).get("on_match")
            return on_match if isinstance(on_match, dict) else None
    return None


def _predicate(p: Json, inputs: Inputs, steps: list[str]) -> bool | _Unknown:
    if "single_predicate" in p:
        sp = as_obj(p["single_predicate"])
        value = _input_value(sp.get("input"), inputs, steps)
        if isinstance(value, _Unknown):
            return value
        if isinstance(value, _Absent):
            return False
        vm = sp.get("value_match")
        if not isinstance(vm, dict):
            return _Unknown("a single_predicate without value_match")
        return _string_match(vm, value)
    for key, every in (("and_matcher", True), ("or_matcher", False)):
        if key in p:
            # all() / any() in order, stopping at the first unknown as Envoy would fail
            for sub in as_seq(as_obj(p[key]).get("predicate")):
                holds = _predicate(as_obj(sub), inputs, steps)
                if isinstance(holds, _Unknown) or holds != every:
                    return holds
            return every
    if "not_matcher" in p:
        holds = _predicate(as_obj(p["not_matcher"]), inputs, steps)
        return holds if isinstance(holds, _Unknown) else not holds
    return _Unknown("a predicate pdebug does not evaluate")


#: Seconds one regex match may take. Python's ``re`` backtracks where Envoy's RE2 runs in
#: linear time: ``/(a+)+`` against ``/aaaa…a!`` is exponential, and a route regex like
#: ``^/api/([a-z]+/?)+$`` against a long non-matching path hung ``trace`` (and ``assert``).
REGEX_BUDGET = 0.5


class _RegexTimeout(Exception):
    pass


def _expire(signum: int, frame: object) -> None:
    raise _RegexTimeout


#: A quantified group, or two unbounded quantifiers: the patterns that can backtrack
#: much (``(a+)+``, ``(a|aa)*``, ``.*x.*y``); a plain ``/api/v[0-9]+/.*`` cannot.
_BACKTRACKS = re.compile(r"\)[*+{?]|[*+}][^*+]*[*+]")
_RISKY: dict[str, bool] = {}


def _backtracks(pattern: str) -> bool:
    risky = _RISKY.get(pattern)
    if risky is None:
        risky = _RISKY[pattern] = _BACKTRACKS.search(pattern) is not None
    return risky


def fullmatch_bounded(rx: re.Pattern[str] | Re2, text: str) -> bool | None:
    """Whether ``rx`` matches all of ``text``; None when it ran past :data:`REGEX_BUDGET`.

    Bounded by SIGALRM (``re`` checks signals while it backtracks) in the main thread
    when no other interval timer is set; elsewhere the match runs unbounded, as before.
    """
    found = _bounded(rx, text, lambda: rx.fullmatch(text) is not None)
    return None if found is _GAVE_UP else bool(found)


def search_bounded(rx: re.Pattern[str] | Re2, text: str) -> bool | None:
    """Whether ``rx`` matches somewhere in ``text``; None past :data:`REGEX_BUDGET` (as above)."""
    found = _bounded(rx, text, lambda: rx.search(text) is not None)
    return None if found is _GAVE_UP else bool(found)


def sub_bounded(rx: Re2, repl: Callable[[Re2Match], str], text: str) -> str | None:
    """``rx.sub(repl, text)``; None when it ran past :data:`REGEX_BUDGET` (as above)."""
    done = _bounded(rx, text, lambda: rx.sub(repl, text))
    return None if done is _GAVE_UP else str(done)


_GAVE_UP = object()


def _bounded(rx: re.Pattern[str] | Re2, text: str, run: Callable[[], object]) -> object:
    """``run()`` (a search with ``rx`` over ``text``), or :data:`_GAVE_UP` past the budget."""
    if len(text) < 16 or not _backtracks(rx.pattern):
        return run()  # the common case: no timer (11 us) needed
    import signal
    import threading

    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
        or signal.getitimer(signal.ITIMER_REAL)[0]
    ):
        return run()
    old = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, REGEX_BUDGET)
    try:
        return run()
    except _RegexTimeout:
        return _GAVE_UP
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """``text`` with ASCII letters lowered only: a ``StringMatcher``'s ``ignore_case``.

    Envoy 1.40 folds ASCII alone (``É`` is not ``é``, the Kelvin sign not ``k``: checked,
    tests/test_review15.py); Python's ``str.lower`` folds Unicode.
    """
    return text.translate(_ASCII_LOWER)


def _string_match(vm: Json, value: str) -> bool | _Unknown:
    fold = bool(vm.get("ignore_case"))
    text = ascii_lower(value) if fold else value

    def want(key: str) -> str:
        raw = str(vm[key])
        return ascii_lower(raw) if fold else raw

    if "exact" in vm:
        return text == want("exact")
    if "prefix" in vm:
        return text.startswith(want("prefix"))
    if "suffix" in vm:
        return text.endswith(want("suffix"))
    if "contains" in vm:
        return want("contains") in text
    if "safe_regex" in vm:
        pattern = str(as_obj(vm["safe_regex"]).get("regex", ""))
        from pdebug.trace.re2 import compile_re2

        rx = compile_re2(pattern)
        if rx is None:
            return _Unknown(f"regex {pattern!r}, which pdebug cannot read as RE2 does")
        found = fullmatch_bounded(rx, value)  # bounded: Python's re backtracks where RE2 cannot
        if found is None:
            return _Unknown(f"regex {pattern!r}: pdebug gave up after {REGEX_BUDGET}s")
        return found
    return _Unknown("a string match pdebug does not evaluate")
