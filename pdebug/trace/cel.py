"""An RBAC policy's CEL ``condition``: the few expressions pdebug can judge.

Envoy's RBAC (checked against a real Envoy 1.40 by ``tests/test_sweep29.py``, on
Envoy's own ``configs/rbac_cel.yaml``): a policy matches when one of its permissions,
one of its principals AND its ``condition`` (or ``checked_condition``'s ``expr``)
match; the condition matches only when it evaluates to ``true``: an error (a header
the request lacks, a type mismatch) or a value that is not a bool is no match.

Read here: string, int, bool and null constants; ``request.path`` (with the query),
``request.url_path``, ``request.host``, ``request.method``, ``request.scheme``,
``request.query``, ``request.useragent``, ``request.referer`` and
``request.headers[NAME]`` / ``request.headers.NAME`` (several values joined with
``,``), ``has(...)`` of them; ``==``, ``!=``, ``&&``, ``||``, ``!``, ``contains``,
``startsWith``, ``endsWith`` (as a method or with two arguments); ``matches`` (RE2's
partial match: a pattern Python's ``re`` reads as RE2 does, ASCII classes), ``<``,
``<=``, ``>``, ``>=`` between two ints or two strings, ``in`` a list of constants or
``request.headers``, ``size()``; ``destination.port`` and ``destination.address``
(``IP:PORT``, when the URL gives the IP), ``source.address`` as far as the client's IP
decides it (``IP:`` and a port only Envoy knows: ``startsWith("10.1.2.3:")`` is true,
``== "10.9.9.9:80"`` false, ``== "10.1.2.3:80"`` unknown), ``source.port`` unknown.
Anything else (other attributes, mixed types, macros) makes the answer unknown, with
the expression shown, never a guess. All checked against Envoy 1.40 by
``tests/test_sweep29.py`` and ``tests/test_trace12.py``.
"""

from __future__ import annotations

from typing import Any

from pdebug.trace.filters import Facts, Match
from pdebug.trace.matchers import as_obj, as_seq, search_bounded
from pdebug.trace.unsure import EDGE, MAYBE_GONE

_MAX_DEPTH = 32


class _Error:
    """A CEL evaluation error (Envoy: the condition does not match)."""

    def __init__(self, why: str) -> None:
        self.why = why


class _Unknown(Exception):
    """pdebug cannot evaluate this expression."""


class _Partial:
    """A string of which only the start is known (``source.address``: ``IP:`` + a port)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def equals(self, other: Any) -> bool:
        if isinstance(other, str) and not other.startswith(self.prefix):
            return False
        raise _Unknown

    def starts(self, other: str) -> bool:
        if self.prefix.startswith(other):
            return True
        if not other.startswith(self.prefix):
            return False
        raise _Unknown

    def has(self, other: str) -> bool:
        if other in self.prefix:
            return True
        raise _Unknown


def render(expr: Any, depth: int = 0) -> str:
    """A CEL expression (its parsed JSON form) as CEL text, for reasons."""
    e = as_obj(expr)
    if depth > _MAX_DEPTH:
        return "..."
    if "const_expr" in e:
        c = as_obj(e["const_expr"])
        if "string_value" in c:
            return '"' + str(c["string_value"]).replace('"', '\\"') + '"'
        for key in ("int64_value", "uint64_value", "double_value"):
            if key in c:
                return str(c[key])
        if "bool_value" in c:
            return "true" if c["bool_value"] else "false"
        return "null"
    if "ident_expr" in e:
        return str(as_obj(e["ident_expr"]).get("name", "?"))
    if "select_expr" in e:
        s = as_obj(e["select_expr"])
        inner = f"{render(s.get('operand'), depth + 1)}.{s.get('field', '?')}"
        return f"has({inner})" if s.get("test_only") else inner
    if "call_expr" in e:
        c = as_obj(e["call_expr"])
        fn = str(c.get("function", "?"))
        args = [render(a, depth + 1) for a in as_seq(c.get("args"))]
        infix = {
            "_==_": "==",
            "_!=_": "!=",
            "_&&_": "&&",
            "_||_": "||",
            "_<_": "<",
            "_<=_": "<=",
            "_>_": ">",
            "_>=_": ">=",
            "@in": "in",
            "_in_": "in",
        }
        if fn in infix and len(args) == 2:
            return f"{args[0]} {infix[fn]} {args[1]}"
        if fn == "!_" and len(args) == 1:
            return f"!{args[0]}"
        if fn == "_[_]" and len(args) == 2:
            return f"{args[0]}[{args[1]}]"
        if "target" in c:
            return f"{render(c['target'], depth + 1)}.{fn}({', '.join(args)})"
        return f"{fn}({', '.join(args)})"
    if "list_expr" in e:
        items = as_seq(as_obj(e["list_expr"]).get("elements"))
        return "[" + ", ".join(render(i, depth + 1) for i in items) + "]"
    return "(expression)"


_REQUEST_HEADER = {"useragent": "user-agent", "referer": "referer"}


def _request_field(field: str, facts: Facts, presence: bool = False) -> Any:
    http = facts.http
    if http is None:
        raise _Unknown  # a network filter sees no request
    if field == "headers":
        return {"__headers__": True}
    if field in ("path", "url_path", "host", "method", "scheme", "query"):
        value = {
            "path": http.path,
            "url_path": http.path_only,
            "host": http.authority,
            "method": http.method,
            "scheme": http.scheme,
            "query": http.query,
        }[field]
        return value
    if field in _REQUEST_HEADER:
        return _header(_REQUEST_HEADER[field], facts, presence)
    raise _Unknown


def _header(name: str, facts: Facts, presence: bool = False) -> Any:
    http = facts.http
    if http is None:
        raise _Unknown
    name = name.lower()
    unsure = dict(facts.unsure_headers)
    if (name.startswith("x-envoy-") and EDGE in unsure) or MAYBE_GONE + name in unsure:
        raise _Unknown  # whether Envoy keeps the header at all
    if name in unsure and not presence:
        raise _Unknown  # a value only Envoy knows (x-request-id...)
    values = http.values(name)
    if values is None:
        return _Error(f"the request has no {name} header")
    return ",".join(values)


def _peer_field(peer: str, field: str, facts: Facts) -> Any:
    """``destination.port``/``.address``, ``source.address``/``.port``.

    Envoy's downstream local and remote addresses: the remote one after the connection
    manager's x-forwarded-for rules (RBAC's ``remote_ip``).
    """
    if peer == "destination":
        if field == "port":
            return facts.dest_port
        if field == "address" and facts.dest_ip is not None:
            ip = str(facts.dest_ip)
            return f"[{ip}]:{facts.dest_port}" if ":" in ip else f"{ip}:{facts.dest_port}"
        raise _Unknown
    if field == "address" and facts.remote_ip is not None:
        ip = str(facts.remote_ip)
        return _Partial(f"[{ip}]:" if ":" in ip else f"{ip}:")  # the port: the client's own
    raise _Unknown


def _eval(expr: Any, facts: Facts, depth: int) -> Any:
    e = as_obj(expr)
    if depth > _MAX_DEPTH:
        raise _Unknown
    if "const_expr" in e:
        c = as_obj(e["const_expr"])
        if "string_value" in c:
            return str(c["string_value"])
        if "bool_value" in c:
            return bool(c["bool_value"])
        for key in ("int64_value", "uint64_value"):
            if key in c:
                return int(c[key])
        raise _Unknown
    if "select_expr" in e:
        s = as_obj(e["select_expr"])
        field = str(s.get("field", ""))
        operand = as_obj(s.get("operand"))
        ident = as_obj(operand.get("ident_expr")).get("name")
        if ident in ("source", "destination") and not s.get("test_only"):
            return _peer_field(str(ident), field, facts)
        if ident == "request":
            value = _request_field(field, facts, presence=bool(s.get("test_only")))
            if s.get("test_only"):
                return not isinstance(value, _Error)
            return value
        base = _eval(operand, facts, depth + 1)
        if isinstance(base, dict) and base.get("__headers__"):
            value = _header(field, facts, presence=bool(s.get("test_only")))
            if s.get("test_only"):
                return not isinstance(value, _Error)
            return value
        raise _Unknown
    if "call_expr" in e:
        return _call(as_obj(e["call_expr"]), facts, depth)
    if "list_expr" in e:
        return [_eval(i, facts, depth + 1) for i in as_seq(as_obj(e["list_expr"]).get("elements"))]
    raise _Unknown


def _same_kind(a: Any, b: Any) -> bool:
    """Two values CEL compares without its heterogeneous rules (which differ by version)."""
    return type(a) is type(b) and isinstance(a, (str, int, bool))


def _matches(text: Any, pattern: Any) -> Any:
    """CEL's ``matches``: RE2's partial match."""
    if isinstance(text, _Partial):
        raise _Unknown
    if not (isinstance(text, str) and isinstance(pattern, str)):
        return _Error("no matching overload")
    from pdebug.trace.re2 import compile_re2

    rx = compile_re2(pattern)
    if rx is None:
        raise _Unknown
    found = search_bounded(rx, text)
    if found is None:
        raise _Unknown
    if not (text.isascii() and pattern.isascii()):
        # RE2 over bytes (Envoy's own regexes) or over UTF-8 (cel-cpp may read it so):
        # an answer only where both readings agree, and no (?i), which folds Unicode in UTF-8
        if rx.folds or search_bounded(rx.chars, text) is not found:
            raise _Unknown
    return found


def _compare(fn: str, a: Any, b: Any) -> Any:
    if not _same_kind(a, b) or isinstance(a, bool):
        raise _Unknown
    return {"_<_": a < b, "_<=_": a <= b, "_>_": a > b, "_>=_": a >= b}[fn]


def _member(item: Any, container: Any, facts: Facts) -> Any:
    """``item in container``: a list of values, or the request's headers (a name)."""
    if isinstance(container, dict) and container.get("__headers__") and isinstance(item, str):
        return not isinstance(_header(item, facts, presence=True), _Error)
    if not isinstance(container, list) or isinstance(item, _Partial):
        raise _Unknown
    if any(not _same_kind(item, v) for v in container):
        raise _Unknown
    return item in container


def _call(c: dict[str, Any], facts: Facts, depth: int) -> Any:
    fn = str(c.get("function", ""))
    args = list(as_seq(c.get("args")))
    if "target" in c:
        args.insert(0, c["target"])
    if fn in ("_&&_", "_||_") and len(args) == 2:
        left, right = (_eval(a, facts, depth + 1) for a in args)
        absorbing = fn == "_||_"  # true || x is true; false && x is false
        if left is absorbing or right is absorbing:
            return absorbing
        for v in (left, right):
            if isinstance(v, _Error):
                return v
            if not isinstance(v, bool):
                return _Error("no matching overload")
        return not absorbing
    vals = [_eval(a, facts, depth + 1) for a in args]
    for v in vals:
        if isinstance(v, _Error):
            return v
    if fn == "!_" and len(vals) == 1:
        return (not vals[0]) if isinstance(vals[0], bool) else _Error("no matching overload")
    if fn in ("_==_", "_!=_") and len(vals) == 2:
        a, b = vals
        if isinstance(b, _Partial):
            a, b = b, a
        if isinstance(a, _Partial):
            same = a.equals(b)
            return same if fn == "_==_" else not same
        if type(a) is not type(b) or isinstance(a, (dict, list)):
            raise _Unknown  # CEL's heterogeneous equality differs between versions
        return (a == b) if fn == "_==_" else (a != b)
    if fn in ("contains", "startsWith", "endsWith") and len(vals) == 2:
        a, b = vals
        if isinstance(a, _Partial) and isinstance(b, str) and fn != "endsWith":
            return a.starts(b) if fn == "startsWith" else a.has(b)
        if not (isinstance(a, str) and isinstance(b, str)):
            if isinstance(a, _Partial):
                raise _Unknown
            return _Error("no matching overload")
        return {"contains": b in a, "startsWith": a.startswith(b), "endsWith": a.endswith(b)}[fn]
    if fn == "matches" and len(vals) == 2:
        return _matches(vals[0], vals[1])
    if fn in ("_<_", "_<=_", "_>_", "_>=_") and len(vals) == 2:
        return _compare(fn, vals[0], vals[1])
    if fn in ("@in", "_in_") and len(vals) == 2:
        return _member(vals[0], vals[1], facts)
    if fn == "size" and len(vals) == 1 and isinstance(vals[0], (str, list)):
        return len(vals[0])
    if fn == "_[_]" and len(vals) == 2:
        base, key = vals
        if isinstance(base, dict) and base.get("__headers__") and isinstance(key, str):
            return _header(key, facts)
        raise _Unknown
    raise _Unknown


def condition(policy: dict[str, Any], facts: Facts) -> Match | None:
    """The policy's CEL condition over the request; None when the policy has none."""
    expr = policy.get("condition")
    if expr is None and "checked_condition" in policy:
        expr = as_obj(policy["checked_condition"]).get("expr")
    if expr is None:
        return None
    text = render(expr)
    try:
        value = _eval(expr, facts, 0)
    except (_Unknown, RecursionError, ValueError, TypeError):
        return None, f"CEL condition {text} (not evaluated by pdebug)"
    if isinstance(value, _Error):
        return False, f"CEL condition {text} is an error ({value.why}): no match"
    if value is True:
        return True, f"CEL condition {text} is true"
    if value is False:
        return False, f"CEL condition {text} is false"
    return False, f"CEL condition {text} is not a bool: no match"
