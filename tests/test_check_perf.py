"""The #17 fast paths of ``pdebug check`` (perfcheck) answer as their slow paths.

Each fast path is one function that returns None when it cannot answer; replaced by
``lambda *a: None`` (:data:`SLOW`), the code it stands for runs instead. ``check`` and
``check -o json`` over every real dump of fixtures/ (and the same data in istiod's
lowerCamelCase and in mixed spellings, and a generated mesh) must then print the same
bytes with the same exit code; tests/test_fuzz_fastpaths.py does the same over seeded
mutations of them.

* ``sections._planned_clusters``: whether the clusters section lists any cluster, read
  from its planned (strict, whole) decode instead of splitting the section's fields.
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


# --- the endpoint checks in a forked child (perfcheck2) ---------------------------------


def _jobs(
    path: Path, args: list[str], jobs: str, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, bool]:
    """``pdebug ARGS PATH`` with ``PDEBUG_JOBS=jobs``; and whether it forked."""
    from pdebug import parallel

    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", jobs)
        m.setattr(parallel, "_threads_alive", lambda: False)  # threads other tests left
        before = parallel.FORKS[0]
        got = pdebug(*args[:1], path, *args[1:])
        return got, parallel.FORKS[0] > before


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_forked_check_prints_what_one_process_prints(
    name: str, tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(INPUTS[name])
    for args in (["check"], ["check", "-o", "json"], ["check", "--ignore", "PD104,PD201"]):
        one, forked_one = _jobs(path, args, "1", pdebug, monkeypatch)
        many, forked = _jobs(path, args, "3", pdebug, monkeypatch)
        assert (many.code, many.out, many.err) == (one.code, one.out, one.err), args
        assert not forked_one
        # a readable dump with endpoints has the endpoint checks forked
        eds = b"EndpointsConfigDump" in INPUTS[name]
        assert forked or not eds or one.code not in (0, 1), args


def test_forked_check_with_live_health(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--clusters-json``: the child reads the live health for PD401/PD402."""
    real = eh.FIXTURES / "real" / "sidecar"
    health = sorted(real.glob("clusters*.json"))
    assert health, "the sidecar fixture's /clusters?format=json"
    args = ["check", "--clusters-json", str(health[0])]
    one, _ = _jobs(real / "config_dump.json", args, "1", pdebug, monkeypatch)
    many, forked = _jobs(real / "config_dump.json", args, "2", pdebug, monkeypatch)
    assert (many.code, many.out, many.err) == (one.code, one.out, one.err)
    assert forked


def test_a_failing_child_is_replaced_by_this_process(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a child's check raises or prints, the parent runs again in its turn."""
    import os

    from pdebug.checks import context

    path = tmp_path / "dump.json"
    path.write_bytes(INPUTS["real/sidecar"])
    one, _ = _jobs(path, ["check"], "1", pdebug, monkeypatch)
    me = os.getpid()
    real = context.host_sets

    def broken(*args: Any) -> Any:
        if os.getpid() != me:
            raise RuntimeError("child")
        return real(*args)

    monkeypatch.setattr(context, "host_sets", broken)
    many, forked = _jobs(path, ["check"], "2", pdebug, monkeypatch)
    assert forked
    assert (many.code, many.out, many.err) == (one.code, one.out, one.err)


def test_the_endpoint_checks_run_in_the_child(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On two CPUs the child gets every endpoint check and nothing else."""
    from pdebug import checks, parallel

    path = tmp_path / "dump.json"
    path.write_bytes(INPUTS["real/sidecar"])
    seen: list[list[str]] = []
    real = parallel.groups

    def spy(weights: Any, n: int, together: Any = ()) -> list[list[int]]:
        got = real(weights, n, together)
        seen.append([",".join(str(i) for i in g) for g in got])
        return got

    monkeypatch.setattr(parallel, "groups", spy)
    _jobs(path, ["check"], "2", pdebug, monkeypatch)
    codes = [c.code for c in checks.ALL_CHECKS]
    rest = codes[codes.index("PD202") :]
    (parts,) = seen
    child = [rest[int(i)] for i in parts[1].split(",")]
    assert set(child) == checks._ENDPOINT_CHECKS
    here = [rest[int(i)] for i in parts[0].split(",")]
    assert not set(here) & checks._ENDPOINT_CHECKS


def test_small_dumps_fork_nothing_by_default(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pdebug import parallel

    path = tmp_path / "dump.json"
    path.write_bytes(INPUTS["gendump-40"])
    monkeypatch.delenv("PDEBUG_JOBS", raising=False)
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)
    before = parallel.FORKS[0]
    assert pdebug("check", path).code in (0, 1)
    assert parallel.FORKS[0] == before


#: ``pdebug check`` whose endpoint checks take a minute in the child: interrupted meanwhile.
_SLOW_CHILD = (
    "import os, sys, time\n"
    "from pdebug.checks import context\n"
    "real = context.host_sets\n"
    "me = os.getpid()\n"
    "def slow(*args):\n"
    "    if os.getpid() != me:\n"
    "        time.sleep(60)\n"
    "    return real(*args)\n"
    "context.host_sets = slow\n"
    "from pdebug.cli import main\n"
    "sys.argv = ['pdebug', 'check', sys.argv[1]]\n"
    "main()\n"
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_interrupted_while_the_child_checks(how: str) -> None:
    """Exit 130, ``pdebug: interrupted``, nothing printed, no child left behind."""
    import os
    import subprocess
    import sys
    import time

    root = eh.FIXTURES.parent
    env = {**os.environ, "PYTHONPATH": str(root), "PDEBUG_JOBS": "2"}
    dump = eh.FIXTURES / "real" / "sidecar" / "config_dump.json"
    with eh.job([sys.executable, "-c", _SLOW_CHILD, str(dump)], env) as proc:
        deadline = time.monotonic() + 30
        kids: list[int] = []
        while time.monotonic() < deadline and not kids:
            time.sleep(0.05)
            kids = eh.child_pids(proc.pid)
        assert kids, "a child checking"
        time.sleep(0.3)
        assert all(eh.pid_alive(k) for k in kids), "the child still sleeps"
        out, err = eh.interrupt(proc, how)
    assert isinstance(proc, subprocess.Popen)
    eh.assert_interrupted(proc, out, err, kids)
