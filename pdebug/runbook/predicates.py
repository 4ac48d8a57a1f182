"""The predicate language of expectation files: a field path, an operator, a value.

A path is dotted field names with list steps: ``outlier_detection.consecutive_5xx``,
``virtual_hosts[0].domains``, ``virtual_hosts[*].domains`` (``[*]``: any element) and
``filter_chains[*].filters[*].name``. Field names are Envoy's snake_case; a dump written in
lowerCamelCase is respelled before paths are read, so one file serves both.

Operators (a mapping ``{path, op, value}`` or the short string ``"PATH OP VALUE"``):

========================  =============================================================
``==`` ``!=``             equal / not equal (numbers compare as numbers, ``"5s"`` and
                          ``5s`` alike)
``<`` ``<=`` ``>`` ``>=``  numeric comparison (durations such as ``"5s"`` are seconds)
``exists`` ``absent``     the path leads to a value / to nothing (no ``value``)
``matches``               the value (as text) matches the regular expression
``in``                    the value is one of a list
``contains``              a list at the path has the value, or a text contains it
========================  =============================================================

With ``[*]`` in the path, a predicate holds when it holds for ANY element it reaches
(``absent`` when it holds for none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pdebug.errors import UsageError

OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "exists", "absent", "matches", "in", "contains")
_UNARY = ("exists", "absent")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]")
_SHORT = re.compile(
    r"^\s*(?P<path>[^\s]+)\s+(?P<op>==|!=|<=|>=|<|>|exists|absent|matches|in|contains)"
    r"(?:\s+(?P<value>.+?))?\s*$"
)
_MISSING = object()


@dataclass(frozen=True)
class Predicate:
    """One condition on one resource."""

    path: str
    op: str
    value: Any = None

    def __str__(self) -> str:
        if self.op in _UNARY:
            return f"{self.path} {self.op}"
        return f"{self.path} {self.op} {_show(self.value)}"


def parse(spec: Any, where: str) -> Predicate:
    """A predicate from its mapping or short-string form; :class:`UsageError` naming ``where``."""
    if isinstance(spec, str):
        m = _SHORT.match(spec)
        if m is None:
            raise UsageError(
                f"{where}: cannot read the predicate {spec!r}",
                hint="write 'PATH OP VALUE', e.g. 'outlier_detection.consecutive_5xx >= 3'",
            )
        value: Any = m.group("value")
        if value is not None:
            import yaml

            value = yaml.safe_load(value)
        spec = {"path": m.group("path"), "op": m.group("op"), "value": value}
    path, op = spec.get("path"), spec.get("op", "exists")
    if op not in OPERATORS:
        raise UsageError(f"{where}: unknown operator {op!r}", hint="use " + ", ".join(OPERATORS))
    steps(path, where)
    value = spec.get("value")
    if op not in _UNARY and value is None and "value" not in spec:
        raise UsageError(f"{where}: operator {op!r} needs a value")
    if op == "matches":
        try:
            re.compile(str(value))
        except re.error as exc:
            raise UsageError(f"{where}: {value!r} is not a regular expression ({exc})") from None
    if op == "in" and not isinstance(value, list):
        raise UsageError(f"{where}: 'in' needs a list value")
    return Predicate(str(path), str(op), value)


def steps(path: Any, where: str = "path") -> list[str | int]:
    """``a.b[0][*]`` as ``["a", "b", 0, "*"]``."""
    if not isinstance(path, str) or not path:
        raise UsageError(f"{where}: a predicate needs a path")
    out: list[str | int] = []
    pos = 0
    for m in _STEP.finditer(path):
        gap = path[pos : m.start()]
        if gap not in ("", "."):
            raise UsageError(f"{where}: cannot read the path {path!r}")
        pos = m.end()
        if m.group(1) is not None:
            out.append(m.group(1))
        else:
            index = m.group(2)
            out.append("*" if index == "*" else int(index))
    if path[pos:] not in ("",):
        raise UsageError(f"{where}: cannot read the path {path!r}")
    return out


def resolve(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches in ``obj`` (several with ``[*]``, none when absent)."""
    found = [obj]
    for step in steps(path):
        nxt: list[Any] = []
        for value in found:
            if step == "*":
                if isinstance(value, list):
                    nxt.extend(value)
            elif isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    nxt.append(value[step])
            elif isinstance(value, dict) and step in value:
                nxt.append(value[step])
        found = nxt
    return found


def holds(pred: Predicate, obj: Any) -> tuple[bool, str]:
    """Whether ``pred`` holds on ``obj``, and what was found (for the WHY column)."""
    values = resolve(obj, pred.path)
    if pred.op == "exists":
        return bool(values), _found(values)
    if pred.op == "absent":
        return not values, _found(values)
    ok = any(_compare(pred.op, v, pred.value) for v in values)
    return ok, _found(values)


def _found(values: list[Any]) -> str:
    if not values:
        return "absent"
    if len(values) == 1:
        return _show(values[0])
    shown = ", ".join(_show(v) for v in values[:5])
    return f"[{shown}{', ...' if len(values) > 5 else ''}]"


def _show(value: Any) -> str:
    import orjson

    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)s$")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        text = m.group(1) if m else value.strip()
        try:
            return float(text)
        except ValueError:
            return None
    if isinstance(value, dict) and set(value) <= {"value"}:  # a protobuf wrapper {"value": 3}
        return _number(value.get("value"))
    return None


def _equal(a: Any, b: Any) -> bool:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return bool(a == b)


def _compare(op: str, found: Any, want: Any) -> bool:
    if op == "==":
        return _equal(found, want)
    if op == "!=":
        return not _equal(found, want)
    if op in ("<", "<=", ">", ">="):
        a, b = _number(found), _number(want)
        if a is None or b is None:
            return False
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op == "matches":
        return re.search(str(want), found if isinstance(found, str) else _show(found)) is not None
    if op == "in":
        return any(_equal(found, w) for w in want)
    if op == "contains":
        if isinstance(found, list):
            return any(_equal(item, want) for item in found)
        return isinstance(found, str) and str(want) in found
    return False
