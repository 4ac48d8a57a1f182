"""The #17 fast paths of ``pdebug check`` (perfcheck) answer as their slow paths.

Each fast path is one function that returns None when it cannot answer; replaced by
``lambda *a: None`` (:data:`SLOW`), the code it stands for runs instead. ``check`` and
``check -o json`` over every real dump of fixtures/ (and the same data in istiod's
lowerCamelCase and in mixed spellings, and a generated mesh) must then print the same
bytes with the same exit code; tests/test_fuzz_fastpaths.py does the same over seeded
mutations of them.

* ``sections._planned_clusters``: whether the clusters section lists any cluster, read
  from its planned (strict, whole) decode instead of splitting the section's fields.
* ``load._type_ends`` (loadfast): where each section's type ends (``ConfigDump"``), found
  by a one-byte search for ``D`` instead of the needle search (every command that reads
  a dump in Envoy's layout, ``check`` included, finds its sections so).
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from bench.gendump import generate
from pdebug.model import sections
from pdebug.model.load import load
from pdebug.model.sections import holds_no_clusters
from tests import harness as eh

#: Fast path -> what its callers get when it cannot answer (the slow path then runs).
SLOW: dict[str, Any] = {
    "pdebug.model.sections._planned_clusters": lambda *a, **k: None,
    "pdebug.model.load._type_ends": lambda *a, **k: None,
}


def _inputs() -> dict[str, bytes]:
    found = {
        p.relative_to(eh.FIXTURES).as_posix(): p.read_bytes() for p in eh.corpus_config_dumps()
    }
    for name in ("seed-demo", "sidecar"):
        found[f"real/{name}"] = (eh.FIXTURES / "real" / name / "config_dump.json").read_bytes()
    buf = io.BytesIO()
    generate(buf, 40, seed=5, namespaces=3)
    found["gendump-40"] = buf.getvalue()
    doc = json.loads(found["gendump-40"])
    found["gendump-40-camel"] = json.dumps(eh.camelize(doc)).encode()
    mixed = eh.camelize(doc, keep=0.5, rng=random.Random(7))
    found["gendump-40-mixed"] = json.dumps(mixed).encode()
    return found


INPUTS = _inputs()


def run_both(
    path: Path, args: list[str], pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any]:
    """``pdebug ARGS PATH`` with the fast paths, and with every one of them off."""
    fast = pdebug(*args[:1], path, *args[1:])
    with monkeypatch.context() as m:
        for where, slow in SLOW.items():
            m.setattr(where, slow)
        slow_run = pdebug(*args[:1], path, *args[1:])
    return fast, slow_run


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_check_fast_paths_print_what_the_slow_paths_print(
    name: str, tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(INPUTS[name])
    for args in (["check"], ["check", "-o", "json"]):
        fast, slow = run_both(path, args, pdebug, monkeypatch)
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), args


def test_the_fast_paths_answer_on_envoys_own_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The differential above compares something: Envoy's layout takes the fast paths."""
    answered = []
    real = sections._planned_clusters

    def spy(sec: Any) -> bool | None:
        got = real(sec)
        answered.append(got)
        return got

    monkeypatch.setattr(sections, "_planned_clusters", spy)
    dump = load(INPUTS["real/sidecar"], "x").dump
    assert dump is not None
    from pdebug.model.clusters import by_name

    by_name(dump)  # what the checks read first: the planned decode
    assert holds_no_clusters(dump) is False
    assert answered == [True]


# --- is there a cluster? ----------------------------------------------------------------


def _dump(clusters_fields: str) -> bytes:
    v3 = "type.googleapis.com/envoy.admin.v3."
    return (
        '{"configs": [{"@type": "' + v3 + 'BootstrapConfigDump", "bootstrap": {}},\n'
        '{"@type": "' + v3 + 'ClustersConfigDump"' + clusters_fields + "},\n"
        '{"@type": "' + v3 + 'ListenersConfigDump"}]}'
    ).encode()


_CLUSTER = '{"cluster": {"name": "c", "type": "STATIC"}}'
FIELDS = {
    "none": ("", True),
    "empty": (', "static_clusters": [ ]', True),
    "null": (', "dynamic_active_clusters": null', True),
    "empties": (', "static_clusters": [],\n "dynamic_warming_clusters": [\n]', True),
    "static": (', "static_clusters": [ ' + _CLUSTER + "]", False),
    "warming": (', "static_clusters": [], "dynamic_warming_clusters": [' + _CLUSTER + "]", False),
    "camel": (', "dynamicActiveClusters": [' + _CLUSTER + "]", False),
    "repeated, last empty": (
        ', "static_clusters": [' + _CLUSTER + '], "static_clusters": []',
        True,
    ),
    "repeated, last full": (
        ', "static_clusters": [], "static_clusters": [' + _CLUSTER + "]",
        False,
    ),
    "damage in a cluster": (
        ', "static_clusters": [{"cluster": {"name": "c", "type": "STATIC",'
        ' "outlier_detection": {"consecutive_5xx": 1e400}, "x": 18446744073709551616}}]',
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(FIELDS))
def test_a_dump_without_clusters_is_told_so_on_either_path(case: str) -> None:
    fields, none = FIELDS[case]
    for fast in (True, False):
        dump = load(_dump(fields), "x").dump
        assert dump is not None
        if fast:  # the checks' first read: the section's planned decode
            from pdebug.model.clusters import by_name

            by_name(dump)
        sec = dump.section("clusters")
        assert sec is not None
        assert sec.planned.issuperset(sections._CLUSTER_KEYS) is fast
        assert holds_no_clusters(dump) is none, (case, fast)


@pytest.mark.parametrize(
    "text",
    ["[]", "[ \n ]", "[1]", "{}", "{ }", '{"a": 1}', '""', '"x"', '"\\u0000"', "null", "true"]
    + ["false", "0", "-0", "0.0", "-0.0e5", "0E0", "1", "-1e-5", "1e400", "12345678901234567890"],
)
def test_truthy_judges_a_value_as_python_would(text: str) -> None:
    assert sections._truthy(text.encode()) is bool(json.loads(text))
    assert sections._truthy(b" \t" + text.encode() + b"\n") is bool(json.loads(text))


def test_damage_inside_a_cluster_is_not_the_skip_reasons_error(tmp_path: Path, pdebug: Any) -> None:
    """A ``1e400`` in a static cluster's outlier_detection (a field pdebug keeps raw):
    every check ran and PD401/PD402 said they need live health (as before session 8);
    asking "does the proxy have clusters?" for their skip reason decoded the whole list
    and stopped the run: ``invalid JSON (number is infinity ...)``, exit 4."""
    doc = json.loads(INPUTS["real/sidecar"])
    (sec,) = [s for s in doc["configs"] if "static_clusters" in s]
    sec["static_clusters"][0]["cluster"]["outlier_detection"] = {"consecutive_5xx": 12345}
    text = json.dumps(doc).replace('"consecutive_5xx": 12345', '"consecutive_5xx": 1e400')
    path = tmp_path / "odd.json"
    path.write_text(text)
    got = pdebug("check", path)
    assert got.code in (0, 1), got.err
    assert "Skipped PD401, PD402: needs live endpoint health" in got.out


def test_views_without_endpoints_do_not_decode_the_clusters_to_say_so(
    tmp_path: Path, pdebug: Any
) -> None:
    """The same damage in a dump without an endpoints section: `endpoints` said the
    cluster list was invalid JSON (exit 4) instead of that the section is missing, and
    `all` stopped (exit 4) instead of printing its tables."""
    doc = json.loads(INPUTS["real/sidecar"])
    doc["configs"] = [c for c in doc["configs"] if "EndpointsConfigDump" not in c["@type"]]
    (sec,) = [s for s in doc["configs"] if "static_clusters" in s]
    sec["static_clusters"][0]["cluster"]["outlier_detection"] = {"consecutive_5xx": 12345}
    text = json.dumps(doc).replace('"consecutive_5xx": 12345', '"consecutive_5xx": 1e400')
    path = tmp_path / "odd.json"
    path.write_text(text)
    got = pdebug("endpoints", path)
    assert "invalid JSON" not in got.err
    assert "the dump has no endpoints section" in got.err
    got = pdebug("all", path)
    assert got.code == 0, got.err
