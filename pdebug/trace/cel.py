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
``startsWith``, ``endsWith`` (as a method or with two arguments). Anything else (other
attributes, ``matches``, comparisons, lists, macros) makes the answer unknown, with the
expression shown, never a guess.
"""

from __future__ import annotations

from typing import Any

from pdebug.trace.filters import Facts, Match
from pdebug.trace.matchers import as_obj, as_seq
from pdebug.trace.unsure import EDGE, MAYBE_GONE

_MAX_DEPTH = 32


class _Error:
    """A CEL evaluation error (Envoy: the condition does not match)."""

    def __init__(self, why: str) -> None:
        self.why = why


class _Unknown(Exception):
    """pdebug cannot evaluate this expression."""


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
        if as_obj(operand.get("ident_expr")).get("name") == "request":
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
    raise _Unknown


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
        if type(a) is not type(b) or isinstance(a, dict):
            raise _Unknown  # CEL's heterogeneous equality differs between versions
        return (a == b) if fn == "_==_" else (a != b)
    if fn in ("contains", "startsWith", "endsWith") and len(vals) == 2:
        a, b = vals
        if not (isinstance(a, str) and isinstance(b, str)):
            return _Error("no matching overload")
        return {"contains": b in a, "startsWith": a.startswith(b), "endsWith": a.endswith(b)}[fn]
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
