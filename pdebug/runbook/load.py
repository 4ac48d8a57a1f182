"""Read an expectations file: YAML, ``include:``, ``${vars}``, checked against the schema.

Every mistake names the file, the line and the key (a typo'd key is never ignored): the
document is validated with the shipped JSON Schema (``schema.json``, printed by
``pdebug assert --schema``) and the error's path is mapped back to the YAML node's line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdebug.errors import InvalidInput, SourceUnavailable, UsageError
from pdebug.runbook.predicates import Predicate
from pdebug.runbook.predicates import parse as parse_predicate

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
KINDS = ("request", "resource", "check", "certificates", "sync")
_MAX_INCLUDES = 50
_MAX_BYTES = 10_000_000
#: Deeper YAML than this is refused (expectations need under 10 levels).
_MAX_DEPTH = 64


def schema() -> dict[str, Any]:
    """The JSON Schema of an expectations file."""
    import json
    from importlib import resources

    text = resources.files("pdebug.runbook").joinpath("schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@dataclass(frozen=True)
class Selector:
    """Which proxies an expectation applies to."""

    namespaces: tuple[str, ...] = ()
    name: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        parts = []
        if self.namespaces:
            parts.append("namespace " + "|".join(self.namespaces))
        if self.name:
            parts.append(f"name {self.name}")
        parts += [f"{k}={v}" for k, v in self.labels]
        return ", ".join(parts) or "every proxy"


@dataclass(frozen=True)
class Expectation:
    """One thing that must be true, where it was written, and of which proxies."""

    name: str
    kind: str  # request | resource | check | certificates | sync
    spec: dict[str, Any]
    where: str  # FILE:LINE
    selector: Selector = Selector()
    predicates: tuple[Predicate, ...] = ()


@dataclass
class Runbook:
    """The expectations of a file and its includes, in order."""

    path: str
    expectations: list[Expectation] = field(default_factory=list)
    vars: dict[str, str] = field(default_factory=dict)


def load(path: str, overrides: dict[str, str] | None = None) -> Runbook:
    """Read, include, substitute and validate ``path``.

    Raises:
        SourceUnavailable: the file (or an include) cannot be read.
        InvalidInput: it is not YAML, or breaks the schema (file:line: key: what).
        UsageError: ``${NAME}`` names no variable.
    """
    book = Runbook(path)
    docs: list[tuple[Path, dict[str, Any], Any]] = []
    _read(Path(path), docs, [])
    variables: dict[str, str] = {}
    for _, doc, _node in docs:
        for key, value in (doc.get("vars") or {}).items():
            variables.setdefault(str(key), _text(value))
    variables.update(overrides or {})
    book.vars = variables
    for file, doc, node in docs:
        for index, item in enumerate(doc.get("expectations") or []):
            where = f"{file}:{_line(node, ['expectations', index])}"
            try:
                book.expectations.append(_expectation(_subst(item, variables, where), where))
            except UsageError as exc:  # the file's mistake, not the command line's
                raise InvalidInput(exc.message, hint=exc.hint) from None
    if not book.expectations:
        raise InvalidInput(
            f"{'stdin' if path == '-' else path}: no expectations"
            " (an empty runbook would pass without checking anything)",
            hint="list them under expectations: (pdebug assert --schema prints the schema)",
        )
    counts = Counter(e.name for e in book.expectations)
    dupes = sorted(name for name, n in counts.items() if n > 1)
    if dupes:
        first = next(e for e in book.expectations if e.name == dupes[0])
        raise InvalidInput(
            f"{first.where}: expectation name {dupes[0]!r} is used more than once",
            hint="names identify results (and JUnit test cases): make them unique",
        )
    return book


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read(path: Path, docs: list[tuple[Path, dict[str, Any], Any]], stack: list[Path]) -> None:
    if str(path) == "-" and not stack:
        # ``-``: the file on stdin, named "stdin"; its includes are relative to the
        # working directory.
        _parse(Path("stdin"), _stdin_text(), docs, stack, Path("-"))
        return
    real = path.resolve()
    if real in stack:
        chain = " -> ".join(str(p) for p in [*stack, real])
        raise InvalidInput(f"{path}: include loop ({chain})")
    if len(docs) >= _MAX_INCLUDES:
        raise InvalidInput(f"{path}: more than {_MAX_INCLUDES} included files")
    try:
        if path.is_file() and path.stat().st_size > _MAX_BYTES:
            raise InvalidInput(f"{path}: larger than {_MAX_BYTES // 1_000_000} MB")
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise SourceUnavailable(f"{path}: no such expectations file") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})",
            hint="save the expectations file as UTF-8",
        ) from None
    except OSError as exc:
        raise SourceUnavailable(f"{path}: cannot read it ({exc})") from None
    _parse(path, text, docs, stack, real)


def _stdin_text() -> str:
    """The expectations file given as ``-``: stdin, as UTF-8 text."""
    import sys

    data = sys.stdin.buffer.read(_MAX_BYTES + 1)
    if len(data) > _MAX_BYTES:
        raise InvalidInput(f"stdin: larger than {_MAX_BYTES // 1_000_000} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"stdin: not UTF-8 text (byte {exc.start}: {exc.reason})",
            hint="save the expectations file as UTF-8",
        ) from None


def _parse(
    path: Path,
    text: str,
    docs: list[tuple[Path, dict[str, Any], Any]],
    stack: list[Path],
    real: Path,
) -> None:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        # Aliases would let a few lines expand into an exponential tree (a "billion laughs"):
        # an expectations file has no use for them.
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                at = event.start_mark.line + 1 if event.start_mark is not None else 1
                raise InvalidInput(
                    f"{path}:{at}: YAML aliases (*name) are not allowed here",
                    hint="repeat the value, or share it with vars: and include:",
                )
        node = yaml.compose(text, Loader=loader)
        doc = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader, C when built)
    except RecursionError:
        raise InvalidInput(f"{path}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{path}{line}: not valid YAML ({problem})") from None
    if doc is None:
        doc = {}
    _no_duplicate_keys(path, node)
    _validate(path, doc, node)
    docs.append((path, doc, node))
    for include in doc.get("include") or []:
        _read(path.parent / include, docs, [*stack, real])


def _no_duplicate_keys(path: Path, root: Any) -> None:
    """Refuse a key given twice in one mapping, and nesting deeper than ``_MAX_DEPTH``.

    YAML loaders keep the last of two keys silently; the schema check recurses per level.
    """
    import yaml

    todo = [(root, 1)] if root is not None else []
    while todo:
        node, depth = todo.pop()
        if depth > _MAX_DEPTH and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            raise InvalidInput(
                f"{path}:{node.start_mark.line + 1}: nested deeper than {_MAX_DEPTH} levels",
                hint="an expectations file needs a few levels; is this the right file?",
            )
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise InvalidInput(
                            f"{path}:{key.start_mark.line + 1}: key {key.value!r} appears twice "
                            "in one mapping (only the last would count)",
                            hint="merge the two, or make the second a new list item (- name: ...)",
                        )
                    seen.add(key.value)
                todo.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, depth + 1) for item in node.value)


def _validate(path: Path, doc: Any, node: Any) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), e.path))
    if not errors:
        _refuse_nan(path, doc, node)
        return
    err = errors[0]
    where = list(err.absolute_path)
    key = ".".join(str(p) for p in where) or "(top level)"
    message = err.message
    if err.validator == "oneOf" and where[:1] == ["expectations"] and len(where) == 2:
        item = doc["expectations"][where[1]]
        given = [k for k in KINDS if isinstance(item, dict) and k in item]
        message = (
            "an expectation needs exactly one of: request (with expect), resource, check, "
            f"certificates, sync (found: {', '.join(given) or 'none'})"
        )
        if given == ["request"] or (isinstance(item, dict) and "expect" in item and not given):
            message = "request and expect go together"
    elif err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        allowed = ", ".join(err.schema.get("properties", {}))
        message = f"unknown key {', '.join(map(repr, extra))} (allowed: {allowed})"
        for name in extra[:1]:
            where = [*where, name]
    raise InvalidInput(
        f"{path}:{_line(node, where)}: {key}: {message}",
        hint="pdebug assert --schema prints the schema (editors can use it)",
    )


def _refuse_nan(path: Path, doc: Any, node: Any) -> None:
    """``min_days: .nan`` passes the schema (NaN compares false with its bounds)."""
    for i, item in enumerate(doc.get("expectations") or []):
        days = item.get("certificates", {}).get("min_days") if isinstance(item, dict) else None
        if isinstance(days, float) and days != days:
            where = ["expectations", i, "certificates", "min_days"]
            raise InvalidInput(
                f"{path}:{_line(node, where)}: {'.'.join(map(str, where))}: .nan is not a "
                "number of days",
                hint="a number from 0 to 36500",
            )


def _line(node: Any, where: list[Any]) -> int:
    """The 1-based line of the YAML node at ``where`` (the nearest enclosing one)."""
    import yaml

    current = node
    for step in where:
        if isinstance(current, yaml.MappingNode):
            found = None
            for key, value in current.value:
                if key.value == step:
                    found = key if step == where[-1] else value
                    break
            if found is None:
                break
            current = found
        elif isinstance(current, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(current.value):
                break
            current = current.value[step]
        else:
            break
    mark = getattr(current, "start_mark", None)
    return mark.line + 1 if mark is not None else 1


def _subst(value: Any, variables: dict[str, str], where: str) -> Any:
    if isinstance(value, str):

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in variables:
                raise UsageError(
                    f"{where}: ${{{name}}} is not defined",
                    hint=f"add it under vars:, or pass --var {name}=VALUE",
                )
            return variables[name]

        return _VAR.sub(one, value)
    if isinstance(value, list):
        return [_subst(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {_subst(k, variables, where): _subst(v, variables, where) for k, v in value.items()}
    return value


def _expectation(item: dict[str, Any], where: str) -> Expectation:
    kind = next(k for k in KINDS if k in item)
    sel = item.get("proxies") or {}
    namespaces = sel.get("namespace") or ()
    if isinstance(namespaces, str):
        namespaces = (namespaces,)
    selector = Selector(
        tuple(namespaces),
        sel.get("name"),
        tuple(sorted((str(k), str(v)) for k, v in (sel.get("labels") or {}).items())),
    )
    predicates: tuple[Predicate, ...] = ()
    if kind == "resource":
        spec = item["resource"]
        predicates = tuple(
            parse_predicate(p, f"{where}: {item['name']}: where[{i}]")
            for i, p in enumerate(spec.get("where") or [])
        )
        if "name_matches" in spec:
            try:
                re.compile(spec["name_matches"])
            except re.error as exc:
                raise InvalidInput(
                    f"{where}: name_matches is not a regular expression ({exc})"
                ) from None
    return Expectation(str(item["name"]), kind, item, where, selector, predicates)
