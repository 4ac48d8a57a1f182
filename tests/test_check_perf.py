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
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.gendump import generate
from pdebug import parallel
from pdebug.errors import PdebugError
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


# --- the EDS section read by a forked child (perfcheck5) ----------------------------------
#
# ``pdebug check`` forks a child at the start of run_checks that decodes the endpoints
# section and sends back each assignment's facts (pdebug.model.hosts.eds_facts); the
# parent's host sets are made of them. ``PDEBUG_JOBS=2`` forks whatever the dump's size
# (the documented override, as for pdebug.parallel.fork_map): every input below is
# checked forked and in one process (``PDEBUG_JOBS=1``), and must print the same bytes.


def _shared_corpus() -> dict[str, bytes]:
    for root in (eh.FIXTURES.parents[1] / "shared" / "corpus", Path("/work/shared/corpus")):
        if root.is_dir():
            return {
                f"shared/{p.relative_to(root).as_posix()}": p.read_bytes()
                for p in sorted(root.rglob("*.json"))
                if b'"configs"' in p.read_bytes()[:4096]
            }
    return {}


def _eds_variants() -> dict[str, bytes]:
    """The generated mesh with what the EDS facts must get right, one thing at a time."""
    doc = json.loads(INPUTS["gendump-40"])
    (eds,) = [c for c in doc["configs"] if c["@type"].endswith("EndpointsConfigDump")]
    out: dict[str, bytes] = {}

    def variant(name: str, change: Any) -> None:
        copy = json.loads(json.dumps(doc))
        (sec,) = [c for c in copy["configs"] if c["@type"].endswith("EndpointsConfigDump")]
        change(copy, sec)
        out[f"gendump-40-{name}"] = json.dumps(copy, indent=1).encode()

    statuses = ["HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED", None, "UNHEALTHY"]

    def mixed(doc: Any, sec: Any) -> None:  # statuses interleaved, some unset
        rng = random.Random(3)
        for entry in sec["dynamic_endpoint_configs"]:
            cla = entry["endpoint_config"]
            for group in cla.get("endpoints", []):
                for lb in group.get("lb_endpoints", []):
                    status = rng.choice(statuses)
                    if status is None:
                        lb.pop("health_status", None)
                    else:
                        lb["health_status"] = status
            if rng.random() < 0.3:  # more hosts: more than three of a status
                cla.setdefault("endpoints", [{"lb_endpoints": []}])
                for i in range(8):
                    address = {"socket_address": {"address": f"10.9.{i}.1", "port_value": 80}}
                    lb = {
                        "endpoint": {"address": address},
                        "health_status": rng.choice(statuses[1:3]),
                    }
                    cla["endpoints"][-1].setdefault("lb_endpoints", []).append(lb)

    def all_bad(doc: Any, sec: Any) -> None:  # PD202: every host unusable
        for entry in sec["dynamic_endpoint_configs"][::3]:
            for group in entry["endpoint_config"].get("endpoints", []):
                for lb in group.get("lb_endpoints", []):
                    lb["health_status"] = "UNHEALTHY"

    def empty(doc: Any, sec: Any) -> None:  # PD203: assignments without endpoints
        emptied = []
        for entry in sec["dynamic_endpoint_configs"][::4]:
            if entry["endpoint_config"].pop("endpoints", None):
                emptied.append(entry["endpoint_config"]["cluster_name"])
        # one of them also named by the last route config: the first one names it
        (rds,) = [c for c in doc["configs"] if c["@type"].endswith(".RoutesConfigDump")]
        vh = rds["dynamic_route_configs"][-1]["route_config"]["virtual_hosts"][0]
        first = [c for c in emptied if "|80|" in c][0]  # named by the first one, "80"
        vh["routes"].append({"match": {"prefix": "/x"}, "route": {"cluster": first}})

    def nameless(doc: Any, sec: Any) -> None:  # attributed from the clusters: no facts
        sec["dynamic_endpoint_configs"][0]["endpoint_config"].pop("cluster_name")

    def repeated(doc: Any, sec: Any) -> None:  # a name twice: the first one counts
        listed = sec["dynamic_endpoint_configs"]
        full = [e for e in listed if e["endpoint_config"].get("endpoints")]

        def marked(entry: Any, status: str) -> Any:
            entry = json.loads(json.dumps(entry))
            for group in entry["endpoint_config"]["endpoints"]:
                for lb in group.get("lb_endpoints", []):
                    lb["health_status"] = status
            return entry

        listed.insert(0, marked(full[0], "DEGRADED"))  # before the one it repeats
        sec.setdefault("static_endpoint_configs", []).append(marked(full[1], "UNHEALTHY"))

    def pipes(doc: Any, sec: Any) -> None:  # addresses that are no socket address
        for entry in sec["dynamic_endpoint_configs"][::2]:
            for group in entry["endpoint_config"].get("endpoints", []):
                for lb in group.get("lb_endpoints", []):
                    lb["endpoint"] = {"address": {"pipe": {"path": "/tmp/\x1b[31m.sock"}}}
                    lb["health_status"] = "UNHEALTHY"

    def only_eds(doc: Any, sec: Any) -> None:  # no clusters section: one set per assignment
        configs = doc["configs"]
        doc["configs"] = [c for c in configs if not c["@type"].endswith("ClustersConfigDump")]
        mixed(doc, sec)

    def unknown_member(doc: Any, sec: Any) -> None:  # the strict decode refuses: field by field
        sec["dynamic_future_endpoint_configs"] = []
        mixed(doc, sec)

    def routes_of(doc: Any) -> Any:
        (sec,) = [c for c in doc["configs"] if c["@type"].endswith(".RoutesConfigDump")]
        return sec

    def unknown_cluster(doc: Any, sec: Any) -> None:  # PD301 (the routes read here)
        vh = routes_of(doc)["dynamic_route_configs"][0]["route_config"]["virtual_hosts"][0]
        vh["routes"][0]["route"]["cluster"] = "outbound|80||gone.ns.svc.cluster.local"

    def duplicate_domain(doc: Any, sec: Any) -> None:  # PD302
        vhs = routes_of(doc)["dynamic_route_configs"][1]["route_config"]["virtual_hosts"]
        vhs[-1]["domains"].append(vhs[0]["domains"][0].upper())
        vhs[0]["domains"].append(vhs[0]["domains"][1])

    def warming(doc: Any, sec: Any) -> None:  # PD102: waits for an RDS config, or not
        (lds,) = [c for c in doc["configs"] if c["@type"].endswith("ListenersConfigDump")]
        for entry in lds["dynamic_listeners"][2:4]:
            entry["warming_state"] = entry.pop("active_state")
        text = json.dumps(lds["dynamic_listeners"][2]).replace(
            '"route_config_name": "', '"route_config_name": "never-sent-'
        )
        lds["dynamic_listeners"][2] = json.loads(text)

    def damaged_routes(doc: Any, sec: Any) -> None:  # a route config skipped, with a warning
        routes_of(doc)["dynamic_route_configs"][1]["route_config"]["virtual_hosts"] = 5
        sec["dynamic_endpoint_configs"][3]["endpoint_config"]["endpoints"] = 7  # and an EDS one

    def inline_ca(doc: Any, sec: Any) -> None:  # PD501/PD502: a CA held in a match
        import datetime as dt

        from tests.harness.pki import make_ca

        now = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
        pem = make_ca("mesh-root", now - dt.timedelta(days=400), now - dt.timedelta(days=1))
        (cds,) = [c for c in doc["configs"] if c["@type"].endswith("ClustersConfigDump")]
        held = [
            e for e in cds["dynamic_active_clusters"] if "transport_socket_matches" in e["cluster"]
        ]
        tls = held[-1]["cluster"]["transport_socket_matches"][0]["transport_socket"]
        tls["typed_config"]["common_tls_context"]["validation_context"] = {
            "trusted_ca": {"inline_string": pem.decode()}
        }

    def entry_members(doc: Any, sec: Any) -> None:  # said at the report's end
        (lds,) = [c for c in doc["configs"] if c["@type"].endswith("ListenersConfigDump")]
        lds["dynamic_listeners"][3]["future_state"] = {"listener": {}}
        lds["dynamic_listeners"][5]["future_state"] = {}
        rds = routes_of(doc)
        rds["dynamic_route_configs"][1]["x_note"] = "n"
        rds["static_route_configs"][0]["xNote"] = 1

    for name, change in [
        ("entry-members", entry_members),
        ("inline-ca", inline_ca),
        ("unknown-cluster", unknown_cluster),
        ("duplicate-domain", duplicate_domain),
        ("warming", warming),
        ("damaged-routes", damaged_routes),
        ("mixed", mixed),
        ("all-bad", all_bad),
        ("empty", empty),
        ("nameless", nameless),
        ("repeated", repeated),
        ("pipes", pipes),
        ("only-eds", only_eds),
        ("unknown-member", unknown_member),
    ]:
        variant(name, change)
    assert eds["dynamic_endpoint_configs"], "the mesh has assignments"
    return out


FORK_INPUTS = {
    **INPUTS,
    **{
        p.relative_to(eh.FIXTURES).as_posix(): p.read_bytes()
        for p in sorted((eh.FIXTURES / "istioctl").rglob("*.json"))
        if b'"configs"' in p.read_bytes()[:4096]
    },
    **_shared_corpus(),
    **_eds_variants(),
}
FORK_INPUTS["gendump-40-mixed-camel"] = json.dumps(
    eh.camelize(json.loads(FORK_INPUTS["gendump-40-mixed"]))
).encode()

#: How many inputs had their hosts made of a child's facts (the differential compares).
ANSWERED: list[str] = []


def _checked(
    path: Path, args: list[str], jobs: str, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, str]:
    """``pdebug ARGS PATH`` with PDEBUG_JOBS=jobs; which facts of a child were read.

    The entries' members count whether the child read them or the parent read them
    while it waited for the child (perfcheck6: where that says nothing).
    """
    from pdebug.checks.context import Context

    real = Context._child_facts
    used: set[str] = set()

    def spy(self: Context, part: int) -> Any:
        got = real(self, part)
        if got is not None and part in (0, 1):
            used.add(("eds", "routes")[part])
        return got

    real_members = Context.entry_members

    def members(self: Context) -> Any:
        got = real_members(self)
        if got is not None:
            used.add("members")
        return got

    real_lack = Context.matches_lack

    def lack(self: Context, mark: bytes) -> bool:
        got = real_lack(self, mark)
        if got:  # "files": PD501's certificate files (the lead, twelfth session)
            used.add("inline" if mark == b"inline" else "files")
        return got

    with monkeypatch.context() as m:
        m.setenv("PDEBUG_JOBS", jobs)
        m.setattr(parallel, "_threads_alive", lambda: False)
        m.setattr(Context, "_child_facts", spy)
        m.setattr(Context, "matches_lack", lack)
        m.setattr(Context, "entry_members", members)
        got = pdebug(*args[:1], path, *args[1:])
    return got, ",".join(sorted(used))


@pytest.mark.parametrize("name", sorted(FORK_INPUTS))
def test_check_forked_prints_what_one_process_prints(
    name: str, tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS[name])
    for args in (["check"], ["check", "-o", "json"], ["check", "--ignore", "PD202,PD403"]):
        one, _ = _checked(path, args, "1", pdebug, monkeypatch)
        forked, used = _checked(path, args, "2", pdebug, monkeypatch)
        assert (forked.code, forked.out, forked.err) == (one.code, one.out, one.err), args
        if used:
            ANSWERED.append(name)


def test_the_forked_differential_compares_something(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facts answer on Envoy's layout, and not where they cannot stand for the section."""
    answered = {}
    for name in ("real/sidecar", "gendump-40", "gendump-40-camel", "gendump-40-mixed",
                 "gendump-40-repeated", "gendump-40-only-eds", "gendump-40-nameless",
                 "gendump-40-unknown-member", "gendump-40-unknown-cluster",
                 "gendump-40-warming", "gendump-40-damaged-routes",
                 "gendump-40-inline-ca", "gendump-40-entry-members"):  # fmt: skip
        path = tmp_path / "dump.json"
        path.write_bytes(FORK_INPUTS[name])
        _, answered[name] = _checked(path, ["check"], "2", pdebug, monkeypatch)
    assert answered == {
        "real/sidecar": "eds,files,inline,members,routes",
        "gendump-40": "eds,files,inline,members,routes",
        "gendump-40-camel": "eds,files,inline,members,routes",
        "gendump-40-mixed": "eds,files,inline,members,routes",
        "gendump-40-repeated": "eds,files,inline,members,routes",
        "gendump-40-only-eds": "eds,members,routes",  # no clusters section
        # attributed from the clusters: the EDS section is read here
        "gendump-40-nameless": "files,inline,members,routes",
        # the strict decode refused the EDS section
        "gendump-40-unknown-member": "files,inline,members,routes",
        # PD301 then reads the routes here
        "gendump-40-unknown-cluster": "eds,files,inline,members,routes",
        "gendump-40-warming": "eds,files,inline,members,routes",
        # the EDS and routes decodes warned in the child: both read here
        "gendump-40-damaged-routes": "files,inline,members",
        "gendump-40-inline-ca": "eds,files,members,routes",  # the matches searched here
        "gendump-40-entry-members": "eds,files,inline,members,routes",
    }


def _loaded(body: bytes) -> Any:
    from pdebug.model import ProxyData

    dump = load(body, "x").dump
    assert dump is not None
    return ProxyData("x", dump)


@pytest.mark.parametrize(
    "name", [n for n in sorted(FORK_INPUTS) if b"EndpointsConfigDump" in FORK_INPUTS[n]]
)
def test_host_sets_of_facts_answer_as_decoded_ones(name: str) -> None:
    """Every HostSet answer, from the facts (here, without a child) or the decoded section."""
    from pdebug.model.clusters import by_name
    from pdebug.model.hosts import eds_facts, host_sets

    try:
        facts = eds_facts(_loaded(FORK_INPUTS[name]).dump)
    except PdebugError:  # not a dump check reads (egctl's bundle of several)
        return
    if facts is None:
        unread = ("gendump-40-nameless", "gendump-40-unknown-member", "gendump-40-damaged-routes")
        assert name in unread or not name.startswith("gendump")
        return
    decoded_proxy, facts_proxy = _loaded(FORK_INPUTS[name]), _loaded(FORK_INPUTS[name])
    decoded = host_sets(decoded_proxy, by_name(decoded_proxy.dump))
    made = host_sets(facts_proxy, by_name(facts_proxy.dump), facts[1])
    assert list(made) == list(decoded)
    states = [frozenset({"UNHEALTHY", "TIMEOUT"}), frozenset({"DRAINING", "DEGRADED"})]
    for key, hs in made.items():
        want = decoded[key]
        assert (hs.cluster, hs.listed, hs.live) == (want.cluster, want.listed, want.live)
        assert (hs.count, hs.eds_statuses, hs.any_usable()) == (
            want.count,
            want.eds_statuses,
            want.any_usable(),
        )
        assert hs.eds == want.eds
        assert hs.levels == want.levels
        for pick in states:
            picked = [i for i, e in enumerate(want.eds) if e in pick][:3]
            assert hs.addresses_at(picked) == [want.addresses[i] for i in picked]
        assert hs._cla is None or hs._facts is None, "the facts answered without the section"
    for key, hs in made.items():  # what only the section knows: read from it on demand
        assert hs.addresses == decoded[key].addresses
        assert hs.hosts == decoded[key].hosts
        assert hs == decoded[key]


def test_a_child_that_fails_leaves_the_work_to_the_parent(
    tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The EDS facts raising, or saying something, in the child: the same output as one
    process (the parent reads the EDS section itself, the child's other answers count)."""
    import os

    from pdebug.model import hosts

    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS["gendump-40-mixed"])
    one, _ = _checked(path, ["check"], "1", pdebug, monkeypatch)
    me = os.getpid()
    real = hosts.eds_facts

    def raising(dump: Any) -> Any:
        if os.getpid() != me:
            raise ValueError("in the child")
        return real(dump)

    def saying(dump: Any) -> Any:
        print("pdebug: warning: in the child", file=sys.stderr)
        return real(dump)

    for broken in (raising, saying):
        with monkeypatch.context() as m:
            m.setattr(hosts, "eds_facts", broken)
            before = parallel.FORKS[0]
            got, used = _checked(path, ["check"], "2", pdebug, monkeypatch)
            assert parallel.FORKS[0] == before + 1
        assert used == "files,inline,members,routes", "the child's other answers still count"
        assert (got.code, got.out, got.err) == (one.code, one.out, one.err)


def _bench_sized(monkeypatch: pytest.MonkeyPatch, total: float) -> None:
    """The dump's sections weighed as if they held ``total`` bytes (their shares kept)."""
    from pdebug.model.dump import ConfigDump

    real = ConfigDump.section_bytes

    def scaled(self: ConfigDump, kind: str) -> int:
        sizes = {k: real(self, k) for k in ("listeners", "routes", "clusters", "endpoints")}
        return int(real(self, kind) * total / max(sum(sizes.values()), 1))

    monkeypatch.setattr(ConfigDump, "section_bytes", scaled)


@pytest.mark.parametrize(("total", "forks"), [(161.6e6, True), (32e6, False)])
def test_the_fork_happens_on_a_big_dump(
    total: float, forks: bool, tmp_path: Path, pdebug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PDEBUG_JOBS: the 5k-service bench dump's sections (161.6 MB) fork on two
    CPUs, the 1k-service one's (32 MB) do not (the fork would not pay)."""
    import os

    path = tmp_path / "dump.json"
    path.write_bytes(FORK_INPUTS["gendump-40"])
    monkeypatch.delenv("PDEBUG_JOBS", raising=False)
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    _bench_sized(monkeypatch, total)
    before = parallel.FORKS[0]
    got = pdebug("check", path)
    assert got.code in (0, 1), got.err
    assert parallel.FORKS[0] - before == (1 if forks else 0)


def test_interrupted_checks_leave_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in a check while the child reads: KeyboardInterrupt, and the child is reaped."""
    import os
    import signal

    from pdebug.checks import ALL_CHECKS, run_checks
    from pdebug.model import hosts

    monkeypatch.setenv("PDEBUG_JOBS", "2")
    monkeypatch.setattr(parallel, "_threads_alive", lambda: False)
    me = os.getpid()
    real = hosts.eds_facts

    def slow(dump: Any) -> Any:
        if os.getpid() != me:
            time.sleep(30)
        return real(dump)

    monkeypatch.setattr(hosts, "eds_facts", slow)

    def interrupted(ctx: Any, this: Any) -> Any:
        raise KeyboardInterrupt

    (first,) = [c for c in ALL_CHECKS if c.code == "PD101"]
    fields = {f: getattr(first, f) for f in first.__struct_fields__}
    fields["func"] = interrupted
    monkeypatch.setattr("pdebug.checks.ALL_CHECKS", (type(first)(**fields),))
    before = parallel.FORKS[0]
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        run_checks(_loaded(FORK_INPUTS["gendump-40"]), fork=True)
    assert parallel.FORKS[0] == before + 1
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left, none to reap
    assert signal.getsignal(signal.SIGTERM) == handler


_COUNTING = (
    "import atexit, sys\n"
    "from pdebug import parallel\n"
    "path = sys.argv[1]\n"
    "atexit.register(lambda: open(path, 'w').write(str(parallel.FORKS[0])))\n"
    "from pdebug.cli import main\n"
    "sys.argv = ['pdebug', *sys.argv[2:]]\n"
    "main()\n"
)


def test_the_bench_mesh_forks_check_on_its_own(tmp_path: Path) -> None:
    """A 3,000-service mesh of the benchmark's generator (~97 MB, its four sections weigh
    ~0.36 s against MIN_WORK's 0.3) forks with the job count pdebug picks on two CPUs,
    and prints the bytes PDEBUG_JOBS=1 prints."""
    import os
    import subprocess

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: check forks nothing by default")
    dump = eh.generated_dump(tmp_path / "mesh.json", 3000)
    forks = tmp_path / "forks"
    env = {**os.environ, "PYTHONPATH": str(eh.FIXTURES.parent)}
    got = []
    for jobs in (None, "1"):
        env.pop("PDEBUG_JOBS", None)
        if jobs is not None:
            env["PDEBUG_JOBS"] = jobs
        r = subprocess.run(
            [sys.executable, "-c", _COUNTING, str(forks), "check", "-o", "json", str(dump)],
            capture_output=True,
            env=env,
            timeout=300,
        )
        got.append((r.returncode, r.stdout, r.stderr, forks.read_text()))
    assert got[0][:3] == got[1][:3]
    assert got[0][0] == 1, got[0][2]  # the mesh's unhealthy endpoints are findings
    assert (got[0][3], got[1][3]) == ("1", "0"), "forked by default, not with 1"


@pytest.mark.parametrize(
    "name", [n for n in sorted(FORK_INPUTS) if n.startswith("gendump-40") or n.startswith("real/")]
)
def test_eds_facts_packed_for_the_pipe_read_back_as_made(name: str) -> None:
    """What the child writes (pack, marshal) reads back (unpack) as eds_facts made it."""
    import marshal

    from pdebug.model.hosts import eds_facts, pack, unpack

    facts = eds_facts(_loaded(FORK_INPUTS[name]).dump)
    packed = pack(facts)
    assert (packed is None) is (facts is None)
    if packed is not None:
        assert unpack(marshal.loads(marshal.dumps(packed))) == facts
